"""Where an annotator's oldest-first pick starts (`ProjectMembership.walked_to`, PostgreSQL).

An annotator ahead of the others leaves behind items they did that stay open for the others. The pick
used to step over all of them on every click; it now starts where the last walk stopped, and every
change that puts an item below that point back in the annotator's way lowers it (migration 0010)."""

import json

import pytest
from django.db import connection, transaction
from django.utils import timezone

from annotator.models import Item, ProjectMembership
from annotator.services import (
    assignment_next_for_user,
    assignment_skip,
    judgment_submit,
    judgment_undo,
    project_update,
    queue,
)
from tests.helpers import valid_input

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("walked_to is kept on PostgreSQL only")


def _walked_to(project, user) -> int:
    return ProjectMembership.objects.values_list("walked_to", flat=True).get(project=project, user=user)


def _next_and_submit(project, user):
    assignment = assignment_next_for_user(project=project, user=user)
    judgment_submit(assignment=assignment, data=valid_input(assignment))
    return assignment.item_id


def _done_by_me_probes(project, user, pivot) -> int:
    """How many items the pick asked "did this user do it?" before it found its candidate."""
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = queue._pick_statement(project, user, timezone.now(), [], pivot)
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    # The first subplan on the item scan is the "done by me" count, run once per item looked at.
    loops = [n["Actual Loops"] for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "annotator_assignment"]
    return max(loops)


def test_an_annotator_ahead_of_the_others_is_not_slowed_by_the_items_they_did(project, annotator, make_items):
    items = make_items(30)
    for item in items[:20]:  # overlap 2 and nobody else: all 20 stay open, waiting for a second judgment
        assert _next_and_submit(project, annotator) == item.id
    lease = assignment_next_for_user(project=project, user=annotator)
    assert lease.item_id == items[20].id
    assert _walked_to(project, annotator) == items[20].id
    assert Item.objects.filter(pk__in=[i.id for i in items[:20]], is_open=True).count() == 20
    # From walked_to: the candidate is the first item looked at. From the start: 20 probes first.
    assert _done_by_me_probes(project, annotator, ("pk__gte", items[20].id)) == 1
    assert _done_by_me_probes(project, annotator, None) == 21


def test_an_undone_judgment_puts_walked_to_back_to_its_item(project, annotator, make_items):
    items = make_items(4)
    _next_and_submit(project, annotator)
    _next_and_submit(project, annotator)
    assert assignment_next_for_user(project=project, user=annotator).item_id == items[2].id
    assert _walked_to(project, annotator) == items[2].id
    assert judgment_undo(project=project, user=annotator).assignment.item_id == items[1].id
    assert _walked_to(project, annotator) == items[1].id


def test_an_item_that_opens_again_below_walked_to_is_offered_oldest_first(project, make_items, make_annotators):
    items = make_items(5)
    u, v, w = make_annotators(3)
    _next_and_submit(project, u)
    _next_and_submit(project, v)  # items[0]: two judgments, closed
    assert not Item.objects.get(pk=items[0].id).is_open
    assert _next_and_submit(project, w) == items[1].id
    assert _next_and_submit(project, w) == items[2].id
    lease = assignment_next_for_user(project=project, user=w)
    assert lease.item_id == items[3].id and _walked_to(project, w) == items[3].id  # past the closed items[0]
    assignment_skip(assignment=lease)

    project_update(project=project, overlap=3)  # items[0] has room for one more: open again
    assert _walked_to(project, w) == items[0].id
    assert assignment_next_for_user(project=project, user=w).item_id == items[0].id


def test_an_item_added_below_walked_to_is_offered_oldest_first(project, annotator, make_items):
    items = make_items(5)
    gap = items[2].id
    items[2].delete()  # an id that a slower import reserved and has not written yet
    assert [_next_and_submit(project, annotator) for _ in range(3)] == [items[0].id, items[1].id, items[3].id]
    lease = assignment_next_for_user(project=project, user=annotator)
    assert lease.item_id == items[4].id and _walked_to(project, annotator) == items[4].id

    Item.objects.create(pk=gap, project=project, external_id="late", prompt=[{"role": "user", "content": "hi"}])
    assert _walked_to(project, annotator) == gap
    judgment_submit(assignment=lease, data=valid_input(lease))
    assert assignment_next_for_user(project=project, user=annotator).item_id == gap


def test_a_walked_to_past_an_undone_item_delays_it_and_never_hides_it(project, annotator, make_items):
    """What a race could leave (a walk that passed an item committed while it ran): the user gets the
    items above first, then the one below, never "nothing left" while it waits."""
    items = make_items(3)
    ProjectMembership.objects.filter(project=project, user=annotator).update(walked_to=items[2].id)
    assert [_next_and_submit(project, annotator) for _ in range(3)] == [items[2].id, items[0].id, items[1].id]
    assert assignment_next_for_user(project=project, user=annotator) is None


def test_saving_a_membership_does_not_put_back_a_walked_to_read_earlier(project, annotator, make_items):
    items = make_items(3)
    membership = ProjectMembership.objects.get(project=project, user=annotator)
    _next_and_submit(project, annotator)
    assignment_next_for_user(project=project, user=annotator)
    membership.role = ProjectMembership.Role.REVIEWER
    membership.save()
    assert _walked_to(project, annotator) == items[1].id
