"""The comparison page: lease the next item, submit, skip, undo, heartbeat.

Every action answers with the `workspace` partial when htmx asks (the next item swaps in without a
page load) and with a redirect or a full page otherwise, so the page works without JavaScript too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from config.errors import ApplicationError, NotFoundError
from config.outage import OUTAGE_ERRORS, RETRY_AFTER_SECONDS

from .access import project_get_for_user
from .forms import (
    PREFERENCE_LABELS,
    JudgmentState,
    criteria_grid,
    judgment_from_post,
    rank_rows,
    state_from_judgment,
)
from .models import Assignment
from .selectors import (
    FrozenRubricCache,
    annotation_progress,
    assignment_get_for_user,
    criteria_for_project,
    frozen_rubric_key,
    item_markup,
    last_undoable_submission,
    queue_state,
    responses_in_shown_order,
)
from .services import (
    UNDO_SECONDS,
    assignment_heartbeat,
    assignment_next_for_user,
    assignment_skip,
    judgment_submit,
    judgment_undo,
)
from .views import _scores_context

log = logging.getLogger(__name__)
PREFERENCE_KEYS = {-3: "1", -2: "2", -1: "3", 0: "4", 1: "5", 2: "6", 3: "7"}


@dataclass(slots=True)
class PreferenceOption:
    value: int
    key: str  # its shortcut
    label: str
    side: str  # "a", "tie", "b"
    checked: bool


def _preference_scale(responses, state: JudgmentState) -> list[PreferenceOption]:
    if len(responses) != 2:
        return []
    a, b = responses[0].label, responses[1].label
    return [
        PreferenceOption(value=v, key=PREFERENCE_KEYS[v], label=PREFERENCE_LABELS[v].format(a=a, b=b),
                         side="a" if v < 0 else "b" if v > 0 else "tie", checked=state.preference == v)
        for v in range(-3, 4)
    ]


# The rubric grid of an item not answered yet (no score chosen, no error) depends only on the frozen
# rubric version and the responses' letters: it is rendered once per process with stand-in response
# ids, and each item's ids are put in (issue 11: the grid was a tenth of a click's server CPU). A
# stand-in holds NUL characters, which no stored text can hold (PostgreSQL refuses them, and
# config/request_guard.py rejects them on the way in), so only the stand-ins are replaced.
_EMPTY_GRIDS = FrozenRubricCache()


def _empty_grid_html(project, criteria, responses) -> str | None:
    key = frozen_rubric_key(project)
    if key is None:
        return None
    key += tuple(r.label for r in responses)
    html = _EMPTY_GRIDS.get(key)
    if html is None:
        stand_ins = [SimpleNamespace(id=f"\x00{i}\x00", label=r.label) for i, r in enumerate(responses)]
        html = _EMPTY_GRIDS.put(key, render_to_string("annotator/_criteria.html",
                                                      {"grid": criteria_grid(criteria, stand_ins)}, using="jinja2"))
    for i, r in enumerate(responses):
        html = html.replace(f"\x00{i}\x00", str(r.id))
    return mark_safe(html)  # noqa: S308 - Jinja2 escaped the template's variables; ids are integers


def _workspace_context(request, project, assignment=None, state: JudgmentState | None = None,
                       errors: dict | None = None, error_message: str = "", notice: str = "",
                       submitted_at=None) -> dict:
    user = request.user
    context = {
        "project": project,
        "criteria": criteria_for_project(project=project),
        "progress": annotation_progress(project=project, user=user),
        "notice": notice,
        "lease_seconds": project.lease_minutes * 60,
    }
    # Right after a submission the undoable one is known: no query.
    last_at = submitted_at
    if last_at is None:
        last = last_undoable_submission(project=project, user=user)
        last_at = last.submitted_at if last is not None else None
    if last_at is not None:
        context["undo_until"] = int((last_at.timestamp() + UNDO_SECONDS) * 1000)
    if assignment is None:
        context["assignment"] = None
        context["queue"] = queue_state(project=project, user=user)
        return context
    state = state or JudgmentState()
    errors = errors or {}
    item = assignment.item
    responses = responses_in_shown_order(item=item, shown_order=assignment.shown_order)
    criteria = context["criteria"]
    # Each turn and response carries its HTML as `html` (stored after import, or rendered now).
    prompt = [dict(m) for m in item.prompt or []]
    prompt_htmls, response_htmls = item_markup(item=item, responses=responses)
    for m, html in zip(prompt, prompt_htmls, strict=True):
        m["html"] = mark_safe(html)  # noqa: S308 - sanitised by nh3 in config.markup
    for r, html in zip(responses, response_htmls, strict=True):
        r.html = mark_safe(html)  # noqa: S308 - sanitised by nh3 in config.markup
    earlier, last_turn = (prompt[:-1], prompt[-1:]) if prompt else ([], [])
    grid_html = _empty_grid_html(project, criteria, responses) if criteria and not state.scores and not errors else None
    context.update({
        "assignment": assignment,
        "item": item,
        "responses": responses,
        "system_turns": [m for m in earlier if m.get("role") in ("system", "developer")],
        "earlier_turns": [m for m in earlier if m.get("role") not in ("system", "developer")],
        "last_turn": last_turn,
        "earlier_open": sum(len(m.get("content", "")) for m in earlier) < 1500,
        "grid_html": grid_html,
        "grid": criteria_grid(criteria, responses, state, errors) if grid_html is None else [],
        "preference_scale": _preference_scale(responses, state),
        "ranks": rank_rows(responses, state.ranks) if len(responses) > 2 else [],
        "state": state,
        "errors": errors,
        "error_message": error_message,
        "show_models": not project.hide_model_identities,
        "submit_url": reverse("annotator:annotate_submit", args=[project.id, assignment.id]),
        "skip_url": reverse("annotator:annotate_skip", args=[project.id, assignment.id]),
        "heartbeat_url": reverse("annotator:annotate_heartbeat", args=[project.id, assignment.id]),
        **_scores_context(project, request.user, item, annotating=True),
    })
    return context


def _render(request, context: dict, status: int = 200):
    if request.htmx:  # the workspace alone: a Jinja2 template (config/jinja.py)
        return render(request, "annotator/workspace.html", context, using="jinja2")
    return render(request, "annotator/annotate.html", context, status=status)


def _next(request, project, notice: str = "", submitted_at=None):
    """The workspace with the user's next item (or the empty queue)."""
    if not request.htmx:
        return redirect("annotator:annotate", project_id=project.id)
    assignment = assignment_next_for_user(project=project, user=request.user)
    return _render(request, _workspace_context(request, project, assignment, notice=notice,
                                               submitted_at=submitted_at))


def _next_after_commit(request, project, notice: str, **next_kwargs):
    """`_next` after a submit or skip was committed. The answer must not contradict the database: if
    the next item cannot be loaded (the database restarted a moment ago), try once more on a fresh
    connection, then answer "Saved, next item unavailable" with a retry control, never an error."""
    for attempt in range(2):
        try:
            return _next(request, project, notice=notice, **next_kwargs)
        except OUTAGE_ERRORS as exc:
            log.warning("%s; loading the next item failed (attempt %d): %s", notice, attempt + 1, exc)
            if connection.in_atomic_block:
                break
            connection.close()  # drop the broken connection: the retry opens a new one
    response = render(request, "annotator/_saved_next_unavailable.html", {
        "project": project, "notice": notice, "retry_url": reverse("annotator:annotate", args=[project.id]),
    })
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@login_required
def annotate(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    assignment = assignment_next_for_user(project=project, user=request.user)
    return _render(request, _workspace_context(request, project, assignment))


@login_required
@require_POST
def annotate_submit(request, project_id: int, assignment_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    criteria = criteria_for_project(project=project)
    read: dict = {}

    def read_form(assignment, responses):
        # Called by the service once it has read the assignment and its item under the locks.
        read["assignment"] = assignment
        data, read["state"] = judgment_from_post(request.POST, assignment=assignment, responses=responses,
                                                 criteria=criteria)
        return data

    try:
        result = judgment_submit(assignment=Assignment(pk=assignment_id, annotator_id=request.user.pk),
                                 project=project, data=read_form, criteria=criteria)
    except NotFoundError:
        raise  # not the user's assignment in this project: 404
    except ApplicationError as exc:
        if exc.code in ("expired", "skipped"):
            return _next(request, project, notice=exc.message)
        context = _workspace_context(request, project, read["assignment"], state=read["state"], errors=exc.fields,
                                     error_message=exc.message)
        return _render(request, context, status=exc.status)
    if not result.created:
        return _next_after_commit(request, project, "Already saved: this item was submitted before, nothing changed.")
    # The counters were read with the project, before this submission (the triggers have counted it).
    project.judgment_count += 1
    project.membership.judged_count += 1
    return _next_after_commit(request, project, "Saved.", submitted_at=result.judgment.submitted_at)


@login_required
@require_POST
def annotate_skip(request, project_id: int, assignment_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    assignment = assignment_get_for_user(assignment_id=assignment_id, user=request.user, project=project)
    try:
        assignment_skip(assignment=assignment)
    except ApplicationError as exc:
        return _next(request, project, notice=exc.message)
    return _next_after_commit(request, project, "Skipped. It won't come back to you.")


@login_required
@require_POST
def annotate_undo(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = judgment_undo(project=project, user=request.user)
    except ApplicationError as exc:
        return _next(request, project, notice=exc.message)
    if not request.htmx:
        return redirect("annotator:annotate", project_id=project.id)
    assignment = result.assignment
    responses = responses_in_shown_order(item=assignment.item, shown_order=assignment.shown_order)
    state = state_from_judgment(result.previous, assignment=assignment, responses=responses)
    context = _workspace_context(request, project, assignment, state=state,
                                 notice="Undone. Change your answer and submit again.")
    return _render(request, context)


@login_required
@require_POST
def annotate_heartbeat(request, project_id: int, assignment_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    assignment = assignment_get_for_user(assignment_id=assignment_id, user=request.user, project=project)
    try:
        renewed = assignment_heartbeat(assignment=assignment)
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    remaining = int((renewed.lease_expires_at - timezone.now()).total_seconds())
    response = HttpResponse(status=204)
    response["X-Lease-Seconds"] = str(remaining)
    return response
