"""Fixtures for every role, plus an outsider who must get nothing."""

import pytest

from annotator.models import ProjectMembership
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    published_version,
)

Role = ProjectMembership.Role


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def rubric_version(db):
    return published_version(criteria=3)


@pytest.fixture
def project(db, rubric_version):
    return ProjectFactory(name="Helpfulness pairs", rubric_version=rubric_version, overlap=2)


@pytest.fixture
def staff_admin(db):
    """A site administrator (edits rubric sets, manages scorers)."""
    return UserFactory(username="siteadmin", is_staff=True)


@pytest.fixture
def project_admin(db, project):
    user = UserFactory(username="padmin")
    MembershipFactory(project=project, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def reviewer(db, project):
    user = UserFactory(username="reviewer")
    MembershipFactory(project=project, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def annotator(db, project):
    user = UserFactory(username="annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def outsider(db):
    """A logged-in user who belongs to no project of the others."""
    other = ProjectFactory(name="Someone else's project")
    user = UserFactory(username="outsider")
    MembershipFactory(project=other, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def client_for(client):
    """client_for(user) → a test client logged in as that user."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def labeled(project, rubric_version, project_admin, reviewer, annotator):
    """The known-answer project (tests/known_answers.py): items whose labels the export tests know."""
    from tests.known_answers import build_labeled

    return build_labeled(project, rubric_version, project_admin, reviewer, annotator)


@pytest.fixture
def foreign(outsider):
    """The outsider's own project, with rows whose names carry a marker no other test data has."""
    from tests.known_answers import build_foreign

    return build_foreign(outsider)
