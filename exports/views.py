"""The export page: pick a format and filters, see how many rows match, download (JSONL/CSV stream)
or start a Parquet export job and download its file when it is ready. Admins and reviewers only
(annotator/access.py: outsiders 404, other members 403).

The page and each fragment it loads have their own URL: the matching-rows count, the agreement
report and one job's row (polled until the job is finished).
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from annotator.access import ROLES_STAFF, project_get_for_user
from annotator.agreement import project_agreement
from config.errors import ApplicationError
from config.ids import parse_id

from .http import export_job_file_response, export_stream_response
from .jobs import export_job_request
from .models import ExportJob
from .params import FORMATS, STREAMED_FILE_FORMATS, ExportParams, export_params_parse
from .rows import export_column_names, export_count
from .selectors import export_job_get, export_job_list, export_rubric_versions

TEMPLATE = "exports/export.html"
FORMAT_HELP = {
    "trl": ("TRL preference pairs", "Conversational prompt, chosen, rejected and margin: loads with datasets, "
                                    "trains with TRL's RewardTrainer and DPOTrainer as is."),
    "helpsteer2": ("HelpSteer2", "prompt, response_1, response_2, preference_strength (−3..3, negative: "
                                 "response 1 better), the annotators' justification, and HelpSteer2's five "
                                 "attributes of items imported from it."),
    "rubric_scores": ("Rubric scores", "One row per response × criterion × judge: annotators, and reward-model "
                                       "judges when model scores are included."),
    "judgments": ("Judgments", "Every judgment with its provenance: annotator, rubric version, preference, "
                               "shown order, time spent, item agreement."),
}


# What the page's forms send besides the export parameters (export_params_parse refuses anything else).
PAGE_FIELDS = ("as", "csrfmiddlewaretoken")


def _raw_params(data) -> dict:
    """The parameters given (every non-empty name, so that a misspelt one is refused by name)."""
    raw = {name: data.get(name) for name in data if data.get(name) not in (None, "")}
    raw.setdefault("format", "trl")
    return raw


def _streamed_format(request) -> str:
    value = request.GET.get("as")
    return value if value in STREAMED_FILE_FORMATS else "jsonl"


def _command(project, params: ExportParams, file_format: str) -> str:
    """The same export as a `manage.py export` line (options as the command names them)."""
    parts = [f"manage.py export {project.id} --format {params.export_format} --as {file_format}"]
    defaults = {"format": params.export_format, "min_judgments": "1", "tie_policy": "drop"}
    for key, value in params.as_query().items():
        if defaults.get(key) != value and key != "include_model_scores":
            parts.append(f"--{key.replace('_', '-')} {value}")
    if params.include_model_scores:
        parts.append("--include-model-scores")
    parts.append(f"-o export.{file_format}")
    return " ".join(parts)


def _jobs_context(project) -> dict:
    return {"project": project, "jobs": export_job_list(project=project, limit=10)}


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    if request.method == "POST":
        params = export_params_parse(_raw_params(request.POST), project=project, also=PAGE_FIELDS)
        export_job_request(project=project, user=request.user, params=params)
        if request.htmx:
            return render(request, f"{TEMPLATE}#export-jobs", _jobs_context(project))
        url = reverse("exports:page", args=[project.id])
        return redirect(f"{url}?{urlencode(params.as_query())}")

    context = {
        "project": project, "membership": project.membership, "raw": _raw_params(request.GET),
        "formats": [(f, *FORMAT_HELP[f]) for f in FORMATS], "versions": export_rubric_versions(project=project),
        "file_format": _streamed_format(request), **_jobs_context(project),
    }
    return render(request, TEMPLATE, context)


@login_required
@require_GET
def export_count_fragment(request, project_id: int):
    """How many rows match, the columns, and the same export as a curl and a command line."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    raw = _raw_params(request.GET)
    file_format = _streamed_format(request)
    try:
        params = export_params_parse(raw, project=project, also=PAGE_FIELDS)
    except ApplicationError as error:
        # Shown inside the fragment (htmx swaps 2xx only): the error box says what is wrong.
        return render(request, f"{TEMPLATE}#export-count", {"project": project, "count_error": error, "raw": raw})
    query = urlencode({**params.as_query(), "as": file_format})
    context = {
        "project": project, "params": params, "raw": raw, "file_format": file_format,
        "rows": export_count(project=project, params=params),
        "columns": export_column_names(params),
        "api_url": request.build_absolute_uri(reverse("api-export", args=[project.id])) + "?" + query,
        "command": _command(project, params, file_format),
    }
    return render(request, f"{TEMPLATE}#export-count", context)


@login_required
@require_GET
def export_agreement_fragment(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    version = request.GET.get("rubric_version")
    report = project_agreement(project=project, rubric_version_id=parse_id(version))
    return render(request, f"{TEMPLATE}#export-agreement", {"project": project, "report": report})


@login_required
@require_GET
def export_job_fragment(request, project_id: int, job_id: int):
    """One job's row of the jobs table; 286 once it is finished, which stops htmx polling."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    job = export_job_get(project=project, job_id=job_id)
    finished = job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED)
    return render(request, f"{TEMPLATE}#export-job", {"project": project, "job": job},
                  status=286 if finished else 200)


@login_required
@require_GET
def export_download(request, project_id: int):
    """The export streamed (`?as=jsonl|csv` and the parameters), or a finished job's file (`?job=`)."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    if "job" in request.GET:
        job_id = request.GET["job"]
        job = export_job_get(project=project, job_id=parse_id(job_id) or 0)
        return export_job_file_response(job=job)
    file_format = request.GET.get("as") or "jsonl"
    params = export_params_parse(_raw_params(request.GET), project=project, also=PAGE_FIELDS)
    return export_stream_response(project=project, params=params, file_format=file_format)
