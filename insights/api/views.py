"""API v1 of Insights: the stored snapshot's status and tables (JSON or CSV), and a recomputation.

Every endpoint is for the project's admins and reviewers (ROLES_STAFF): outsiders get 404,
annotators 403. Nothing is computed in a request: tables come from the stored snapshot.
"""

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import ROLES_STAFF, project_get_for_user
from config.api_errors import ErrorSerializer
from config.errors import ApplicationError

from .. import selectors, services
from ..tables import TABLES, table_csv
from .serializers import InsightsOutputSerializer, SnapshotSerializer, TableOutputSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid parameters; `fields` names each one at fault."),
    401: OpenApiResponse(ErrorSerializer, description="No, an invalid, an expired or a revoked token."),
    403: OpenApiResponse(
        ErrorSerializer,
        description="A member whose role is annotator (Insights are for the project's admins and reviewers).",
    ),
    404: OpenApiResponse(ErrorSerializer, description="No such project, not yours, or no such table."),
}


def _project(request, project_id: int):
    return project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)


def _snapshot_data(snapshot) -> dict:
    return {f: getattr(snapshot, f) for f in SnapshotSerializer().fields}


class InsightsApi(APIView):
    @extend_schema(
        operation_id="insights_retrieve",
        tags=["insights"],
        summary="Insights of a project: the stored result's status and its tables",
        responses={200: InsightsOutputSerializer, **ERRORS},
    )
    def get(self, request, project_id: int):
        project = _project(request, project_id)
        snapshot = selectors.snapshot_get(project=project)
        tables = [
            {
                "table": t.slug,
                "section": t.section,
                "title": t.title,
                "description": t.description,
                "url": request.build_absolute_uri(reverse("api-insights-table", args=[project.pk, t.slug])),
            }
            for t in TABLES.values()
        ]
        return Response(InsightsOutputSerializer({**_snapshot_data(snapshot), "tables": tables}).data)


class InsightsRefreshApi(APIView):
    @extend_schema(
        operation_id="insights_refresh",
        tags=["insights"],
        request=None,
        summary="Compute the project's Insights again (in the background for large projects)",
        description="Idempotent while a computation is queued or running. Poll "
        "`GET …/insights/` until `status` is `done`; the previous result stays "
        "readable meanwhile.",
        responses={202: SnapshotSerializer, 200: SnapshotSerializer, **ERRORS},
    )
    def post(self, request, project_id: int):
        project = _project(request, project_id)
        snapshot = services.insights_refresh(project=project, user=request.user)
        code = status.HTTP_202_ACCEPTED if snapshot.in_progress else status.HTTP_200_OK
        return Response(SnapshotSerializer(_snapshot_data(snapshot)).data, status=code)


class InsightsTableApi(APIView):
    @extend_schema(
        operation_id="insights_table_retrieve",
        tags=["insights"],
        summary="One table of the stored Insights (the data behind one chart), as JSON or CSV",
        parameters=[
            OpenApiParameter(
                "table",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(TABLES),
                description="; ".join(f"`{t.slug}`: {t.title}" for t in TABLES.values()),
            ),
            OpenApiParameter("as", OpenApiTypes.STR, enum=["json", "csv"], description="json (default) or csv."),
        ],
        responses={
            (200, "application/json"): TableOutputSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row."),
            **ERRORS,
        },
    )
    def get(self, request, project_id: int, table: str):
        project = _project(request, project_id)
        as_ = request.query_params.get("as", "json")
        if as_ not in ("json", "csv"):
            raise ApplicationError("as: must be json or csv", fields={"as": "must be json or csv"})
        spec, rows, snapshot = selectors.insights_table(project=project, slug=table)
        if as_ == "csv":
            response = HttpResponse("".join(table_csv(spec, rows)), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-{spec.slug}.csv"'
            return response
        return Response(
            TableOutputSerializer(
                {
                    "table": spec.slug,
                    "title": spec.title,
                    "description": spec.description,
                    "columns": [{"key": k, "heading": h, "kind": kind} for k, h, kind in spec.columns],
                    "rows": [{k: row.get(k) for k in spec.keys} for row in rows],
                    "computed_at": snapshot.computed_at,
                }
            ).data
        )
