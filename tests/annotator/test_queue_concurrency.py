"""The queue under real concurrency on PostgreSQL: real threads, real transactions, SKIP LOCKED."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.db.models import Count

from annotator.models import Assignment, Item, Judgment
from annotator.services import assignment_next_for_user, judgment_submit
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import valid_input

ANNOTATORS, THREADS_PER_ANNOTATOR, OVERLAP, ITEMS = 10, 3, 3, 200


def _work(project, user, errors: list, submitted: Counter, barrier: threading.Barrier) -> None:
    """One browser tab: ask for the next item, submit it, until the queue is empty."""
    try:
        barrier.wait()
        while True:
            assignment = assignment_next_for_user(project=project, user=user)
            if assignment is None:
                return  # "queue empty": the only acceptable way out
            result = judgment_submit(assignment=assignment, data=valid_input(assignment, preference=1))
            submitted[(user.pk, result.created)] += 1
    except Exception as exc:  # noqa: BLE001 - every error is a failure of the test, collected for the report
        errors.append(f"{user.username}: {type(exc).__name__}: {exc}")
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_thirty_threads_as_ten_annotators_leave_exactly_overlap_judgments_per_item(rubric_version):
    assert connection.vendor == "postgresql"
    project = ProjectFactory(rubric_version=rubric_version, overlap=OVERLAP)
    for _ in range(ITEMS):
        ItemFactory(project=project)
    users = [UserFactory(username=f"racer{i}") for i in range(ANNOTATORS)]
    for user in users:
        MembershipFactory(project=project, user=user)

    errors: list[str] = []
    submitted: Counter = Counter()
    barrier = threading.Barrier(ANNOTATORS * THREADS_PER_ANNOTATOR)
    threads = [
        threading.Thread(target=_work, args=(project, user, errors, submitted, barrier))
        for user in users for _ in range(THREADS_PER_ANNOTATOR)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert errors == []

    per_item = dict(Judgment.objects.values_list("item_id").annotate(n=Count("id")))
    assert len(per_item) == ITEMS
    assert set(per_item.values()) == {OVERLAP}
    assert Judgment.objects.count() == ITEMS * OVERLAP
    # Nobody judged an item twice (also a database constraint: this checks nothing was lost to it).
    pairs = Judgment.objects.values("item_id", "annotator_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not pairs.exists()
    # The denormalised counters the queue reads are exact.
    assert set(Item.objects.filter(project=project).values_list("submitted_count", flat=True)) == {OVERLAP}
    assert not Item.objects.filter(project=project, is_open=True).exists()
    assert not Assignment.objects.filter(status=Assignment.Status.LEASED).exists()
    assert sum(n for (_, created), n in submitted.items() if created) == ITEMS * OVERLAP
