"""Review in Chromium: a reviewer finds a disagreement, compares the judgments, records a final label."""

from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import Adjudication, Project, ProjectMembership
from annotator.services import assignment_next_for_user, item_set_gold, judgment_submit
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login, valid_input

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_adjudicates_a_disagreement(page, live_server, password, screenshots_dir):
    call_command("load_demo", stdout=StringIO())
    project = Project.objects.get(name__startswith="Demo")
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=project, user=reviewer, role=ProjectMembership.Role.REVIEWER)
    annotators = []
    for name in ("ann", "ben"):
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user)
        annotators.append(user)
    first_item = project.items.order_by("id").first()
    item_set_gold(item=first_item, is_gold=True, preference=1)
    for user, preference, rationale in (
        (annotators[0], -2, "Response 1 is shorter and **still correct**."),
        (annotators[1], 3, "Response 2 explains *why* defaults are evaluated once; much more useful."),
    ):
        a = assignment_next_for_user(project=project, user=user)
        data = valid_input(a, preference=preference, rationale=rationale)
        if user == annotators[1]:
            key = sorted(data.scores)[3]
            data.scores[key] = 2 if data.scores[key] == 4 else 0
        judgment_submit(assignment=a, data=data)

    login(page, live_server, "rita", password)
    page.goto(f"{live_server.url}/projects/{project.id}/review/")
    assert "Winner differs" in page.inner_text("#review-table")
    page.screenshot(path=str(screenshots_dir / "review-list.png"))
    page.click("text=Start reviewing")
    page.wait_for_selector("#adjudication")
    assert "ann" in page.inner_text("#judgments") and "ben" in page.inner_text("#judgments")
    page.screenshot(path=str(screenshots_dir / "review.png"), full_page=True)

    page.check("#adjudication input[name=preference][value='2']")
    page.fill("#adj-rationale", "Response 2 is right: it explains the cause.")
    page.click("#adjudication button:has-text('Save')")
    page.wait_for_selector(".flash-success")
    adjudication = Adjudication.objects.get(item=first_item)
    assert (adjudication.preference, adjudication.reviewer_id) == (2, reviewer.id)
