"""POST /api/v1/projects/{id}/items/import: the same all-or-nothing import as the UI and the command.

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
from annotator.models import ProjectMembership
from annotator.services import items_import
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


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


class ItemImportApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "import"
    parser_classes = [MultiPartParser, JsonLinesParser, JsonlAliasParser]

    @extend_schema(
        operation_id="items_import",
        summary="Import items from a JSONL file (all or nothing)",
        description=(
            "Formats: native, trl, helpsteer2, rewardbench, rewardbench2, detected from the first line unless "
            "`file_format` names one. Re-importing the same external ids updates changed items and reports "
            "new/updated/unchanged. Project admins only. Limits: IMPORT_MAX_FILE_BYTES (413), "
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
        project = project_get_for_user(user=request.user, project_id=project_id)
        if project.membership.role != ProjectMembership.Role.ADMIN:
            raise PermissionDenied("Only project admins import items.")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        import_check_size(declared)
        if request.content_type.startswith("multipart/"):
            upload = ImportUploadSerializer(data=request.data)
            upload.is_valid(raise_exception=True)
            stream = upload.validated_data["file"]
            import_check_size(stream.size)
            file_format = upload.validated_data["file_format"]
            gold = upload.validated_data["gold"]
        else:
            stream = request.data.get("stream") if hasattr(request.data, "get") else None
            if stream is None:
                raise ApplicationError("Send the file as multipart `file` or as an application/x-ndjson body.",
                                       fields={"file": "required"})
            file_format = request.query_params.get("file_format", "auto")
            gold = _flag(request.query_params.get("gold", ""))
        report = items_import(project=project, stream=stream, file_format=file_format, gold=gold)
        return Response(ImportReportSerializer(report.as_dict()).data)
