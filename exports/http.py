"""The export's HTTP answers, built once for the export page and the API: a streamed JSONL/CSV
download and a finished job's file. Both are attachments with a safe name, never cached."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone

from annotator.models import Project

from .jobs import export_job_file
from .models import ExportJob
from .params import ExportParams
from .rows import export_cursor
from .writers import export_stream

# The `submitted_after` to pass to the next incremental export (docs/api.md, "Increments").
CURSOR_HEADER = "X-Export-Cursor"

CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "parquet": "application/vnd.apache.parquet"}


def export_filename(*, project: Project, export_format: str, file_format: str, when: datetime | None = None) -> str:
    """A safe download name: project-<id>-<format>-<UTC time>.<ext> (ASCII letters, digits, - and .)."""
    when = (when or timezone.now()).astimezone(UTC)
    return f"project-{project.pk}-{export_format}-{when:%Y%m%dT%H%M%SZ}.{file_format}"


def _download(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_stream_response(*, project: Project, params: ExportParams, file_format: str) -> StreamingHttpResponse:
    """The export streamed as it is read (JSONL or CSV; anything else is an ApplicationError), with
    the cursor for the next increment in `X-Export-Cursor` (taken before the stream's snapshot)."""
    cursor = export_cursor()
    stream = export_stream(project=project, params=params, file_format=file_format)  # refuses parquet
    response = StreamingHttpResponse(stream, content_type=CONTENT_TYPES[file_format])
    response[CURSOR_HEADER] = cursor
    name = export_filename(project=project, export_format=params.export_format, file_format=file_format)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return _download(response)


def export_job_file_response(*, job: ExportJob) -> FileResponse:
    """A finished job's file (409 while it is not done, 404 when the file is gone)."""
    path = export_job_file(job=job)
    name = export_filename(project=job.project, export_format=job.export_format, file_format=job.file_format,
                           when=job.finished_at or job.created_at)
    return _download(FileResponse(path.open("rb"), as_attachment=True, filename=name,
                                  content_type=CONTENT_TYPES.get(job.file_format, "application/octet-stream")))
