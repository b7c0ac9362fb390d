"""Judgments: exactly once, validated against the pinned rubric, undo, disagreement, gold."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Assignment, CriterionJudgment, Item, Judgment
from annotator.selectors import gold_accuracy
from annotator.services import (
    adjudication_set,
    assignment_next_for_user,
    item_set_gold,
    judgment_submit,
    judgment_undo,
    preference_to_canonical,
    project_update,
)
from config.errors import ApplicationError, ConflictError
from tests.factories import ItemFactory, published_version
from tests.helpers import row, valid_input


def _lease_and_submit(project, user, **kw):
    a = assignment_next_for_user(project=project, user=user)
    return judgment_submit(assignment=a, data=valid_input(a, **kw)).judgment


@pytest.mark.django_db
def test_submitting_twice_leaves_one_judgment_and_the_first_answer(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    first = judgment_submit(assignment=a, data=valid_input(a, preference=-2))
    second = judgment_submit(assignment=a, data=valid_input(a, preference=3))
    assert first.created and not second.created
    assert second.judgment.pk == first.judgment.pk
    assert Judgment.objects.get().preference == -2
    item = Item.objects.get()
    assert item.submitted_count == 1


@pytest.mark.django_db
def test_a_judgment_records_the_pinned_rubric_version_at_submit_time(project, annotator, make_items):
    make_items(2)
    old = project.rubric_version
    j1 = _lease_and_submit(project, annotator)
    newer = published_version(criteria=2)
    project_update(project=project, rubric_version=newer)
    j2 = _lease_and_submit(project, annotator)
    assert j1.rubric_version == old and j2.rubric_version == newer
    assert CriterionJudgment.objects.filter(judgment=j2).count() == 2 * 2


@pytest.mark.django_db
def test_every_criterion_must_be_scored_for_every_response(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    data = valid_input(a)
    missing = next(iter(data.scores))
    del data.scores[missing]
    with pytest.raises(ApplicationError) as exc:
        judgment_submit(assignment=a, data=data)
    assert f"score-{missing[0]}-{missing[1]}" in exc.value.fields
    assert "required" in exc.value.message
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_scores_outside_the_criterion_scale_are_refused(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    data = valid_input(a)
    criteria = {c.scale: c for c in project.rubric_version.criteria.all()}
    response = a.item.responses.first()
    data.scores[(response.id, criteria["likert5"].id)] = 7
    data.scores[(response.id, criteria["binary"].id)] = 0.5
    data.scores[(response.id, criteria["points"].id)] = 1  # a -2 pitfall awards 0..-2
    with pytest.raises(ApplicationError) as exc:
        judgment_submit(assignment=a, data=data)
    messages = " ".join(exc.value.fields.values())
    assert "1 to 5" in messages and "yes or no" in messages and "between -2 and 0" in messages
    assert not Judgment.objects.exists() and not CriterionJudgment.objects.exists()


@pytest.mark.django_db
def test_a_pair_needs_a_preference_unless_both_are_bad(project, annotator, make_items):
    make_items(2)
    a = assignment_next_for_user(project=project, user=annotator)
    with pytest.raises(ApplicationError) as exc:
        judgment_submit(assignment=a, data=valid_input(a, preference=None))
    assert "preference" in exc.value.fields
    assert not Judgment.objects.exists() and Assignment.objects.get(pk=a.pk).status == Assignment.Status.LEASED
    result = judgment_submit(assignment=a, data=valid_input(a, preference=None, both_bad=True))
    assert result.judgment.both_bad and result.judgment.preference is None


@pytest.mark.django_db
def test_a_rationale_is_required_when_the_project_says_so(project, annotator, make_items):
    make_items(1)
    project_update(project=project, rationale_required=True)
    a = assignment_next_for_user(project=project, user=annotator)
    with pytest.raises(ApplicationError) as exc:
        judgment_submit(assignment=a, data=valid_input(a, rationale="  "))
    assert "rationale" in exc.value.fields
    assert not Judgment.objects.exists() and Item.objects.get().submitted_count == 0


@pytest.mark.django_db
def test_items_with_more_than_two_responses_are_ranked(project, annotator):
    ItemFactory(project=project, responses=["one", "two", "three"])
    a = assignment_next_for_user(project=project, user=annotator)
    ids = list(a.item.responses.order_by("position").values_list("id", flat=True))
    with pytest.raises(ApplicationError) as exc:
        judgment_submit(assignment=a, data=valid_input(a, ranking=ids[:2]))
    assert "ranking" in exc.value.fields
    assert not Judgment.objects.exists()
    judgment = judgment_submit(assignment=a, data=valid_input(a, ranking=[ids[2], ids[0], ids[1]])).judgment
    assert judgment.ranking == [ids[2], ids[0], ids[1]] and judgment.preference is None


@pytest.mark.django_db
def test_the_shown_a_b_order_maps_to_the_stored_order(project, annotator, make_items):
    (item,) = make_items(1)
    first, second = item.responses.order_by("position")
    responses = [first, second]
    assert preference_to_canonical(shown_order=[first.id, second.id], responses=responses, shown_preference=-3) == -3
    assert preference_to_canonical(shown_order=[second.id, first.id], responses=responses, shown_preference=-3) == 3
    assert preference_to_canonical(shown_order=[second.id, first.id], responses=responses, shown_preference=0) == 0


@pytest.mark.django_db
def test_time_spent_is_recorded_but_never_more_than_the_lease_has_lasted(project, annotator, make_items):
    make_items(2)
    a = assignment_next_for_user(project=project, user=annotator)
    j = judgment_submit(assignment=a, data=valid_input(a, time_spent_ms=4321)).judgment
    assert j.time_spent_ms == 4321
    a = assignment_next_for_user(project=project, user=annotator)
    j = judgment_submit(assignment=a, data=valid_input(a, time_spent_ms=10**9)).judgment
    assert j.time_spent_ms < 60_000


@pytest.mark.django_db
def test_undo_within_a_minute_gives_the_item_back_with_what_was_entered(project, annotator, make_items):
    make_items(2)
    a = assignment_next_for_user(project=project, user=annotator)
    judgment_submit(assignment=a, data=valid_input(a, preference=2, rationale="first try"))
    result = judgment_undo(project=project, user=annotator)
    assert result.assignment.pk == a.pk and result.assignment.status == Assignment.Status.LEASED
    assert result.previous.preference == 2 and result.previous.rationale == "first try"
    assert len(result.previous.scores) == 6
    assert not Judgment.objects.exists() and not CriterionJudgment.objects.exists()
    assert Item.objects.get(pk=a.item_id).submitted_count == 0
    assert assignment_next_for_user(project=project, user=annotator).pk == a.pk


@pytest.mark.django_db
def test_undo_after_a_minute_is_refused(project, annotator, make_items):
    make_items(1)
    judgment = _lease_and_submit(project, annotator)
    before = row(judgment.assignment), row(judgment.item)
    with pytest.raises(ConflictError, match="60 seconds"):
        judgment_undo(project=project, user=annotator, now=timezone.now() + timedelta(seconds=61))
    assert Judgment.objects.count() == 1
    assert (row(judgment.assignment), row(judgment.item)) == before


@pytest.mark.django_db
def test_undo_only_touches_my_own_submissions(project, annotator, reviewer, make_items):
    make_items(1)
    judgment = _lease_and_submit(project, annotator)
    before = row(judgment.assignment), row(judgment.item)
    with pytest.raises(ConflictError):
        judgment_undo(project=project, user=reviewer)
    assert Judgment.objects.count() == 1
    assert (row(judgment.assignment), row(judgment.item)) == before


@pytest.mark.django_db
def test_opposite_winners_are_a_disagreement(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2 = make_annotators(2)
    _lease_and_submit(project, u1, preference=-1)
    item.refresh_from_db()
    assert not item.has_disagreement
    _lease_and_submit(project, u2, preference=1)
    item.refresh_from_db()
    assert item.has_disagreement and item.disagreement == ["winner"]


@pytest.mark.django_db
def test_a_strength_spread_of_three_is_a_disagreement(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2 = make_annotators(2)
    _lease_and_submit(project, u1, preference=0)
    _lease_and_submit(project, u2, preference=3)
    item.refresh_from_db()
    assert "strength" in item.disagreement and "winner" in item.disagreement


@pytest.mark.django_db
def test_different_criterion_scores_are_a_disagreement(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2 = make_annotators(2)
    _lease_and_submit(project, u1, preference=-2)
    a = assignment_next_for_user(project=project, user=u2)
    data = valid_input(a, preference=-1)
    key = next(k for k in data.scores if data.scores[k] == 4)  # the likert criterion
    data.scores[key] = 2
    judgment_submit(assignment=a, data=data)
    item.refresh_from_db()
    assert item.disagreement == ["criteria"]


@pytest.mark.django_db
def test_agreeing_judgments_are_not_a_disagreement_and_undo_clears_one(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2 = make_annotators(2)
    _lease_and_submit(project, u1, preference=-1)
    _lease_and_submit(project, u2, preference=-3)
    item.refresh_from_db()
    assert not item.has_disagreement


@pytest.mark.django_db
def test_an_adjudication_is_stored_once_and_can_be_replaced(project, reviewer, make_items):
    (item,) = make_items(1)
    adjudication_set(item=item, reviewer=reviewer, preference=-2, rationale="A is correct")
    adjudication_set(item=item, reviewer=reviewer, preference=1)
    item.refresh_from_db()
    assert item.adjudication.preference == 1
    before = row(item.adjudication)
    with pytest.raises(ApplicationError):
        adjudication_set(item=item, reviewer=reviewer, preference=None)
    assert row(item.adjudication) == before


@pytest.mark.django_db
def test_gold_accuracy_counts_matching_sides_per_annotator(project, make_items, make_annotators):
    items = make_items(3)
    for item in items:
        item_set_gold(item=item, is_gold=True, preference=-2)
    good, bad = make_annotators(2)
    for _ in items:
        _lease_and_submit(project, good, preference=-1)
    for pref in (1, -3, 0):
        _lease_and_submit(project, bad, preference=pref)
    rows = {r["annotator"]: r for r in gold_accuracy(project=project)}
    assert rows[good.username]["correct"] == 3 and rows[good.username]["accuracy"] == 100
    assert rows[bad.username]["judged"] == 3 and rows[bad.username]["accuracy"] == 33


@pytest.mark.django_db
def test_gold_by_ranking_counts_the_top_choice(project, annotator):
    item = ItemFactory(project=project, responses=["one", "two", "three"])
    ids = list(item.responses.order_by("position").values_list("id", flat=True))
    item_set_gold(item=item, is_gold=True, ranking=[ids[1], ids[0], ids[2]])
    _lease_and_submit(project, annotator, ranking=[ids[1], ids[2], ids[0]])
    assert gold_accuracy(project=project)[0]["correct"] == 1
