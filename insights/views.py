"""HTML pages of a project's Insights: an overview and one page per section, served from the stored
snapshot (no computation in a page view), the progress partial, and the two actions.

Charts are drawn by static/insights/insights.js from JSON the page embeds with `json_script`
(data, not code), so the pages work under a Content-Security-Policy without inline scripts or styles.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator.access import ROLES_STAFF, is_site_admin, project_get_for_user
from config.errors import ApplicationError
from config.htmx import render_htmx

from . import charts, selectors, services
from .tables import table_display, tables_of

# htmx stops polling on this status.
STOP_POLLING = 286
PAGES = {
    "agreement": "Agreement",
    "annotators": "Annotators",
    "scorers": "Model vs human",
    "rubric": "Rubric quality",
    "leaderboard": "Leaderboard",
}


def _project(request, project_id: int):
    return project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)


def _context(request, project, snapshot, page: str) -> dict:
    return {
        "project": project,
        "membership": project.membership,
        "snapshot": snapshot,
        "page": page,
        "pages": PAGES,
        "summary": snapshot.summary or {},
        "can_edit_rubrics": is_site_admin(request.user),
    }


@login_required
def overview(request, project_id: int):
    project = _project(request, project_id)
    snapshot = selectors.snapshot_get(project=project, sections=("agreement", "annotators", "scorers", "leaderboard"))
    context = _context(request, project, snapshot, "overview")
    context["headline"] = charts.headline(snapshot)
    return render(request, "insights/overview.html", context)


@login_required
def section(request, project_id: int, page: str):
    if page not in PAGES:
        raise Http404("No such Insights page.")
    project = _project(request, project_id)
    snapshot = selectors.snapshot_get(project=project, sections=(page,))
    data = getattr(snapshot, page) or {}
    context = _context(request, project, snapshot, page)
    tables = {
        t.slug: {
            "table": t,
            "rows": table_display(t, t.rows(data)),
            "csv": reverse("api-insights-table", args=[project.pk, t.slug]) + "?as=csv",
        }
        for t in tables_of(page)
    }
    figures, shown = [], set()
    for chart in charts.for_page(page, data):
        # A table that two charts share shows once, under the first.
        figures.append({"chart": chart, "table": None if chart["table"] in shown else tables.get(chart["table"])})
        shown.add(chart["table"])
    context.update(
        {
            "data": data,
            "figures": figures,
            "tables": tables,
            "other_tables": [t for slug, t in tables.items() if slug not in shown],
            "extra": charts.extras(page, data),
        }
    )
    return render(request, f"insights/{page}.html", context)


@login_required
def progress(request, project_id: int):
    """The status bar; polled by htmx every 2 s while a computation runs. When it ends, htmx is told
    to reload the page (HX-Refresh) so the new figures show, and to stop polling (286)."""
    project = _project(request, project_id)
    snapshot = selectors.snapshot_get(project=project)
    response = render(request, "insights/_status.html", {"project": project, "snapshot": snapshot, "polling": True})
    if not snapshot.in_progress:
        response.status_code = STOP_POLLING
        if request.GET.get("was") == "running":
            response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def refresh(request, project_id: int):
    project = _project(request, project_id)
    snapshot = services.insights_refresh(project=project, user=request.user)
    back = request.POST.get("next") or reverse("insights:overview", args=[project.pk])
    if not back.startswith(f"/projects/{project.pk}/insights/") or back.endswith("/progress/"):
        back = reverse("insights:overview", args=[project.pk])
    if getattr(request, "htmx", False):
        return render_htmx(
            request, "insights/_status.html", {"project": project, "snapshot": snapshot, "polling": True}
        )
    return redirect(back)


@login_required
@require_POST
def rubric_draft(request, project_id: int):
    """A new draft of the project's rubric with the suggested points (site administrators)."""
    project = _project(request, project_id)
    try:
        draft = services.rubric_draft_from_suggested_weights(project=project, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        draft_number = (exc.extra or {}).get("draft")
        if draft_number and project.rubric_version:
            return redirect("rubrics:version_detail", slug=project.rubric_version.rubric_set.slug, number=draft_number)
        return redirect("insights:section", project_id=project.pk, page="rubric")
    messages.success(request, f"Draft v{draft.number} created with the suggested points: review it, then publish.")
    return redirect("rubrics:version_detail", slug=draft.rubric_set.slug, number=draft.number)
