"""Helpers shared by test modules (fixtures stay in the conftests; plain functions live here)."""

from datetime import UTC, datetime

from annotator.models import Item, Judgment
from annotator.selectors import criteria_for_project
from annotator.services import JudgmentInput
from tests.factories import JudgmentFactory

# The export and API tests' clock: judgments of `labeled` are submitted at T0 + a few hours.
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


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


def make_judgment(item: Item, user, *, at: datetime = T0, version=None, shown_order=None, **fields) -> Judgment:
    """JudgmentFactory with the export tests' defaults: submitted at T0, the project's rubric version.

    `fields` go to the factory (preference, both_bad, ranking, rationale, scores, time_spent_ms).
    """
    if version is not None:
        fields["rubric_version"] = version
    if shown_order is not None:
        fields["assignment__shown_order"] = shown_order
    return JudgmentFactory(item=item, annotator=user, submitted_at=at, **fields)


def login(page, live_server, username, password):
    """Log a Playwright page in through the login form."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def row(instance) -> dict:
    """The instance's row as stored now, every column: equal before and after a refused write."""
    return type(instance).objects.filter(pk=instance.pk).values().get()


def counts(*models) -> dict[str, int]:
    """Row counts of the given models: equal before and after a refused write."""
    return {model.__name__: model.objects.count() for model in models}
