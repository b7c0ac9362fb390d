"""The export page: pick a format and filters, see how many rows match, download (JSONL/CSV stream)
or start a Parquet export job and download its file when it is ready. Admins and reviewers only;
everyone else gets 404 like an outsider.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from config.errors import ApplicationError
from rubrics.models import RubricVersion

from .access import ROLES_STAFF, project_get_for_user
from .agreement import project_agreement
from .api.selectors import export_job_get, export_job_list
from .exports import (
    CONTENT_TYPES,
    FORMATS,
    PARAM_NAMES,
    STREAMED_FILE_FORMATS,
    ExportParams,
    export_column_names,
    export_count,
    export_filename,
    export_job_download_name,
    export_job_file,
    export_job_request,
    export_params_parse,
    export_stream,
)
from .models import ExportJob, Judgment

FORMAT_HELP = {
    "trl": ("TRL preference pairs", "Conversational prompt, chosen, rejected and margin: loads with datasets, "
                                    "trains with TRL's RewardTrainer and DPOTrainer as is."),
    "helpsteer2": ("HelpSteer2", "prompt, response_1, response_2, preference_strength (−3..3, negative: "
                                 "response 1 better) and the annotators' justification."),
    "rubric_scores": ("Rubric scores", "One row per response × criterion × judge: annotators, and reward-model "
                                       "judges when model scores are included."),
    "judgments": ("Judgments", "Every judgment with its provenance: annotator, rubric version, preference, "
                               "shown order, time spent, item agreement."),
}


def _raw_params(data) -> dict:
    raw = {name: data.get(name) for name in PARAM_NAMES if data.get(name) not in (None, "")}
    raw.setdefault("format", "trl")
    return raw


def _versions(project):
    used = Judgment.objects.filter(rubric_version=OuterRef("pk"), item__project=project)
    return (RubricVersion.objects.filter(Q(pk=project.rubric_version_id) | Q(Exists(used)))
            .select_related("rubric_set").order_by("rubric_set__name", "-number"))


def _page_url(project, **query) -> str:
    url = reverse("annotator:export", args=[project.id])
    return f"{url}?{urlencode(query)}" if query else url


def _count_context(request, project) -> dict:
    raw = _raw_params(request.GET)
    file_format = request.GET.get("as") if request.GET.get("as") in STREAMED_FILE_FORMATS else "jsonl"
    try:
        params = export_params_parse(raw, project=project)
    except ApplicationError as error:
        return {"project": project, "count_error": error, "raw": raw}
    query = urlencode({**params.as_query(), "as": file_format})
    return {
        "project": project, "params": params, "raw": raw, "file_format": file_format,
        "rows": export_count(project=project, params=params),
        "columns": export_column_names(params),
        "api_url": request.build_absolute_uri(reverse("api-export", args=[project.id])) + "?" + query,
        "command": _command(project, params, file_format),
    }


def _command(project, params: ExportParams, file_format: str) -> str:
    parts = [f"manage.py export {project.id} --format {params.export_format} --as {file_format}"]
    option = {"rubric_version": "--rubric-version", "min_judgments": "--min-judgments",
              "min_agreement": "--min-agreement", "tie_policy": "--tie-policy",
              "submitted_after": "--submitted-after"}
    for key, value in params.as_query().items():
        if key in option and not (key == "min_judgments" and value == "1") and not (key == "tie_policy"
                                                                                    and value == "drop"):
            parts.append(f"{option[key]} {value}")
    if params.include_model_scores:
        parts.append("--include-model-scores")
    parts.append(f"-o export.{file_format}")
    return " ".join(parts)


def _jobs_context(request, project) -> dict:
    return {"project": project, "jobs": export_job_list(project=project, limit=10)}


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    if request.method == "POST":
        params = export_params_parse(_raw_params(request.POST), project=project)
        export_job_request(project=project, user=request.user, params=params)
        if request.htmx:
            return render(request, "annotator/export.html#export-jobs", _jobs_context(request, project))
        return redirect(_page_url(project, **params.as_query()))

    partial = request.GET.get("partial")
    if partial == "count":
        return render(request, "annotator/export.html#export-count", _count_context(request, project))
    if partial == "agreement":
        version = request.GET.get("rubric_version")
        report = project_agreement(project=project, rubric_version_id=int(version) if version and
                                   version.isdigit() else None)
        return render(request, "annotator/export.html#export-agreement", {"project": project, "report": report})
    if partial == "job":
        job = _job(project, request.GET.get("job"))
        finished = job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED)
        # 286 tells htmx to stop polling: the job will not change any more.
        return render(request, "annotator/export.html#export-job", {"project": project, "job": job},
                      status=286 if finished else 200)

    raw = _raw_params(request.GET)
    context = {
        "project": project, "membership": project.membership, "raw": raw,
        "formats": [(f, *FORMAT_HELP[f]) for f in FORMATS], "versions": _versions(project),
        "file_format": request.GET.get("as") if request.GET.get("as") in STREAMED_FILE_FORMATS else "jsonl",
        **_jobs_context(request, project),
    }
    return render(request, "annotator/export.html", context)


def _job(project, job_id) -> ExportJob:
    if not str(job_id or "").isdigit():
        raise Http404("No such export job.")
    return export_job_get(project=project, job_id=int(job_id))


@login_required
@require_GET
def export_download(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    if "job" in request.GET:
        job = _job(project, request.GET["job"])
        job.project = project
        path = export_job_file(job=job)
        return FileResponse(path.open("rb"), as_attachment=True, filename=export_job_download_name(job=job),
                            content_type=CONTENT_TYPES[job.file_format])
    file_format = request.GET.get("as") or "jsonl"
    if file_format not in STREAMED_FILE_FORMATS:
        raise ApplicationError("Download streams jsonl or csv; Parquet files come from an export job.",
                               fields={"as": "must be jsonl or csv"})
    params = export_params_parse(_raw_params(request.GET), project=project)
    response = StreamingHttpResponse(export_stream(project=project, params=params, file_format=file_format),
                                     content_type=CONTENT_TYPES[file_format])
    name = export_filename(project=project, params=params, file_format=file_format)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
