"""Review: items whose judgments disagree, every annotator's judgment side by side, a final label.

Reviewers and admins only; annotators get 403, outsiders 404. Annotators never see other people's
judgments: these pages are the only place they are shown.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.errors import ApplicationError
from config.htmx import render_htmx

from .access import ROLES_STAFF, project_get_for_user
from .forms import (
    PREFERENCE_LABELS,
    label_from_post,
    preference_text,
    rank_rows,
    ranks_of,
    responses_numbered,
    shown_text,
)
from .selectors import (
    REVIEW_FILTERS,
    adjudication_get,
    criteria_for_project,
    gold_accuracy,
    gold_correct,
    item_counts,
    item_get_for_project,
    item_judgments,
    item_page,
    review_next_item_id,
)
from .services import adjudication_clear, adjudication_set, judgment_winner
from .views import _int_param, _scores_context

REASONS = {"winner": "Winner differs", "strength": "Strength spread ≥ 3", "criteria": "Criterion scores differ"}


@login_required
def review_list(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    current = request.GET.get("filter", "needs_review")
    if current not in REVIEW_FILTERS:
        current = "needs_review"
    page = item_page(project=project, where=REVIEW_FILTERS[current], after=_int_param(request, "after"),
                     before=_int_param(request, "before"))
    for item in page["items"]:
        item.reason_labels = [REASONS[r] for r in item.disagreement if r in REASONS]
    context = {
        "project": project, "page": page, "filter": current,
        "counts": item_counts(project=project, filters=REVIEW_FILTERS),
        "filters": [("needs_review", "Needs review"), ("disagreement", "All disagreements"),
                    ("adjudicated", "Adjudicated"), ("all", "All judged")],
        "gold_rows": gold_accuracy(project=project),
    }
    return render_htmx(request, "annotator/review_list.html", context, partial="review-table")


def _judgment_rows(item, responses, criteria, judgments):
    """Per annotator: verdict, gold match, rationale, and a criteria × responses score table."""
    labels = {r.id: f"Response {r.label}" for r in responses}
    pair = {"first": responses[0].label, "second": responses[1].label} if len(responses) == 2 else {}
    rows = []
    for j in judgments:
        scores = {(s.response_id, s.criterion_id): s.value for s in j.criterion_scores.all()}
        rows.append({
            "judgment": j,
            "verdict": preference_text(j.preference, j.both_bad, j.ranking, {**labels, **pair}),
            "winner": judgment_winner(preference=j.preference, both_bad=j.both_bad, ranking=j.ranking),
            "gold_ok": gold_correct(item=item, preference=j.preference, both_bad=j.both_bad, ranking=j.ranking)
            if item.is_gold else None,
            "shown": shown_text(j.assignment.shown_order, {r.id: r.label for r in responses}),
            "scores": [[scores.get((r.id, c.id)) for r in responses] for c in criteria],
        })
    # One table row per criterion: every annotator's score of every response; differences highlighted.
    score_rows = []
    for ci, c in enumerate(criteria):
        differs = any(
            len({row["scores"][ci][ri] for row in rows if row["scores"][ci][ri] is not None}) > 1
            for ri in range(len(responses))
        )
        values = [(ri, row["scores"][ci][ri]) for row in rows for ri in range(len(responses))]
        score_rows.append({"criterion": c, "differs": differs, "values": values})
    return rows, score_rows


@login_required
def review_item(request, project_id: int, item_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    item = item_get_for_project(project=project, item_id=item_id)
    responses = responses_numbered(item)
    error = None
    if request.method == "POST":
        label = label_from_post(request.POST, responses)
        try:
            adjudication_set(item=item, reviewer=request.user, preference=label.preference,
                             both_bad=label.both_bad, ranking=label.ranking, rationale=label.rationale)
        except ApplicationError as exc:
            error = exc
        else:
            messages.success(request, "Final label saved.")
            next_id = review_next_item_id(project=project, after=item.id) if request.POST.get("next") else None
            if next_id:
                return redirect("annotator:review_item", project_id=project.id, item_id=next_id)
            return redirect("annotator:review_item", project_id=project.id, item_id=item.id)
    criteria = criteria_for_project(project=project)
    judgments = item_judgments(item=item)
    rows, score_rows = _judgment_rows(item, responses, criteria, judgments)
    adjudication = adjudication_get(item=item)
    context = {
        "project": project, "item": item, "responses": responses, "criteria": criteria, "rows": rows,
        "score_rows": score_rows, "adjudication": adjudication, "error": error,
        "reasons": [REASONS[r] for r in item.disagreement if r in REASONS],
        "scale": [{"value": v, "label": PREFERENCE_LABELS[v].format(a="Response 1", b="Response 2"),
                   "checked": adjudication is not None and adjudication.preference == v} for v in range(-3, 4)]
        if len(responses) == 2 else [],
        "rank_rows": rank_rows(responses, ranks_of(adjudication.ranking if adjudication else []))
        if len(responses) > 2 else [],
        "next_id": review_next_item_id(project=project, after=item.id),
        **_scores_context(project, request.user, item, annotating=False),
    }
    return render(request, "annotator/review_item.html", context, status=error.status if error else 200)


@login_required
@require_POST
def review_clear(request, project_id: int, item_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    item = item_get_for_project(project=project, item_id=item_id)
    adjudication_clear(item=item)
    messages.success(request, "Final label removed.")
    return redirect("annotator:review_item", project_id=project.id, item_id=item.id)
