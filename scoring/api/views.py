"""Scoring API: start a run, read its status, cancel or retry it, list model scores, read the
report against the human labels. One APIView per operation.

Access: runs, scores and reports of a project are for its admins and reviewers; starting,
cancelling and retrying for its admins. Anyone else gets 404, as for every project read.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.access import ROLES_ADMIN, ROLES_STAFF, project_get_for_user
from config.api_errors import error_responses
from config.errors import ApplicationError
from config.ids import parse_id
from config.pagination import KeysetPagination
from scoring import probes, reports, selectors, services
from scoring.models import Scorer

from .serializers import (
    AccuracySerializer,
    ModelScoreOutputSerializer,
    ModelScorePageSerializer,
    ProbeReportPageSerializer,
    ProbeRunOutputSerializer,
    ProbeStartInputSerializer,
    RubricScoreSerializer,
    RunOutputSerializer,
    RunStartInputSerializer,
    ScorerOutputSerializer,
)

TAG = ["scoring"]


def _run_data(run) -> dict:
    return RunOutputSerializer(run, context={"progress": {run.pk: selectors.run_progress(run=run)}}).data


class ScorerListApi(APIView):
    @extend_schema(tags=TAG, operation_id="scorers_list",
                   responses={200: ScorerOutputSerializer(many=True), **error_responses()},
                   description="Scorers (reward models, judges, baselines) managed by site admins.")
    def get(self, request):
        return Response(ScorerOutputSerializer(selectors.scorer_list(), many=True).data)


class ProjectRunListApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_runs_list", responses={200: RunOutputSerializer(many=True),
                                                                          **error_responses()})
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        runs = selectors.run_list_for_project(project=project)[:200]
        return Response(RunOutputSerializer(runs, many=True, context={"progress": {}}).data)

    @extend_schema(tags=TAG, operation_id="scoring_runs_start", request=RunStartInputSerializer,
                   responses={201: RunOutputSerializer, **error_responses(400, 409)},
                   description="Score the project's responses in the background (queue `gpu`). 409 when this "
                               "scorer already has an active run on the project.")
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
        data = RunStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scorer = Scorer.objects.filter(pk=data.validated_data["scorer"]).first()
        if scorer is None:
            raise ApplicationError("No such scorer.", fields={"scorer": "unknown id"})
        run = services.scoring_run_start(project=project, scorer=scorer, scope=data.validated_data["scope"],
                                         actor=request.user)
        return Response(_run_data(run), status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_runs_retrieve",
                   responses={200: RunOutputSerializer, **error_responses()},
                   description="Status, counters, throughput and ETA of a run.")
    def get(self, request, run_id: int):
        return Response(_run_data(selectors.run_get_for_user(user=request.user, run_id=run_id)))


class RunCancelApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_runs_cancel", request=None,
                   responses={200: RunOutputSerializer, **error_responses(409)})
    def post(self, request, run_id: int):
        run = selectors.run_get_for_user(user=request.user, run_id=run_id, roles=ROLES_ADMIN)
        run = services.scoring_run_cancel(run=run, actor=request.user)
        return Response(_run_data(selectors.run_get_for_user(user=request.user, run_id=run.pk)))


class RunRetryApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_runs_retry", request=None,
                   responses={200: RunOutputSerializer, **error_responses(400, 409)},
                   description="Re-run only the responses that failed (or never ran, after a cancel).")
    def post(self, request, run_id: int):
        run = selectors.run_get_for_user(user=request.user, run_id=run_id, roles=ROLES_ADMIN)
        services.scoring_run_retry(run=run, actor=request.user)
        return Response(_run_data(selectors.run_get_for_user(user=request.user, run_id=run.pk)))


class ModelScoreListApi(APIView):
    pagination_class = KeysetPagination

    @extend_schema(
        tags=TAG, operation_id="model_scores_list", responses={200: ModelScorePageSerializer, **error_responses(400)},
        parameters=[
            OpenApiParameter("scorer", int, description="Only this scorer's scores."),
            OpenApiParameter("run", int, description="Only scores written by this run."),
            OpenApiParameter("cursor", str, description="Opaque cursor from `next`."),
            OpenApiParameter("page_size", int, description="Up to 1000 (default 100)."),
        ],
        description="Every model score of the project's responses, keyset-paginated by id.",
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        filters = {}
        for name in ("scorer", "run"):
            value = request.query_params.get(name)
            if value not in (None, ""):
                filters[f"{name}_id"] = parse_id(value)
                if filters[f"{name}_id"] is None:
                    raise ApplicationError(f"{name} must be an id.", fields={name: "an integer"})
        qs = selectors.model_scores_for_project(project=project, **filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(ModelScoreOutputSerializer(page, many=True).data)


class ScoringReportApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_report",
                   responses={200: AccuracySerializer(many=True), **error_responses()},
                   description="Per scorer: RewardBench accuracy against the human majority (or, without human "
                               "judgments, the imported gold labels; the other reference in other_reference), per "
                               "subset and section, RewardBench 2 best-of-N, and the length-bias diagnostic.")
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        rows = [{"scorer": {"id": s.id, "name": s.name, "backend": s.backend}, **r.as_dict()}
                for s, r in reports.project_report(project=project)]
        return Response(AccuracySerializer(rows, many=True).data)


class ProbeReportApi(APIView):
    @extend_schema(tags=TAG, operation_id="scoring_probes_report",
                   responses={200: ProbeReportPageSerializer, **error_responses()},
                   description="Robustness probe (\"master key\" non-answers): per scorer, the false-positive rate "
                               "per probe and overall, from its latest finished probe run; and the runs going on.")
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        data = {"active": probes.probe_runs_active(project=project),
                "reports": [r.as_dict() for r in probes.probe_report(project=project)]}
        return Response(ProbeReportPageSerializer(data).data)

    @extend_schema(tags=TAG, operation_id="scoring_probes_start", request=ProbeStartInputSerializer,
                   responses={202: ProbeRunOutputSerializer, **error_responses(400, 409)},
                   description="Probe a scorer on a sample of the project's prompts (queue `gpu`). 409 while that "
                               "scorer is being probed here already.")
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
        data = ProbeStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scorer = Scorer.objects.filter(pk=data.validated_data["scorer"]).first()
        if scorer is None:
            raise ApplicationError("No such scorer.", fields={"scorer": "unknown id"})
        probe_run = probes.probe_run_start(project=project, scorer=scorer, actor=request.user,
                                           prompts=data.validated_data.get("prompts"))
        return Response(ProbeRunOutputSerializer(probe_run).data, status=status.HTTP_202_ACCEPTED)
class RubricReportApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_score_report",
                   responses={200: RubricScoreSerializer(many=True), **error_responses()},
                   description="HealthBench rubric scores per judge (the annotators together, each criteria scorer): "
                               "the clipped mean of per-response scores with its bootstrap error, per tag, and how "
                               "many were partial (unparsed criteria left out).")
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        return Response(RubricScoreSerializer(reports.rubric_report(project=project), many=True).data)
