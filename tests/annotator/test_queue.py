"""The queue: next item, leases and their expiry, heartbeats, skips (single-threaded behaviour)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotator.models import Assignment, Item, Judgment, Project
from annotator.selectors import queue_state
from annotator.services import (
    assignment_heartbeat,
    assignment_next_for_user,
    assignment_skip,
    judgment_submit,
    project_update,
)
from config.errors import ConflictError
from tests.factories import ItemFactory
from tests.helpers import row, valid_input

Status = Assignment.Status


def _submit(assignment, **kw):
    return judgment_submit(assignment=assignment, data=valid_input(assignment, **kw))


@pytest.mark.django_db
def test_next_gives_the_oldest_open_item_first(project, annotator, make_items):
    items = make_items(3)
    a = assignment_next_for_user(project=project, user=annotator)
    assert a.item_id == items[0].id and a.status == Status.LEASED
    assert a.lease_expires_at > timezone.now() + timedelta(minutes=29)


@pytest.mark.django_db
def test_the_leased_item_is_read_whole_with_its_responses(project, annotator):
    item = ItemFactory(project=project, metadata={"source": ["a", 1]}, prompt=[{"role": "user", "content": "é"}],
                       responses=["one", "two"])
    a = assignment_next_for_user(project=project, user=annotator)
    stored = Item.objects.get(pk=item.pk)
    fields = [f.attname for f in Item._meta.concrete_fields]
    assert {f: getattr(a.item, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert not a.item._state.adding
    assert [(r.id, r.content) for r in a.item.responses.all()] == [(r.id, r.content) for r in stored.responses.all()]


@pytest.mark.django_db
def test_asking_again_returns_the_same_live_lease(project, annotator, make_items):
    make_items(3)
    first = assignment_next_for_user(project=project, user=annotator)
    again = assignment_next_for_user(project=project, user=annotator)
    assert again.pk == first.pk
    assert Assignment.objects.count() == 1


@pytest.mark.django_db
def test_never_an_item_i_already_judged_or_skipped(project, annotator, make_items):
    items = make_items(3)
    _submit(assignment_next_for_user(project=project, user=annotator))
    assignment_skip(assignment=assignment_next_for_user(project=project, user=annotator))
    third = assignment_next_for_user(project=project, user=annotator)
    assert third.item_id == items[2].id
    _submit(third)
    assert assignment_next_for_user(project=project, user=annotator) is None


@pytest.mark.django_db
def test_never_an_item_with_overlap_submitted_judgments(project, make_items, make_annotators):
    items = make_items(2)
    u1, u2, u3 = make_annotators(3)
    _submit(assignment_next_for_user(project=project, user=u1))
    _submit(assignment_next_for_user(project=project, user=u2))  # overlap 2: items[0] is complete
    items[0].refresh_from_db()
    assert items[0].submitted_count == 2 and not items[0].is_open
    assert assignment_next_for_user(project=project, user=u3).item_id == items[1].id


@pytest.mark.django_db
def test_never_an_item_with_overlap_live_leases(project, make_items, make_annotators):
    items = make_items(2)
    u1, u2, u3 = make_annotators(3)
    assert assignment_next_for_user(project=project, user=u1).item_id == items[0].id
    assert assignment_next_for_user(project=project, user=u2).item_id == items[0].id
    assert assignment_next_for_user(project=project, user=u3).item_id == items[1].id


@pytest.mark.django_db
def test_an_expired_lease_is_reclaimed_by_someone_else(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2, u3 = make_annotators(3)
    stale = assignment_next_for_user(project=project, user=u1)
    assignment_next_for_user(project=project, user=u2)
    assert assignment_next_for_user(project=project, user=u3) is None
    Assignment.objects.filter(pk=stale.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = assignment_next_for_user(project=project, user=u3)
    assert taken.item_id == item.id
    stale.refresh_from_db()
    assert stale.status == Status.EXPIRED


@pytest.mark.django_db
def test_a_late_submission_is_refused_when_the_slot_went_to_someone_else(project, make_items, make_annotators):
    make_items(1)
    u1, u2, u3 = make_annotators(3)
    stale = assignment_next_for_user(project=project, user=u1)
    assignment_next_for_user(project=project, user=u2)
    Assignment.objects.filter(pk=stale.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assignment_next_for_user(project=project, user=u3)
    stale.refresh_from_db()
    before = row(stale), row(stale.item)
    with pytest.raises(ConflictError, match="ran out"):
        _submit(stale)
    assert not Judgment.objects.filter(annotator=u1).exists()
    assert (row(stale), row(stale.item)) == before


@pytest.mark.django_db
def test_a_late_submission_is_accepted_while_the_item_still_has_room(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    Assignment.objects.filter(pk=a.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=5))
    a.refresh_from_db()
    result = _submit(a)
    assert result.created and result.judgment.annotator == annotator


@pytest.mark.django_db
def test_a_heartbeat_extends_the_lease(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    later = timezone.now() + timedelta(minutes=20)
    renewed = assignment_heartbeat(assignment=a, now=later)
    assert renewed.lease_expires_at >= later + timedelta(minutes=29)


@pytest.mark.django_db
def test_a_heartbeat_after_the_item_went_elsewhere_says_so(project, make_items, make_annotators):
    make_items(1)
    u1, u2, u3 = make_annotators(3)
    stale = assignment_next_for_user(project=project, user=u1)
    assignment_next_for_user(project=project, user=u2)
    Assignment.objects.filter(pk=stale.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assignment_next_for_user(project=project, user=u3)
    with pytest.raises(ConflictError) as exc:
        assignment_heartbeat(assignment=stale)
    assert exc.value.code == "expired"
    stale.refresh_from_db()
    assert stale.status == Status.EXPIRED and stale.lease_expires_at < timezone.now()  # not renewed


@pytest.mark.django_db
def test_the_lease_length_follows_the_project_setting(project, annotator, make_items):
    make_items(1)
    project_update(project=project, lease_minutes=5)
    a = assignment_next_for_user(project=project, user=annotator)
    assert a.lease_expires_at - a.leased_at == timedelta(minutes=5)


@pytest.mark.django_db
def test_skipping_frees_the_slot_and_is_idempotent(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2, u3 = make_annotators(3)
    a1 = assignment_next_for_user(project=project, user=u1)
    assignment_next_for_user(project=project, user=u2)
    assignment_skip(assignment=a1)
    assignment_skip(assignment=a1)
    assert assignment_next_for_user(project=project, user=u3).item_id == item.id
    before = row(a1)
    with pytest.raises(ConflictError, match="skipped"):
        _submit(a1)
    assert row(a1) == before and not Judgment.objects.exists()


@pytest.mark.django_db
def test_a_submitted_item_cannot_be_skipped(project, annotator, make_items):
    make_items(1)
    a = assignment_next_for_user(project=project, user=annotator)
    _submit(a)
    before = row(a), row(a.item)
    with pytest.raises(ConflictError):
        assignment_skip(assignment=a)
    assert (row(a), row(a.item)) == before and Judgment.objects.filter(assignment=a).exists()


@pytest.mark.django_db
def test_random_order_starts_at_a_random_pivot_and_wraps_around(project, annotator, make_items, monkeypatch):
    project_update(project=project, queue_order=Project.QueueOrder.RANDOM)
    items = make_items(3)
    for key, item in zip([100, 200, 300], items, strict=True):
        Item.objects.filter(pk=item.pk).update(queue_key=key)
    monkeypatch.setattr("annotator.services.queue.random_queue_key", lambda: 250)
    first = assignment_next_for_user(project=project, user=annotator)
    assert first.item_id == items[2].id
    _submit(first)
    assert assignment_next_for_user(project=project, user=annotator).item_id == items[0].id


@pytest.mark.django_db
def test_random_order_serves_every_item_once(project, annotator, make_items):
    project_update(project=project, queue_order=Project.QueueOrder.RANDOM)
    items = make_items(12)
    seen = []
    while (a := assignment_next_for_user(project=project, user=annotator)) is not None:
        seen.append(a.item_id)
        _submit(a)
    assert sorted(seen) == sorted(i.id for i in items)


@pytest.mark.django_db
def test_a_shown_order_is_recorded_and_randomised_per_assignment(project, make_items, make_annotators):
    make_items(30)
    (u1,) = make_annotators(1)
    orders = set()
    while (a := assignment_next_for_user(project=project, user=u1)) is not None:
        positions = dict(a.item.responses.values_list("id", "position"))
        assert sorted(a.shown_order) == sorted(positions)
        orders.add(tuple(positions[r] for r in a.shown_order))
        assignment_skip(assignment=a)
    assert orders == {(0, 1), (1, 0)}


@pytest.mark.django_db
def test_without_randomisation_the_shown_order_is_the_stored_order(project, annotator, make_items):
    project_update(project=project, randomize_order=False)
    make_items(5)
    while (a := assignment_next_for_user(project=project, user=annotator)) is not None:
        assert a.shown_order == list(a.item.responses.order_by("position").values_list("id", flat=True))
        assignment_skip(assignment=a)


@pytest.mark.django_db
def test_raising_the_overlap_reopens_complete_items(project, make_items, make_annotators):
    (item,) = make_items(1)
    u1, u2, u3 = make_annotators(3)
    for u in (u1, u2):
        _submit(assignment_next_for_user(project=project, user=u))
    assert assignment_next_for_user(project=project, user=u3) is None
    project_update(project=project, overlap=3)
    assert assignment_next_for_user(project=project, user=u3).item_id == item.id
    project_update(project=project, overlap=1)
    item.refresh_from_db()
    assert not item.is_open


@pytest.mark.django_db
def test_the_queue_state_tells_waiting_from_done(project, make_items, make_annotators):
    make_items(1)
    u1, u2, u3 = make_annotators(3)
    assignment_next_for_user(project=project, user=u1)
    assignment_next_for_user(project=project, user=u2)
    assert assignment_next_for_user(project=project, user=u3) is None
    state = queue_state(project=project, user=u3)
    assert state.waiting and state.leased_by_others == 1


@pytest.mark.django_db
def test_the_fallback_without_skip_locked_gives_the_same_answers(project, make_items, make_annotators, monkeypatch):
    """The SQLite path (no row locks) runs the same checks; here forced on PostgreSQL."""
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    monkeypatch.setattr(connection.features, "has_select_for_update", False)
    items = make_items(2)
    u1, u2, u3 = make_annotators(3)
    a1 = assignment_next_for_user(project=project, user=u1)
    a2 = assignment_next_for_user(project=project, user=u2)
    assert a1.item_id == a2.item_id == items[0].id
    assert assignment_next_for_user(project=project, user=u3).item_id == items[1].id
    _submit(a1)
    assert _submit(a1).created is False
    assert Judgment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("pivot", [None, ("queue_key__gte", 12345), ("queue_key__lt", 12345)])
def test_the_cached_pick_statement_is_the_one_the_orm_writes(project, annotator, pivot):
    from datetime import UTC, datetime

    from django.db import connection, transaction

    from annotator.services import queue

    if connection.vendor != "postgresql":
        pytest.skip("the statement is cached on PostgreSQL only")
    now = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    with transaction.atomic():
        cached = queue._pick_statement(project, annotator, now, [], pivot)
        cached_again = queue._pick_statement(project, annotator, now, [], pivot)
        orm = queue._with_responses(queue._candidate_query(project, annotator, now, [], pivot))[:1]
        orm = orm.query.sql_with_params()
    assert queue._PICK_SQL[pivot[0] if pivot else None] is not None
    assert cached == cached_again
    assert cached[0] == orm[0] and list(cached[1]) == list(orm[1])


@pytest.mark.django_db
@pytest.mark.parametrize("pivot", [None, ("queue_key__gte", 12345)])
def test_the_pick_probes_the_users_assignments_per_candidate_instead_of_merging_them_all(project, annotator, pivot,
                                                                                       make_items, make_annotators):
    """An anti-join (NOT EXISTS) read every assignment of every item before the first candidate: a
    cost that grew with the project's progress. Whatever the statistics say, the plan has none."""
    import json
    from datetime import UTC, datetime

    from django.db import transaction

    from annotator.services import queue

    if connection.vendor != "postgresql":
        pytest.skip("the pick statement is PostgreSQL's")
    items = make_items(30)
    others = make_annotators(2, prefix="other")
    for item in items[:20]:  # a project well under way: many assignments before the first candidate
        for user in others:
            Assignment.objects.create(item=item, annotator=user, status="submitted", shown_order=[],
                                      leased_at=timezone.now(), lease_expires_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotator_assignment")
    now = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)

    def nodes(plan):
        yield plan
        for child in plan.get("Plans", []):
            yield from nodes(child)

    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = queue._pick_statement(project, annotator, now, [], pivot)
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert not [n for n in nodes(plan[0]["Plan"]) if n.get("Join Type") in ("Anti", "Semi", "Right Anti")]


@pytest.mark.django_db(transaction=True)
def test_the_next_item_transaction_plans_for_its_values_and_nothing_else_does(project, annotator, make_items):
    """The pick's generic plan walked the annotator's history; custom plans for the whole connection
    re-planned every foreign-key check of an import. So: in the next-item transaction only."""
    from django.db import transaction

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    make_items(1)

    def mode():
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            return cursor.fetchone()[0]

    assert mode() == "auto"
    with transaction.atomic():
        assert assignment_next_for_user(project=project, user=annotator) is not None
        assert mode() == "force_custom_plan"
    assert mode() == "auto"  # committed: the next transaction plans as the connection does
