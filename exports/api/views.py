"""Export endpoints: streamed JSONL/CSV, Parquet through an export job, row counts, job status and files.

Admins and reviewers of the project only (annotator/access.py: outsiders 404, other members 403).
Starting an export is throttled (scope "export"); reading a job's status is not.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotator.access import ROLES_STAFF, project_get_for_user
from config.api_errors import error_responses
from config.errors import ApplicationError
from exports.http import export_job_file_response, export_stream_response
from exports.jobs import export_job_request
from exports.params import FILE_FORMATS, STREAMED_FILE_FORMATS, ExportParamsSerializer, export_params_parse
from exports.rows import export_count
from exports.selectors import export_job_get, export_job_list

from .serializers import ExportCountOutputSerializer, ExportJobOutputSerializer

AS_PARAMETER = OpenApiParameter(
    "as", OpenApiTypes.STR, enum=list(FILE_FORMATS), default="jsonl",
    description="jsonl and csv stream at once; parquet starts an export job and answers 202.",
)


class ExportParamNegotiation(DefaultContentNegotiation):
    """JSON for every answer. DRF would read `?format=` as a renderer override and answer 404 for
    `format=trl`; here `format` names the export format."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _file_format(request) -> str:
    value = request.query_params.get("as", "jsonl") or "jsonl"
    if value not in FILE_FORMATS:
        raise ApplicationError(f"as: must be one of {', '.join(FILE_FORMATS)}",
                               fields={"as": f"must be one of {', '.join(FILE_FORMATS)}"})
    return value


def _job_response(request, job, created: bool) -> Response:
    data = ExportJobOutputSerializer(job, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED if job.status != "done" else status.HTTP_200_OK,
                    headers={"Location": data["status_url"]} if created else None)


class ExportApi(APIView):
    content_negotiation_class = ExportParamNegotiation
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "export"

    @extend_schema(
        operation_id="export_retrieve",
        summary="Export labeled data: trl, helpsteer2, rubric_scores or judgments",
        description=(
            "`as=jsonl` (default) and `as=csv` stream the rows now, whatever the size. `as=parquet` "
            "queues an export job and answers 202 with it: poll `status_url`, then fetch `download_url`. "
            "The same request while an identical job is queued or running returns that job."
        ),
        parameters=[ExportParamsSerializer, AS_PARAMETER],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.BINARY, description="JSON Lines"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV with a header row"),
            (202, "application/json"): ExportJobOutputSerializer,
            **error_responses(400, 429),
        },
        tags=["export"],
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        file_format = _file_format(request)
        params = export_params_parse(request.query_params, project=project, also=("as",))
        if file_format not in STREAMED_FILE_FORMATS:
            job, created = export_job_request(project=project, user=request.user, params=params,
                                              file_format=file_format)
            return _job_response(request, job, created)
        return export_stream_response(project=project, params=params, file_format=file_format)


class ExportCountApi(APIView):
    content_negotiation_class = ExportParamNegotiation

    @extend_schema(operation_id="export_count", summary="How many rows an export with these parameters has",
                   parameters=[ExportParamsSerializer],
                   responses={200: ExportCountOutputSerializer, **error_responses(400)}, tags=["export"])
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        params = export_params_parse(request.query_params, project=project, also=("as",))
        return Response({"format": params.export_format, "rows": export_count(project=project, params=params)})


class ExportJobListApi(APIView):
    content_negotiation_class = ExportParamNegotiation
    throttle_scope = "export"

    def get_throttles(self):
        # Starting a job is throttled like an export; listing jobs is not.
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(operation_id="export_jobs_list", summary="The project's recent export jobs (50, newest first)",
                   responses={200: ExportJobOutputSerializer(many=True), **error_responses()}, tags=["export"])
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        jobs = export_job_list(project=project)
        return Response(ExportJobOutputSerializer(jobs, many=True, context={"request": request}).data)

    @extend_schema(operation_id="export_jobs_create", summary="Start a Parquet export job",
                   request=ExportParamsSerializer, tags=["export"],
                   responses={202: ExportJobOutputSerializer, 200: ExportJobOutputSerializer,
                              **error_responses(400, 429)})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        data = request.data if hasattr(request.data, "get") else {}
        params = export_params_parse(data, project=project)
        job, created = export_job_request(project=project, user=request.user, params=params)
        return _job_response(request, job, created)


class ExportJobDetailApi(APIView):
    @extend_schema(operation_id="export_jobs_retrieve", summary="An export job's status",
                   responses={200: ExportJobOutputSerializer, **error_responses()}, tags=["export"])
    def get(self, request, project_id: int, job_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        job = export_job_get(project=project, job_id=job_id)
        return Response(ExportJobOutputSerializer(job, context={"request": request}).data)


class ExportJobDownloadApi(APIView):
    @extend_schema(
        operation_id="export_jobs_download", summary="Download a finished export job's file",
        responses={(200, "application/vnd.apache.parquet"): OpenApiResponse(OpenApiTypes.BINARY),
                   **error_responses(409)},
        tags=["export"],
    )
    def get(self, request, project_id: int, job_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
        return export_job_file_response(job=export_job_get(project=project, job_id=job_id))
