"""Leases under races (issue 10, problems 3 and 4): the lease length a new project gets, and one live
lease per annotator per project however many tabs ask at once (real threads on PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from annotator.models import Assignment, Project
from annotator.services import assignment_next_for_user, project_create
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory

TABS = 30


def test_a_new_project_takes_its_lease_length_from_the_setting(db, settings):
    settings.ASSIGNMENT_LEASE_MINUTES = 7
    assert project_create(name="p", created_by=None).lease_minutes == 7
    assert Project().lease_minutes == 7
    settings.ASSIGNMENT_LEASE_MINUTES = 45
    assert project_create(name="q", created_by=None).lease_minutes == 45


def test_an_explicit_lease_length_wins_over_the_setting(db, settings):
    settings.ASSIGNMENT_LEASE_MINUTES = 7
    assert project_create(name="p", created_by=None, lease_minutes=12).lease_minutes == 12


def test_the_new_project_form_starts_from_the_setting(db, settings):
    from annotator.forms import ProjectForm

    settings.ASSIGNMENT_LEASE_MINUTES = 9
    assert ProjectForm()["lease_minutes"].value() == 9


@pytest.mark.django_db(transaction=True)
def test_thirty_tabs_of_one_annotator_opening_at_once_hold_one_live_lease(rubric_version):
    assert connection.vendor == "postgresql"
    project = ProjectFactory(rubric_version=rubric_version, overlap=1)
    for _ in range(TABS * 2):
        ItemFactory(project=project)
    user = UserFactory(username="many-tabs")
    MembershipFactory(project=project, user=user)
    barrier = threading.Barrier(TABS)
    got: list[int] = []
    errors: list[str] = []

    def tab():
        try:
            barrier.wait()
            got.append(assignment_next_for_user(project=project, user=user).pk)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tab) for _ in range(TABS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    live = Assignment.objects.filter(annotator=user, item__project=project, status=Assignment.Status.LEASED,
                                     lease_expires_at__gt=timezone.now())
    assert live.count() == 1
    assert set(got) == {live.get().pk}  # every tab shows the same item
