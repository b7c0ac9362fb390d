"""Helpers for the annotation tests: valid judgments for an assignment, batches of items."""

import pytest

from annotator.selectors import criteria_for_project
from annotator.services import JudgmentInput
from tests.factories import ItemFactory, MembershipFactory, UserFactory


def valid_input(assignment, preference: int | None = -1, **overrides) -> JudgmentInput:
    """A complete judgment of the assignment's item: every criterion scored for every response."""
    item = assignment.item
    responses = list(item.responses.order_by("position", "id"))
    criteria = criteria_for_project(project=item.project)
    scale_value = {"binary": 1, "likert5": 4, "points": 0}
    scores = {(r.id, c.id): scale_value[c.scale] for r in responses for c in criteria}
    data = JudgmentInput(
        preference=preference if len(responses) == 2 else None,
        ranking=[] if len(responses) == 2 else [r.id for r in responses],
        scores=scores, rationale="Because.", time_spent_ms=1200,
    )
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


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
