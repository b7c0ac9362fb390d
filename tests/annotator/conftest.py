"""Fixtures for the annotation tests: batches of items and annotators."""

import pytest

from tests.factories import ItemFactory, MembershipFactory, UserFactory


@pytest.fixture
def make_items(project):
    def make(n: int, **kwargs):
        return [ItemFactory(project=kwargs.pop("project", project), **kwargs) for _ in range(n)]

    return make


@pytest.fixture
def make_annotators(project):
    def make(n: int, prefix: str = "ann"):
        users = []
        for i in range(n):
            user = UserFactory(username=f"{prefix}{i}")
            MembershipFactory(project=project, user=user)
            users.append(user)
        return users

    return make
