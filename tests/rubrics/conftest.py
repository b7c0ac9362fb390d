import pytest

from rubrics import services
from rubrics.models import RubricVersion
from tests.factories import UserFactory


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", is_staff=True)


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", is_staff=True)


CRITERIA = [
    {"key": "accurate", "title": "Factually accurate", "kind": "hard_rule", "importance": "essential", "points": 5,
     "guidance": "Every claim is **correct**."},
    {"key": "clear", "title": "Clear and organised", "points": 3, "scale": "likert5", "tags": ["axis:communication"]},
    {"key": "fabricates", "title": "Fabricates a source", "importance": "pitfall", "points": -4},
]


@pytest.fixture
def draft(alice) -> RubricVersion:
    """Draft v1 of a new set "Quality" with three criteria (the last a pitfall)."""
    return services.rubric_set_create(name="Quality", slug="quality", description="A *test* set.", actor=alice,
                                      criteria=CRITERIA)


@pytest.fixture
def published(draft, alice) -> RubricVersion:
    return services.rubric_version_publish(version=draft, actor=alice)
