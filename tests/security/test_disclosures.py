"""Small disclosures (security finding 8): the rubric API and pages answer a missing rubric set and a
missing version of an existing set alike, so nobody learns which sets exist. (Judge URLs on
/scoring/: tests/scoring/test_pages.py; every route's answers per role: test_role_matrix.py.)"""

import re

import pytest

from tests.factories import published_version

pytestmark = pytest.mark.django_db


def _page(response, slug: str) -> tuple[int, bytes]:
    """Status and body, the slug asked for and the (per-request masked) CSRF token blanked out."""
    body = re.sub(rb"[A-Za-z0-9]{64}", b"CSRF", response.content.replace(slug.encode(), b"SLUG"))
    return response.status_code, body


@pytest.fixture
def hidden_set():
    """A set with a published v1 that the callers below may not read (no project of theirs pins it)."""
    return published_version(criteria=1).rubric_set


@pytest.mark.parametrize("template", [
    "/api/v1/rubric-sets/{slug}/versions/{number}/",
    "/api/v1/rubric-sets/{slug}/versions/{number}/export/",
    "/api/v1/rubric-sets/{slug}/versions/{number}/diff/1/",
    "/rubrics/{slug}/v/{number}/",
])
def test_a_missing_set_and_a_missing_version_answer_the_same(client_for, staff_admin, outsider, hidden_set, template):
    """Security finding 8: "No such rubric version" for an existing set, "No such rubric set" otherwise."""
    def answer(user, slug, number):
        return _page(client_for(user).get(template.format(slug=slug, number=number)), slug)

    missing_version = answer(staff_admin, hidden_set.slug, 99)
    assert missing_version[0] == 404
    assert answer(staff_admin, "no-such-set", 99) == missing_version
    # Someone who may not read the set: its v1 looks like nothing at all, too.
    assert answer(outsider, hidden_set.slug, 1) == answer(outsider, "no-such-set", 1)
    assert answer(outsider, hidden_set.slug, 1)[0] == 404


def test_a_set_nobody_lets_you_read_answers_like_a_missing_one(client_for, outsider, hidden_set):
    client = client_for(outsider)
    for template in ("/api/v1/rubric-sets/{}/", "/rubrics/{}/"):
        hidden = _page(client.get(template.format(hidden_set.slug)), hidden_set.slug)
        assert hidden[0] == 404
        assert hidden == _page(client.get(template.format("no-such-set")), "no-such-set")
