"""Rubric API: one APIView per operation.

Reads: anyone who may read the set or version (site admins: all; others: published versions
pinned by their projects), else 404. Writes: site admins only; a reader who is not one gets 403.
Errors are JSON {"error", "message", "fields"?}; conflicts (409) add "changes" (what the other
user did) and "current_revision".
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotator.access import require_site_admin
from config.errors import ApplicationError
from config.ids import parse_id
from config.parsers import SafeJSONParser
from rubrics import selectors, services
from rubrics.formats import FORMS
from rubrics.history import event_as_dict
from rubrics.models import RubricVersion

from .serializers import (
    DiffSerializer,
    DraftCreateInputSerializer,
    DraftUpdateInputSerializer,
    EventSerializer,
    ImportInputSerializer,
    ImportResultSerializer,
    PublishInputSerializer,
    RubricSetCreateInputSerializer,
    RubricSetDetailSerializer,
    RubricSetListSerializer,
    RubricSetUpdateInputSerializer,
    VersionSerializer,
)

TAG = ["rubrics"]
ERROR = OpenApiResponse(description='{"error", "message", "fields"?}: fields maps the path of each bad field '
                                    "to a message.")
CONFLICT = OpenApiResponse(description='Conflict: {"error": "conflict", "message", "changes": [...], '
                                       '"current_revision"?}')


def _version(request, slug: str, number: int) -> RubricVersion:
    return selectors.rubric_version_get_by_number(user=request.user, slug=slug, number=number)


def _version_data(request, version: RubricVersion) -> dict:
    fresh = _version(request, version.rubric_set.slug, version.number)
    return VersionSerializer(fresh).data


class RubricSetListApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_sets_list", responses=RubricSetListSerializer(many=True))
    def get(self, request):
        sets = selectors.rubric_set_list_for_user(user=request.user)
        return Response(RubricSetListSerializer(sets, many=True).data)

    @extend_schema(tags=TAG, operation_id="rubric_sets_create", request=RubricSetCreateInputSerializer,
                   responses={201: VersionSerializer, 400: ERROR, 403: ERROR},
                   description="Create a rubric set and its first draft (v1), optionally with criteria.")
    def post(self, request):
        require_site_admin(request.user, "edit rubrics")
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        version = services.rubric_set_create(
            name=data.get("name", ""), slug=data.get("slug", "") or "", description=data.get("description", "") or "",
            notes=data.get("notes", "") or "", criteria=data.get("criteria") or [], actor=request.user,
        )
        return Response(_version_data(request, version), status=status.HTTP_201_CREATED)


class RubricSetDetailApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_sets_retrieve", responses={200: RubricSetDetailSerializer,
                                                                             404: ERROR})
    def get(self, request, slug: str):
        return Response(RubricSetDetailSerializer(selectors.rubric_set_get_for_user(user=request.user, slug=slug)).data)

    @extend_schema(tags=TAG, operation_id="rubric_sets_partial_update", request=RubricSetUpdateInputSerializer,
                   responses={200: RubricSetDetailSerializer, 400: ERROR, 403: ERROR, 404: ERROR})
    def patch(self, request, slug: str):
        rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
        require_site_admin(request.user, "edit rubrics")
        serializer = RubricSetUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.rubric_set_update(rubric_set=rubric_set, name=data.get("name", rubric_set.name),
                                   description=data.get("description", rubric_set.description), actor=request.user)
        return Response(RubricSetDetailSerializer(selectors.rubric_set_get_for_user(user=request.user, slug=slug)).data)


class RubricSetHistoryApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_sets_history",
                   responses={200: EventSerializer(many=True), 403: ERROR, 404: ERROR},
                   parameters=[OpenApiParameter("before", int, description="Events older than this id.")],
                   description="Who created, edited, published and archived what, newest first (100 a page).")
    def get(self, request, slug: str):
        rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
        require_site_admin(request.user, "edit rubrics")
        before = request.query_params.get("before")
        before_id = parse_id(before)
        if before and before_id is None:
            raise ApplicationError("before: must be an event id (a positive integer).", fields={"before": "an id"})
        events, next_before = selectors.rubric_event_page(rubric_set=rubric_set, before_id=before_id, limit=100)
        response = Response([event_as_dict(e) for e in events])
        if next_before:
            response["Link"] = f'<{request.path}?before={next_before}>; rel="next"'
        return response


class RubricVersionCreateApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_versions_create", request=DraftCreateInputSerializer,
                   responses={201: VersionSerializer, 403: ERROR, 404: ERROR, 409: CONFLICT},
                   description="A new draft, copied from a version (\"edit\" of a published version). One draft "
                               "per set at a time: 409 if one is open.")
    def post(self, request, slug: str):
        rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
        require_site_admin(request.user, "edit rubrics")
        serializer = DraftCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "from_version" in serializer.validated_data:
            number = serializer.validated_data["from_version"]
            base = _version(request, slug, number) if number is not None else None
        else:
            base = selectors.rubric_version_newest_frozen(rubric_set=rubric_set)
        version = services.rubric_draft_create(rubric_set=rubric_set, actor=request.user, from_version=base)
        return Response(_version_data(request, version), status=status.HTTP_201_CREATED)


class RubricVersionDetailApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_versions_retrieve", responses={200: VersionSerializer, 404: ERROR})
    def get(self, request, slug: str, number: int):
        return Response(VersionSerializer(_version(request, slug, number)).data)

    @extend_schema(tags=TAG, operation_id="rubric_versions_update", request=DraftUpdateInputSerializer,
                   responses={200: VersionSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: CONFLICT},
                   description="Replace a draft's notes and criteria. Carry the revision you read: if anyone "
                               "changed the draft since, nothing is saved and the answer (409) lists their changes.")
    def put(self, request, slug: str, number: int):
        version = _version(request, slug, number)
        require_site_admin(request.user, "edit rubrics")
        data = request.data if isinstance(request.data, dict) else {}
        revision = data.get("revision")
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise ApplicationError("revision: required, the draft revision you read.",
                                   fields={"revision": "must be an integer"})
        if "criteria" not in data:
            raise ApplicationError("criteria: required, the whole list in order.", fields={"criteria": "is required"})
        services.rubric_draft_replace(version=version, notes=data.get("notes", version.notes),
                                      criteria=data["criteria"], expected_revision=revision,
                                      actor=request.user)
        return Response(_version_data(request, version))

    @extend_schema(tags=TAG, operation_id="rubric_versions_destroy",
                   responses={204: None, 403: ERROR, 404: ERROR, 409: CONFLICT},
                   description="Discard a draft. Published versions cannot be deleted (409).")
    def delete(self, request, slug: str, number: int):
        version = _version(request, slug, number)
        require_site_admin(request.user, "edit rubrics")
        services.rubric_draft_discard(version=version, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RubricVersionPublishApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_versions_publish", request=PublishInputSerializer,
                   responses={200: VersionSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: CONFLICT},
                   description="Freeze a draft: its content hash is recorded and the database refuses any later "
                               "change.")
    def post(self, request, slug: str, number: int):
        version = _version(request, slug, number)
        require_site_admin(request.user, "edit rubrics")
        serializer = PublishInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.rubric_version_publish(version=version, actor=request.user,
                                        expected_revision=serializer.validated_data.get("revision"))
        return Response(_version_data(request, version))


class RubricVersionArchiveApi(APIView):
    archive = True

    @extend_schema(tags=TAG, request=None, responses={200: VersionSerializer, 403: ERROR, 404: ERROR, 409: CONFLICT})
    def post(self, request, slug: str, number: int):
        version = _version(request, slug, number)
        require_site_admin(request.user, "edit rubrics")
        service = services.rubric_version_archive if self.archive else services.rubric_version_unarchive
        service(version=version, actor=request.user)
        return Response(_version_data(request, version))


class RubricVersionUnarchiveApi(RubricVersionArchiveApi):
    archive = False


class RubricVersionExportApi(APIView):
    @extend_schema(
        tags=TAG, operation_id="rubric_versions_export",
        parameters=[
            OpenApiParameter("syntax", str, enum=["json", "yaml"], description="File syntax (default json)."),
            OpenApiParameter("form", str, enum=list(FORMS),
                             description="rubricate (default; lossless), healthbench or openrubrics (lossy)."),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "application/yaml"): OpenApiTypes.STR,
                   400: ERROR, 404: ERROR},
        description="The version as a document; importing a rubricate export gives the same content hash.",
    )
    def get(self, request, slug: str, number: int):
        export = selectors.rubric_version_export_file(
            version=_version(request, slug, number), syntax=request.query_params.get("syntax", "json"),
            form=request.query_params.get("form", "rubricate"))
        response = HttpResponse(export.text, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


class RubricVersionDiffApi(APIView):
    @extend_schema(tags=TAG, operation_id="rubric_versions_diff", responses={200: DiffSerializer, 404: ERROR},
                   description="Criteria added, removed and changed (field by field) from version `number` to "
                               "version `other`, lined up by key.")
    def get(self, request, slug: str, number: int, other: int):
        old, new = _version(request, slug, number), _version(request, slug, other)
        diff = selectors.rubric_version_diff(old=old, new=new)
        return Response({"old": old.number, "new": new.number, **diff.as_dict()})


class RubricImportApi(APIView):
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "import"

    @extend_schema(tags=TAG, operation_id="rubric_sets_import", request=ImportInputSerializer,
                   responses={201: ImportResultSerializer, 400: ERROR, 403: ERROR, 409: CONFLICT, 413: ERROR},
                   description="Import a rubric (Rubricate JSON/YAML, a HealthBench list, OpenRubrics) as a new set, "
                               "or as a new version of `rubric_set`. All or nothing: errors name the path of the bad "
                               "field.")
    def post(self, request):
        require_site_admin(request.user, "edit rubrics")
        data = request.data
        if not isinstance(data, dict):  # a JSON list or scalar (a multipart form is a QueryDict, a dict)
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        rubric_set = None
        slug = data.get("rubric_set") or ""
        if slug:
            rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
        meta = {k: data.get(k) for k in ("name", "slug", "description") if data.get(k)}
        options = {"form": data.get("form") or "auto", "actor": request.user, "rubric_set": rubric_set,
                   "set_meta": meta, "publish": _truthy(data.get("publish"))}
        if "file" in request.FILES:
            upload = request.FILES["file"]
            result = services.rubric_import_text(content=upload.read(), syntax=data.get("syntax") or "auto",
                                                 source=upload.name, **options)
        elif isinstance(data.get("content"), str):
            result = services.rubric_import_text(content=data["content"], syntax=data.get("syntax") or "auto",
                                                 source="api", **options)
        elif "document" in data:
            result = services.rubric_import(document=data["document"], source="api", **options)
        else:
            raise ApplicationError("Send the rubric as document (JSON), content (text) or file (upload).",
                                   fields={"document": "required"})
        return Response(ImportResultSerializer(result.as_dict()).data, status=status.HTTP_201_CREATED)


def _truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")
