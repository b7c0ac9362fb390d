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
