"""POST /api/v1/projects/{id}/items/import and …/judgments/import: the same all-or-nothing imports as
the UI and the commands.

The file is sent either as multipart (`file`, plus `file_format` and `gold` fields) or as the raw
request body (`Content-Type: application/x-ndjson` or `application/jsonl`, options in the query
string). It is read line by line from the upload, never as one string, within the configured limits.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotator.access import project_get_for_user
from annotator.formats import FORMATS, import_check_size
from annotator.judgment_formats import JUDGMENT_FORMATS
from annotator.models import ProjectMembership
from annotator.services import items_import, judgments_import
from config.errors import ApplicationError

ERROR = OpenApiResponse(description='{"error", "message", "fields"?, "line"?, "field"?}: a bad line names its '
                                    "number and field; nothing from the file was stored.")


class JsonLinesParser(BaseParser):
    """The raw body as a stream: the import reads it line by line (nothing is buffered here)."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"stream": stream}


class JsonlAliasParser(JsonLinesParser):
    media_type = "application/jsonl"


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL, one item a line.")
    file_format = serializers.ChoiceField(choices=["auto", *FORMATS], default="auto", required=False)
    gold = serializers.BooleanField(default=False, required=False,
                                    help_text="Use the labels of labelled formats as gold answers.")


class ImportReportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(FORMATS), help_text="The format read (detected or named).")
    total = serializers.IntegerField(help_text="Items in the file.")
    created = serializers.IntegerField(help_text="New items.")
    updated = serializers.IntegerField(help_text="Existing ids whose content or gold label changed.")
    unchanged = serializers.IntegerField(help_text="Existing ids with identical content.")
    judgments = serializers.DictField(required=False, help_text="HelpSteer2 rows: their ratings, stored as "
                                      "judgments by imported/helpsteer2 (created, updated, unchanged).")


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _upload(request, project_id: int, upload_serializer):
    """The project (admins only), the file stream and the options, from multipart or a raw body."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    if project.membership.role != ProjectMembership.Role.ADMIN:
        raise PermissionDenied("Only project admins import.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    import_check_size(declared)
    if request.content_type.startswith("multipart/"):
        upload = upload_serializer(data=request.data)
        upload.is_valid(raise_exception=True)
        stream = upload.validated_data["file"]
        import_check_size(stream.size)
        return project, stream, upload.validated_data
    stream = request.data.get("stream") if hasattr(request.data, "get") else None
    if stream is None:
        raise ApplicationError("Send the file as multipart `file` or as an application/x-ndjson body.",
                               fields={"file": "required"})
    return project, stream, {"file_format": request.query_params.get("file_format", "auto"),
                             "gold": _flag(request.query_params.get("gold", ""))}


class ItemImportApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "import"
    parser_classes = [MultiPartParser, JsonLinesParser, JsonlAliasParser]

    @extend_schema(
        operation_id="items_import",
        summary="Import items from a JSONL file (all or nothing)",
        description=(
            "Formats: native, trl, helpsteer2, helpsteer2_attributes, rewardbench, rewardbench2, detected from the "
            "first line unless `file_format` names one. Re-importing the same external ids updates changed items "
            "and reports new/updated/unchanged. Project admins only. Limits: IMPORT_MAX_FILE_BYTES (413), "
            "IMPORT_MAX_LINE_BYTES (413), IMPORT_MAX_JSON_DEPTH (400)."
        ),
        request={"multipart/form-data": ImportUploadSerializer, "application/x-ndjson": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("file_format", str, enum=["auto", *FORMATS], required=False,
                             description="For a raw body: the format (default auto)."),
            OpenApiParameter("gold", bool, required=False, description="For a raw body: seed gold answers."),
        ],
        responses={200: ImportReportSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 413: ERROR, 429: ERROR},
    )
    def post(self, request, project_id: int):
        project, stream, options = _upload(request, project_id, ImportUploadSerializer)
        report = items_import(project=project, stream=stream, file_format=options["file_format"],
                              gold=options["gold"])
        return Response(ImportReportSerializer(report.as_dict()).data)


class JudgmentImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL, one judgment (or one HelpSteer2-Preference line) a line.")
    file_format = serializers.ChoiceField(choices=["auto", *JUDGMENT_FORMATS], default="auto", required=False)


class JudgmentImportReportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(JUDGMENT_FORMATS), help_text="The format read.")
    total = serializers.IntegerField(help_text="Judgments in the file.")
    created = serializers.IntegerField(help_text="New judgments.")
    updated = serializers.IntegerField(help_text="Judgments of the same item and annotator that changed.")
    unchanged = serializers.IntegerField(help_text="Judgments already there as they are.")
    annotators = serializers.ListField(child=serializers.CharField(),
                                       help_text="The accounts they are attributed to: imported/<name>.")


class JudgmentImportApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "import"
    parser_classes = [MultiPartParser, JsonLinesParser, JsonlAliasParser]

    @extend_schema(
        operation_id="judgments_import",
        summary="Import human judgments from a JSONL file (all or nothing)",
        description=(
            "Formats: `judgments` (the layout of the judgments export: item_id, annotator, preference, both_bad, "
            "ranking, rationale, scores, …) and `helpsteer2` (HelpSteer2-Preference lines with their individual "
            "preferences), detected from the first line unless `file_format` names one. Items must exist (import "
            "them first); annotators become accounts `imported/<name>` that cannot log in. Re-importing is "
            "idempotent. Project admins only."
        ),
        request={"multipart/form-data": JudgmentImportUploadSerializer,
                 "application/x-ndjson": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("file_format", str, enum=["auto", *JUDGMENT_FORMATS], required=False,
                                     description="For a raw body: the format (default auto).")],
        responses={200: JudgmentImportReportSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 413: ERROR,
                   429: ERROR},
        tags=["judgments"],
    )
    def post(self, request, project_id: int):
        project, stream, options = _upload(request, project_id, JudgmentImportUploadSerializer)
        report = judgments_import(project=project, stream=stream, file_format=options["file_format"])
        return Response(JudgmentImportReportSerializer(report.as_dict()).data)
