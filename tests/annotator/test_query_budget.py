"""Query budgets of the annotator's pages: bounded, and flat in the project's size.

Counted without SAVEPOINT/RELEASE: the test wraps each test in a transaction, so an atomic block
shows up as savepoint statements here, where in production it is BEGIN/COMMIT (not logged).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import Assignment
from tests.annotator.test_annotate_pages import HTMX, _form, _url
from tests.factories import ItemFactory

# Issue 11 asks for 8, and it is 8 (was 24, then 14): session from the cache (0), user, membership +
# project; one statement locks the item, the member's counter row and the assignment (in that
# order) and reads the item's responses with them; one statement for all the writes. Then the
# user's lock, their live leases (two statements: read in the locking statement, the list would
# miss a lease another tab took meanwhile), the next item locked with its responses, and the new
# lease inserted by a statement that re-reads the item's assignments under its lock. Progress,
# criteria and the undo window cost no query.
SUBMIT_AND_NEXT = 8


def _queries(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))]


def _submit_and_next(client, project) -> list[str]:
    a = Assignment.objects.filter(status="leased").get()
    form = _form(a)
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(_url(project, a, "submit"), form, **HTMX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    return _queries(ctx)


@pytest.mark.django_db
@pytest.mark.parametrize("items", [3, 40])
def test_submit_and_next_takes_a_fixed_number_of_queries_however_big_the_project(client_for, annotator, project,
                                                                              items):
    for _ in range(items):
        ItemFactory(project=project)
    c = client_for(annotator)
    c.get(f"/projects/{project.id}/annotate/")
    first = _submit_and_next(c, project)
    second = _submit_and_next(c, project)
    assert len(first) <= SUBMIT_AND_NEXT, "\n".join(first)
    assert len(second) == len(first)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/projects/{id}/", "/projects/{id}/annotate/"])
def test_every_page_an_annotator_sees_has_a_small_fixed_budget(client_for, annotator, project, path):
    budgets = {"/": 4, "/projects/{id}/": 5, "/projects/{id}/annotate/": 9}
    url = path.format(id=project.id)
    c = client_for(annotator)
    counts = []
    for n in (2, 30):
        while project.items.count() < n:
            ItemFactory(project=project)
        c.get(url)
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url).status_code == 200
        counts.append(len(_queries(ctx)))
    assert counts[0] == counts[1] <= budgets[path], counts
