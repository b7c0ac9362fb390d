"""A committed submit answers "Saved" even when the next item cannot be loaded (issue 10, problem 2)."""

from unittest import mock

import pytest
from django.db import OperationalError

from annotator import views_annotate
from annotator.models import Assignment, Judgment
from annotator.services import assignment_next_for_user
from tests.annotator.test_annotate_pages import HTMX, _form, _url
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def _db_down_after_commit():
    """The next-item lookup fails, as when PostgreSQL restarts between the commit and the next query."""
    return mock.patch.object(views_annotate, "assignment_next_for_user",
                             side_effect=OperationalError("terminating connection due to administrator command"))


def test_a_committed_submit_answers_saved_and_offers_a_retry_when_the_next_item_fails(client_for, annotator,
                                                                                     project):
    ItemFactory(project=project)
    ItemFactory(project=project)
    c = client_for(annotator)
    assignment = assignment_next_for_user(project=project, user=annotator)
    with _db_down_after_commit():
        response = c.post(_url(project, assignment, "submit"), _form(assignment), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Saved. Next item unavailable, retry" in body
    assert f'hx-get="/projects/{project.id}/annotate/"' in body and 'id="workspace"' in body
    assert response["Retry-After"]
    assert Judgment.objects.filter(assignment=assignment).count() == 1  # what it says is true
    # The retry control loads the next item once the database is back.
    again = c.get(f"/projects/{project.id}/annotate/", **HTMX)
    assert again.status_code == 200 and 'id="judgment-form"' in again.content.decode()


@pytest.mark.django_db(transaction=True)  # the retry closes the connection: no test transaction around it
def test_the_next_item_is_tried_once_more_on_a_fresh_connection(client_for, annotator, project):
    ItemFactory(project=project)
    ItemFactory(project=project)
    c = client_for(annotator)
    assignment = assignment_next_for_user(project=project, user=annotator)
    calls = []

    def flaky(**kw):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return assignment_next_for_user(**kw)

    with mock.patch.object(views_annotate, "assignment_next_for_user", side_effect=flaky):
        response = c.post(_url(project, assignment, "submit"), _form(assignment), **HTMX)
    assert response.status_code == 200 and len(calls) == 2
    body = response.content.decode()
    assert "Saved." in body and 'id="judgment-form"' in body


def test_a_committed_skip_says_skipped_when_the_next_item_fails(client_for, annotator, project):
    ItemFactory(project=project)
    c = client_for(annotator)
    assignment = assignment_next_for_user(project=project, user=annotator)
    with _db_down_after_commit():
        response = c.post(_url(project, assignment, "skip"), **HTMX)
    assert response.status_code == 200 and "Skipped." in response.content.decode()
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.SKIPPED
