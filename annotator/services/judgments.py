"""Writes for judgments (submit, undo), the disagreement they leave, review and gold answers.

Judgments follow the queue's locking rule (services/queue.py): lock the item row first
(`item_lock`), then the assignment.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError
from rubrics.models import Criterion

from ..models import (
    Adjudication,
    Assignment,
    CriterionJudgment,
    Item,
    Judgment,
    Project,
    ProjectMembership,
    Response,
)
from .queue import assignment_lock_for_submit, assignment_renew_locked, item_lock, member_counters_lock

Status = Assignment.Status
Role = ProjectMembership.Role
UNDO_SECONDS = 60
LETTERS = string.ascii_uppercase


# --- Judgments -------------------------------------------------------------------------------


@dataclass
class JudgmentInput:
    """A judgment as submitted, in canonical terms (preference relative to stored positions)."""

    preference: int | None = None
    both_bad: bool = False
    ranking: list[int] = field(default_factory=list)
    # (response id, criterion id) → value
    scores: dict[tuple[int, int], float] = field(default_factory=dict)
    rationale: str = ""
    time_spent_ms: int = 0


# Reads a submitted form into a JudgmentInput, given the assignment and its item's responses.
FormReader = Callable[[Assignment, list[Response]], JudgmentInput]


@dataclass
class SubmitResult:
    judgment: Judgment
    created: bool


@dataclass
class UndoResult:
    assignment: Assignment
    previous: JudgmentInput


def preference_to_canonical(*, shown_order: list[int], responses: list[Response], shown_preference: int | None
                            ) -> int | None:
    """The UI's scale (negative = A, the first shown, better) → the stored one (negative = the response
    at position 0 better)."""
    if shown_preference is None:
        return None
    first_by_position = min(responses, key=lambda r: (r.position, r.id)).id
    return shown_preference if shown_order and shown_order[0] == first_by_position else -shown_preference


def preference_to_shown(*, shown_order: list[int], responses: list[Response], preference: int | None) -> int | None:
    """The inverse of preference_to_canonical (the mapping is its own inverse)."""
    return preference_to_canonical(shown_order=shown_order, responses=responses, shown_preference=preference)


def _scale_check(criterion, value: float) -> str | None:
    """None if `value` is valid on the criterion's scale, else what is wrong."""
    if criterion.scale == "binary":
        return None if value in (0, 1) else "must be yes or no"
    if criterion.scale == "likert5":
        return None if value in (1, 2, 3, 4, 5) else "must be 1 to 5"
    lo, hi = sorted((0.0, float(criterion.points)))
    return None if lo <= value <= hi else f"must be between {lo:g} and {hi:g} points"


def judgment_validate(*, project: Project, responses: list[Response], criteria: list, data: JudgmentInput,
                      labels: dict[int, str]) -> None:
    """Raise ApplicationError listing every problem (field → message), or return."""
    errors: dict[str, str] = {}
    ids = [r.id for r in responses]
    if len(responses) == 2:
        if data.ranking:
            errors["ranking"] = "only for items with more than two responses"
        if data.preference is None and not data.both_bad:
            errors["preference"] = "choose which response is better (or tie, or both bad)"
        elif data.preference is not None and not -3 <= data.preference <= 3:
            errors["preference"] = "must be from -3 to 3"
    else:
        if data.preference is not None:
            errors["preference"] = "items with more than two responses are ranked, not compared"
        if sorted(data.ranking) != sorted(ids) and not (data.both_bad and not data.ranking):
            errors["ranking"] = "rank every response exactly once (or mark them all bad)"
    criterion_ids = {c.id for c in criteria}
    for response_id, criterion_id in data.scores:
        if response_id not in ids or criterion_id not in criterion_ids:
            errors[f"score-{response_id}-{criterion_id}"] = "not a criterion of this item's rubric"
    for criterion in criteria:
        for response in responses:
            key = (response.id, criterion.id)
            label = f"{criterion.title} ({labels.get(response.id, response.id)})"
            if key not in data.scores or data.scores[key] is None:
                errors[f"score-{response.id}-{criterion.id}"] = f"{label}: required"
            else:
                problem = _scale_check(criterion, data.scores[key])
                if problem:
                    errors[f"score-{response.id}-{criterion.id}"] = f"{label}: {problem}"
    if project.rationale_required and not data.rationale.strip():
        errors["rationale"] = "a rationale is required in this project"
    if len(data.rationale) > 20000:
        errors["rationale"] = "at most 20,000 characters"
    if errors:
        first = next(iter(errors.values()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ApplicationError(f"{first}{more}", fields=errors)


def shown_labels(assignment: Assignment) -> dict[int, str]:
    """Response id → the letter the annotator saw it under."""
    return {rid: f"Response {LETTERS[i]}" for i, rid in enumerate(assignment.shown_order[:26])}


def judgment_submit(*, assignment: Assignment, data: JudgmentInput | FormReader, now: datetime | None = None,
                    responses: list[Response] | None = None, criteria: list | None = None,
                    project: Project | None = None) -> SubmitResult:
    """Store the annotator's judgment of their assigned item, exactly once.

    Idempotent: a second submission of the same assignment (double click, two tabs, a retried
    request) returns the stored judgment unchanged with created=False. A lease that ran out is
    accepted while the item still has room; if someone else took the slot, ConflictError.
    `data` is the judgment, or a function that reads it from a form once the assignment and the
    item's responses are read (under the locks, so the caller need not read them first).
    `criteria` (the item's, as the caller already read them) saves a query. With `project` (the
    caller checked the user's access to it), `assignment` may be only a reference, its id and
    annotator: it counts only if it is that annotator's assignment in the project (else
    NotFoundError), and is read under the locks.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            fresh = assignment_lock_for_submit(assignment_id=assignment.pk, user_id=assignment.annotator_id,
                                               project=project or assignment.item.project)
            if fresh is None:
                raise NotFoundError("No such assignment.")
            item = fresh.item
            if fresh.status == Status.SUBMITTED:
                return SubmitResult(Judgment.objects.get(assignment=fresh), False)
            if fresh.status == Status.SKIPPED:
                raise ConflictError("You skipped this item, so it can't be submitted.", code="skipped")
            if not assignment_renew_locked(assignment=fresh, item=item, now=now, extend=False):
                raise ConflictError("Your time on this item ran out and it went to someone else; "
                                    "your answer was not stored.", code="expired")
            project = item.project
            if responses is None:
                responses = list(item.responses.all())
            if criteria is None:
                criteria = list(Criterion.objects.filter(version_id=project.rubric_version_id)
                                .order_by("position", "id"))
            if callable(data):
                data = data(fresh, responses)
            judgment_validate(project=project, responses=responses, criteria=criteria, data=data,
                              labels=shown_labels(fresh))
            elapsed_ms = int((now - fresh.leased_at).total_seconds() * 1000) + 10_000
            judgment = Judgment(
                assignment=fresh, item=item, annotator_id=fresh.annotator_id,
                rubric_version_id=project.rubric_version_id,
                preference=data.preference, both_bad=data.both_bad, ranking=list(data.ranking),
                rationale=data.rationale.strip(), time_spent_ms=max(0, min(data.time_spent_ms, elapsed_ms, 2**31 - 1)),
                submitted_at=now, created_at=now, updated_at=now,
            )
            fresh.status, fresh.submitted_at = Status.SUBMITTED, now
            if connection.vendor == "postgresql":
                _submit_in_one_statement(judgment, fresh, item, data.scores, now)
            else:
                judgment.save(force_insert=True)
                CriterionJudgment.objects.bulk_create(
                    CriterionJudgment(judgment=judgment, response_id=rid, criterion_id=cid, value=float(value))
                    for (rid, cid), value in data.scores.items()
                )
                fresh.save(update_fields=["status", "submitted_at", "updated_at"])
                _item_count_changed(item, +1)
            return SubmitResult(judgment, True)
    except IntegrityError:
        # Only reachable if the locks above were bypassed; the unique keys still keep one judgment.
        existing = Judgment.objects.filter(assignment_id=assignment.pk).first()
        if existing is None:
            raise
        return SubmitResult(existing, False)


def _submit_in_one_statement(judgment: Judgment, assignment: Assignment, item: Item,
                             scores: dict[tuple[int, int], float], now: datetime) -> None:
    """PostgreSQL (the item row locked): the judgment, its criterion scores, the assignment's and the
    item's new state in one statement of data-modifying CTEs, instead of six round trips; one more
    read before it when the item has judgments already (the disagreement). Same rows and triggers
    as the ORM path below."""
    item.disagreement = _disagreement_with(item, judgment, scores) if item.submitted_count else []
    item.submitted_count += 1
    item.is_open = item.submitted_count < item.project.overlap
    item.has_disagreement, item.updated_at = bool(item.disagreement), now
    assignment.updated_at = now
    keys = list(scores)
    sql = """
        WITH j AS (
          INSERT INTO annotator_judgment (assignment_id, item_id, annotator_id, rubric_version_id, preference,
            both_bad, ranking, rationale, time_spent_ms, submitted_at, created_at, updated_at)
          VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s) RETURNING id
        ), c AS (
          INSERT INTO annotator_criterionjudgment (judgment_id, response_id, criterion_id, value)
          SELECT j.id, s.r, s.c, s.v FROM j, unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS s(r, c, v)
        ), a AS (
          UPDATE annotator_assignment SET status = %s, submitted_at = %s, updated_at = %s WHERE id = %s
        ), i AS (
          UPDATE annotator_item SET submitted_count = %s, is_open = %s, disagreement = %s::jsonb,
            has_disagreement = %s, updated_at = %s WHERE id = %s
        )
        SELECT id FROM j
    """
    params = [
        assignment.pk, item.pk, judgment.annotator_id, judgment.rubric_version_id, judgment.preference,
        judgment.both_bad, json.dumps(judgment.ranking), judgment.rationale, judgment.time_spent_ms, now, now, now,
        [r for r, _ in keys], [c for _, c in keys], [float(scores[k]) for k in keys],
        Status.SUBMITTED, now, now, assignment.pk,
        item.submitted_count, item.is_open, json.dumps(item.disagreement), item.has_disagreement, now, item.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        judgment.pk = cursor.fetchone()[0]
    judgment._state.adding = False


def _disagreement_with(item: Item, judgment: Judgment, scores: dict[tuple[int, int], float]) -> list[str]:
    """`item_disagreement` once `judgment` joins the item's stored judgments, in one read."""
    new = (judgment.preference, judgment.both_bad, judgment.ranking,
           [(response_id, criterion_id, float(value)) for (response_id, criterion_id), value in scores.items()])
    return _reasons([new, *_stored_judgments(item)])


# The item's stored judgments, each with its scores by a subquery on its id, not a join: with the
# scores' table not yet analyzed (a new database, a burst of submits between autovacuum's visits),
# PostgreSQL hashed the join over the whole table (~4 ms a submit at 37,000 scores, and growing);
# the subquery probes the (judgment, response, criterion) index whatever the statistics say. Written
# once: the ORM took 0.9 ms to build and compile it on every second submit, 0.1 ms to run it.
_STORED_JUDGMENTS_SQL = """
    SELECT j.preference, j.both_bad, j.ranking::text,
           (SELECT json_agg(json_build_array(c.response_id, c.criterion_id, c.value))
              FROM annotator_criterionjudgment c WHERE c.judgment_id = j.id)::text
      FROM annotator_judgment j WHERE j.item_id = %s"""


def _stored_judgments(item: Item) -> list[tuple]:
    """(preference, both_bad, ranking, [[response id, criterion id, value], …] or None) per stored
    judgment of the item (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(_STORED_JUDGMENTS_SQL, [item.pk])
        rows = cursor.fetchall()
    return [(preference, both_bad, json.loads(ranking), json.loads(scores) if scores else None)
            for preference, both_bad, ranking, scores in rows]


def _reasons(judgments: list[tuple]) -> list[str]:
    """`disagreement_reasons` of judgments as `_stored_judgments` gives them."""
    seen: dict[tuple[int, int], float] = {}
    criteria_differ = False
    for *_, scores in judgments:
        for response_id, criterion_id, value in scores or []:
            if seen.setdefault((response_id, criterion_id), value) != value:
                criteria_differ = True
    return disagreement_reasons([j[:3] for j in judgments], criteria_differ=criteria_differ)


def _item_count_changed(item: Item, delta: int) -> None:
    """Keep the denormalised counter, the open flag and the disagreement exact (item row locked)."""
    item.submitted_count = max(0, item.submitted_count + delta)
    item.is_open = item.submitted_count < item.project.overlap
    # One judgment (or none) cannot disagree with itself: skip the two queries.
    item.disagreement = item_disagreement(item=item) if item.submitted_count >= 2 else []
    item.has_disagreement = bool(item.disagreement)
    item.save(update_fields=["submitted_count", "is_open", "disagreement", "has_disagreement", "updated_at"])


def judgment_undo(*, project: Project, user: AbstractBaseUser, now: datetime | None = None) -> UndoResult:
    """Take back the user's last submission in the project if it is less than UNDO_SECONDS old: the
    judgment is deleted and the item is leased to them again, with what they entered returned."""
    now = now or timezone.now()
    last = (
        Judgment.objects.filter(annotator=user, item__project=project,
                                submitted_at__gt=now - timedelta(seconds=UNDO_SECONDS))
        .order_by("-submitted_at", "-id")
        .values_list("pk", "item_id")
        .first()
    )
    if last is None:
        raise ConflictError(f"Nothing to undo: a submission can be undone for {UNDO_SECONDS} seconds.",
                            code="nothing_to_undo")
    with transaction.atomic():
        item = item_lock(item_id=last[1])
        member_counters_lock(project_id=item.project_id, user_id=user.pk)
        judgment = Judgment.objects.select_for_update().filter(pk=last[0]).first()
        if judgment is None:
            raise ConflictError("That submission was already undone.", code="nothing_to_undo")
        if Adjudication.objects.filter(item=item).exists():
            raise ConflictError("A reviewer already adjudicated this item; it can't be undone.")
        previous = JudgmentInput(
            preference=judgment.preference, both_bad=judgment.both_bad, ranking=list(judgment.ranking),
            scores={(s.response_id, s.criterion_id): s.value for s in judgment.criterion_scores.all()},
            rationale=judgment.rationale, time_spent_ms=judgment.time_spent_ms,
        )
        assignment = Assignment.objects.select_for_update().get(pk=judgment.assignment_id)
        judgment.criterion_scores.all().delete()
        judgment.delete()
        assignment.status = Status.LEASED
        assignment.submitted_at = None
        assignment.lease_expires_at = now + timedelta(minutes=project.lease_minutes)
        # Time already spent counts again when it is resubmitted.
        assignment.leased_at = now - timedelta(milliseconds=previous.time_spent_ms)
        assignment.save(update_fields=["status", "submitted_at", "lease_expires_at", "leased_at", "updated_at"])
        _item_count_changed(item, -1)
        assignment.item = item
        return UndoResult(assignment, previous)


# --- Review ------------------------------------------------------------------------------------


def judgment_winner(*, preference: int | None, both_bad: bool, ranking: list) -> str:
    """A judgment's verdict as a category: both_bad, the top-ranked response, first, second or tie."""
    if both_bad:
        return "both_bad"
    if ranking:
        return f"response:{ranking[0]}"
    if preference is None:
        return "none"
    return "first" if preference < 0 else "second" if preference > 0 else "tie"


def item_disagreement(*, item: Item) -> list[str]:
    """Why the item's judgments disagree: "winner" (different verdicts), "strength" (preferences
    spread over 3 or more steps), "criteria" (a criterion scored differently for a response).
    Any database: the judgments, then their scores by the judgments' ids (never a join on the
    item, see `_stored_judgments`, the submit's one read on PostgreSQL)."""
    stored = list(Judgment.objects.filter(item=item).order_by().values_list("pk", "preference", "both_bad", "ranking"))
    if len(stored) < 2:
        return []
    scores: dict[int, list] = {pk: [] for pk, *_ in stored}
    for judgment_id, *score in (CriterionJudgment.objects.filter(judgment_id__in=list(scores)).order_by()
                                .values_list("judgment_id", "response_id", "criterion_id", "value")):
        scores[judgment_id].append(score)
    return _reasons([(*row, scores[pk]) for pk, *row in stored])


def disagreement_reasons(rows: list[tuple], *, criteria_differ: bool) -> list[str]:
    """The reasons of `item_disagreement` from the judgments' (preference, both_bad, ranking) and
    whether some response's criterion was scored differently."""
    if len(rows) < 2:
        return []
    reasons = []
    # Judgments without a verdict (ratings only, e.g. HelpSteer2's attributes) take no side.
    winners = {judgment_winner(preference=p, both_bad=b, ranking=r) for p, b, r in rows} - {"none"}
    if len(winners) > 1:
        reasons.append("winner")
    prefs = [p for p, _, _ in rows if p is not None]
    if prefs and max(prefs) - min(prefs) >= 3:
        reasons.append("strength")
    if criteria_differ:
        reasons.append("criteria")
    return reasons


def _validate_label(item: Item, preference: int | None, both_bad: bool, ranking: list[int], what: str) -> None:
    ids = list(item.responses.values_list("id", flat=True))
    if len(ids) == 2:
        if ranking:
            raise ApplicationError("A pair is compared, not ranked.", fields={"ranking": "only for 3+ responses"})
        if preference is None and not both_bad:
            raise ApplicationError(f"Choose the {what}: which response is better, a tie, or both bad.",
                                   fields={"preference": "required"})
        if preference is not None and not -3 <= preference <= 3:
            raise ApplicationError("The preference must be from -3 to 3.", fields={"preference": "-3..3"})
    else:
        if preference is not None:
            raise ApplicationError("Items with more than two responses are ranked.", fields={"preference": "ranked"})
        if sorted(ranking) != sorted(ids) and not (both_bad and not ranking):
            raise ApplicationError("Rank every response exactly once.", fields={"ranking": "incomplete"})


@transaction.atomic
def adjudication_set(*, item: Item, reviewer: AbstractBaseUser, preference: int | None, both_bad: bool = False,
                     ranking: list[int] | None = None, rationale: str = "") -> Adjudication:
    """Record (or replace) the final label of an item. Preference is canonical (by stored position)."""
    ranking = list(ranking or [])
    _validate_label(item, preference, both_bad, ranking, "final label")
    adjudication, _ = Adjudication.objects.update_or_create(
        item=item,
        defaults={"reviewer": reviewer, "preference": preference, "both_bad": both_bad, "ranking": ranking,
                  "rationale": rationale.strip()},
    )
    _label_changed(item)
    return adjudication


@transaction.atomic
def adjudication_clear(*, item: Item) -> None:
    if Adjudication.objects.filter(item=item).delete()[0]:
        _label_changed(item)


def _label_changed(item: Item) -> None:
    """Stamp the item: incremental exports find the items whose label may have changed by it."""
    Item.objects.filter(pk=item.pk).update(updated_at=timezone.now())


@transaction.atomic
def item_set_gold(*, item: Item, is_gold: bool, preference: int | None = None, both_bad: bool = False,
                  ranking: list[int] | None = None) -> Item:
    """Seed (or clear) the known answer of an item; annotators' accuracy on gold items is reported."""
    ranking = list(ranking or [])
    if is_gold:
        _validate_label(item, preference, both_bad, ranking, "gold answer")
    else:
        preference, both_bad, ranking = None, False, []
    Item.objects.filter(pk=item.pk).update(
        is_gold=is_gold, gold_preference=preference, gold_both_bad=both_bad, gold_ranking=ranking,
        updated_at=timezone.now(),
    )
    item.refresh_from_db(fields=["is_gold", "gold_preference", "gold_both_bad", "gold_ranking", "updated_at"])
    return item
