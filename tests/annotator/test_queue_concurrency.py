"""The queue under real concurrency on PostgreSQL: real threads, real transactions, SKIP LOCKED."""

import threading
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count
from django.utils import timezone

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


@pytest.mark.django_db(transaction=True)
def test_a_tab_that_waited_for_the_annotators_lock_sees_the_lease_another_tab_took_meanwhile(rubric_version):
    """Tab 1 holds the annotator's lock and takes a lease; tab 2 asks for the next item meanwhile and
    waits. Once tab 1 commits, tab 2 must get tab 1's lease, not a second one. (Read in the locking
    statement, the list of leases was as of before the wait: the user got two leases, and two such
    requests that each locked one leased item and waited for the other deadlocked in CI.)"""
    project = ProjectFactory(rubric_version=rubric_version, overlap=2)
    _first, second = ItemFactory(project=project), ItemFactory(project=project)
    user = UserFactory(username="twotabs")
    MembershipFactory(project=project, user=user)
    params = connection.get_connection_params()
    tab1 = psycopg.connect(**{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}})
    users = get_user_model()._meta.db_table
    tab1.execute(f"SELECT id FROM {users} WHERE id = %s FOR NO KEY UPDATE", [user.pk])  # noqa: S608

    got: list = []

    def tab2() -> None:
        try:
            got.append(assignment_next_for_user(project=project, user=user))
        finally:
            connections.close_all()

    thread = threading.Thread(target=tab2)
    thread.start()
    for _ in range(200):  # until tab 2 waits for the lock
        waiting = tab1.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                               "WHERE NOT l.granted AND a.datname = current_database()").fetchone()[0]
        if waiting:
            break
        threading.Event().wait(0.05)
    now = timezone.now()
    tab1.execute(
        "INSERT INTO annotator_assignment (item_id, annotator_id, status, leased_at, lease_expires_at, shown_order,"
        " submitted_at, created_at, updated_at) VALUES (%s, %s, 'leased', %s, %s, '[]'::jsonb, NULL, %s, %s)",
        [second.pk, user.pk, now, now + timedelta(minutes=30), now, now],
    )
    tab1.commit()
    tab1.close()
    thread.join(timeout=60)
    assert got and got[0] is not None
    assert got[0].item_id == second.pk
    assert Assignment.objects.filter(annotator=user, status=Assignment.Status.LEASED).count() == 1
