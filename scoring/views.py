"""HTML views of the scoring app: scorers, a project's runs and report, a run's live page.

Short functions: parse, check access through a `_get_…_for_user` helper (404 for outsiders), call
one service or selector, render. Services raise ApplicationError; forms show its field errors.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator.access import ROLES_ADMIN, ROLES_STAFF, project_get_for_user, require_site_admin
from annotator.models import ProjectMembership
from annotator.selectors import project_list_for_user
from config.errors import ApplicationError
from config.htmx import render_htmx
from config.ids import parse_id

from . import probes, reports, selectors, services
from .forms import ScorerForm, StartRunForm
from .units import score_units

Role = ProjectMembership.Role
# htmx stops polling on this status (the run has ended).
STOP_POLLING = 286


def _get_run_for_user(request, run_id: int, *, roles=ROLES_STAFF):
    return selectors.run_get_for_user(user=request.user, run_id=run_id, roles=roles)


@login_required
def index(request):
    """Scorers, and recent runs of the projects the user may see runs of."""
    projects = [p for p in project_list_for_user(user=request.user) if p.my_role in ROLES_STAFF]
    return render(request, "scoring/index.html", {
        "scorers": selectors.scorer_list(),
        "runs": selectors.run_list_for_user(user=request.user),
        "projects": projects,
    })


@login_required
def scorer_create(request):
    require_site_admin(request.user, "manage scorers")
    form = ScorerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            scorer = services.scorer_create(actor=request.user, **form.scorer_values())
        except ApplicationError as exc:
            form.add_service_errors(exc.fields or {"__all__": exc.message})
        else:
            messages.success(request, f"Scorer {scorer.name} created.")
            return redirect("scoring:index")
    return render(request, "scoring/scorer_form.html", {"form": form, "scorer": None},
                  status=400 if form.errors else 200)


@login_required
def scorer_edit(request, scorer_id: int):
    require_site_admin(request.user, "manage scorers")
    scorer = selectors.scorer_get(scorer_id=scorer_id)
    form = ScorerForm(request.POST or None, initial=ScorerForm.initial_for(scorer))
    if request.method == "POST" and form.is_valid():
        try:
            services.scorer_update(scorer=scorer, actor=request.user, **form.scorer_values())
        except ApplicationError as exc:
            form.add_service_errors(exc.fields or {"__all__": exc.message})
        else:
            messages.success(request, f"Scorer {scorer.name} saved.")
            return redirect("scoring:index")
    return render(request, "scoring/scorer_form.html", {"form": form, "scorer": scorer},
                  status=400 if form.errors else 200)


@login_required
def project_runs(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    can_start = project.membership.role == Role.ADMIN
    report_rows = reports.project_report(project=project)
    context = {
        "project": project,
        "membership": project.membership,
        "runs": selectors.run_list_for_project(project=project),
        "form": StartRunForm(scorers=selectors.scorer_list(active_only=True)) if can_start else None,
        "can_start": can_start,
        "report_rows": report_rows,
        "rubric_rows": reports.rubric_report(project=project),
        "disagreements": selectors.report_disagreements(project=project, report_rows=report_rows),
        **_probe_context(project),
    }
    return render(request, "scoring/project_runs.html", context)


def _probe_context(project) -> dict:
    return {"probe_reports": probes.probe_report(project=project),
            "probe_active": probes.probe_runs_active(project=project),
            "probe_set": probes.PROBES}


@login_required
def project_probes(request, project_id: int):
    """The robustness probe section (htmx polls it while a probe runs; 286 once none is running)."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    can_start = project.membership.role == Role.ADMIN
    context = {"project": project, "can_start": can_start,
               "form": StartRunForm(scorers=selectors.scorer_list(active_only=True)) if can_start else None,
               **_probe_context(project)}
    response = render_htmx(request, "scoring/project_runs.html", context, partial="probe-report")
    if getattr(request, "htmx", False) and not context["probe_active"]:
        response.status_code = STOP_POLLING
    return response


@login_required
@require_POST
def probe_start(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    scorer_id = parse_id(request.POST.get("scorer"))
    scorer = selectors.scorer_list(active_only=True).filter(pk=scorer_id).first() if scorer_id else None
    if scorer is None:
        messages.error(request, "Choose a scorer to probe.")
    else:
        try:
            probes.probe_run_start(project=project, scorer=scorer, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Probing {scorer.name} with {len(probes.PROBES)} non-answers.")
    return redirect(f"{reverse('scoring:project_runs', args=[project.pk])}#probes")


@login_required
@require_POST
def run_start(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    form = StartRunForm(request.POST, scorers=selectors.scorer_list(active_only=True))
    if form.is_valid():
        try:
            run = services.scoring_run_start(project=project, scorer=form.cleaned_data["scorer"],
                                             scope=form.cleaned_data["scope"], actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if selectors.run_waits_for_broker(run=run):
                messages.warning(request, "The run is saved, but the task queue cannot be reached right now: "
                                          "it starts by itself as soon as the queue is back.")
            return redirect("scoring:run_detail", run_id=run.pk)
    else:
        messages.error(request, "Choose a scorer and a scope.")
    return redirect("scoring:project_runs", project_id=project.pk)


def _run_context(run) -> dict:
    return {
        "run": run,
        "project": run.project,
        "membership": run.membership,
        "progress": selectors.run_progress(run=run),
        "errors": selectors.run_errors(run=run, limit=20),
        "can_manage": run.membership.role == Role.ADMIN,
        # The run's own snapshot of the scorer decides what its numbers are.
        "units": score_units(backend=(run.scorer_config or {}).get("backend", run.scorer.backend),
                             options=(run.scorer_config or {}).get("options", run.scorer.options)),
    }


@login_required
def run_detail(request, run_id: int):
    run = _get_run_for_user(request, run_id)
    context = _run_context(run)
    context["report"] = reports.scorer_report(project=run.project, scorer=run.scorer)
    config = run.scorer_config or {}
    shown = {"hf_sequence_classifier": ("model", "revision", "dtype", "max_length", "batch_token_budget",
                                        "trust_remote_code"),
             "openai_judge": ("model",)}.get(config.get("backend"), ())
    context["config_items"] = [("backend", config.get("backend"))] + [(k, config.get(k)) for k in shown]
    context["config_options"] = sorted((run.scorer_config or {}).get("options", {}).items())
    return render(request, "scoring/run_detail.html", context)


@login_required
def run_progress(request, run_id: int):
    """The live part of the run page; polled by htmx every 2 s until the run ends (then 286)."""
    run = _get_run_for_user(request, run_id)
    response = render(request, "scoring/run_detail.html#run-live", _run_context(run))
    if run.is_finished:
        response.status_code = STOP_POLLING
        # The rest of the page (the report against the human labels) reloads itself on this event.
        response["HX-Trigger"] = "scoring-run-finished"
    return response


@login_required
@require_POST
def run_cancel(request, run_id: int):
    run = _get_run_for_user(request, run_id, roles=ROLES_ADMIN)
    try:
        run = services.scoring_run_cancel(run=run, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Run cancelled. Scores written so far are kept.")
    return _after_action(request, run.pk)


@login_required
@require_POST
def run_retry(request, run_id: int):
    run = _get_run_for_user(request, run_id, roles=ROLES_ADMIN)
    was_active = not run.is_finished
    try:
        services.scoring_run_retry(run=run, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Sent its waiting batches to the workers again." if was_active
                         else "Retrying what did not get a score.")
    return _after_action(request, run.pk)


def _after_action(request, run_id: int):
    return redirect("scoring:run_detail", run_id=run_id)
