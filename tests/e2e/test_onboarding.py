"""No dead ends for a new admin, in Chromium: invite someone from the Members page (the link shown
once and emailed), they set a password and land in the project; site admins manage users in the
app; publishing a rubric version offers to move the projects on the older one."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from annotator.models import Judgment, ProjectMembership
from annotator.services import assignment_next_for_user, judgment_submit
from rubrics import services as rubric_services
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import login, valid_input

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Role = ProjectMembership.Role
NEW_PASSWORD = "violet kettle drums 2718"


def test_a_project_admin_invites_a_newcomer_who_sets_a_password_and_lands_in_the_project(
        page, browser, live_server, screenshots_dir, password):
    lead = UserFactory(username="lead")
    project = ProjectFactory(name="Assistant helpfulness, batch 5", overlap=1)
    MembershipFactory(project=project, user=lead, role=Role.ADMIN)
    login(page, live_server, "lead", password)
    page.goto(f"{live_server.url}/projects/{project.id}/members/")

    # An unknown name is answered with where to go: the invite form, filled in.
    page.fill("#id_username", "noor")
    page.click("#add-member button[type=submit]")
    assert "No account is named “noor”" in page.inner_text("#add-member")
    assert page.input_value("#invite-username") == "noor"
    page.fill("#invite-email", "noor@example.test")
    page.select_option("#invite-role", "reviewer")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("#invite-created")
    link = page.input_value("#invite-url")
    assert "/account/invite/" in link
    assert "emailed to noor@example.test" in page.inner_text("#invite-email-status")
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    assert "invited" in page.inner_text("#members")
    page.screenshot(path=str(screenshots_dir / "members-invite.png"), full_page=True)
    page.goto(f"{live_server.url}/projects/{project.id}/members/")
    assert link not in page.content(), "the link is shown once"

    # The newcomer, in their own browser: sets a password and lands in the project, logged in.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    newcomer = context.new_page()
    newcomer.goto(link)
    assert newcomer.inner_text("#invite-username") == "noor"
    newcomer.fill("#id_new_password1", NEW_PASSWORD)
    newcomer.fill("#id_new_password2", NEW_PASSWORD)
    newcomer.screenshot(path=str(screenshots_dir / "invite-accept.png"), full_page=True)
    newcomer.click("#invite-accept button[type=submit]")
    newcomer.wait_for_url(f"{live_server.url}/projects/{project.id}/")
    assert "Assistant helpfulness, batch 5" in newcomer.inner_text("h1")
    assert "Reviewer" in newcomer.inner_text(".page-head")
    # The link is spent.
    newcomer.goto(link)
    assert "used already" in newcomer.inner_text("#invite-problem")
    context.close()
    user = get_user_model().objects.get(username="noor")
    assert user.is_active and user.check_password(NEW_PASSWORD)


def test_a_site_admin_manages_users_in_the_app(page, live_server, screenshots_dir, password):
    UserFactory(username="root", is_staff=True)
    UserFactory(username="kim")
    login(page, live_server, "root", password)
    page.click("nav.topnav >> text=Users")
    page.wait_for_url(f"{live_server.url}/account/users/")
    page.fill("#id_username", "sam")
    page.check("#id_site_admin")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("#invite-created")
    assert "No email address given" in page.inner_text("#invite-email-status")
    sam = get_user_model().objects.get(username="sam")
    assert sam.is_staff and not sam.is_active
    assert "invited" in page.inner_text(f"#user-{sam.id}")

    kim = get_user_model().objects.get(username="kim")
    page.click(f"#user-{kim.id} >> text=Make site admin")
    page.wait_for_selector(".flash-success")
    page.click(f"#user-{kim.id} >> text=Deactivate")
    page.wait_for_selector(".flash-success")
    assert "deactivated" in page.inner_text(f"#user-{kim.id}")
    kim.refresh_from_db()
    assert kim.is_staff and not kim.is_active
    page.screenshot(path=str(screenshots_dir / "users.png"), full_page=True)


def test_publishing_a_rubric_version_offers_to_move_the_projects_on_the_older_one(
        page, live_server, screenshots_dir, password):
    admin = UserFactory(username="rubric-lead", is_staff=True)
    v1 = published_version(criteria=3)
    project = ProjectFactory(name="Safety pairs", rubric_version=v1, overlap=1)
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    annotator = UserFactory(username="ann")
    MembershipFactory(project=project, user=annotator)
    ItemFactory(project=project)
    ItemFactory(project=project)
    a = assignment_next_for_user(project=project, user=annotator)
    old = judgment_submit(assignment=a, data=valid_input(a)).judgment
    draft = rubric_services.rubric_draft_create(rubric_set=v1.rubric_set, actor=admin, from_version=v1)

    login(page, live_server, "rubric-lead", password)
    page.goto(f"{live_server.url}/rubrics/{v1.rubric_set.slug}/v/{draft.number}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#publish-button")
    page.wait_for_url(f"{live_server.url}/projects/rubric/{v1.rubric_set.slug}/v/{draft.number}/move/")
    consequences = page.inner_text("#switch-consequences")
    assert "Judgments already made keep the version they were made with" in consequences
    assert f"use v{draft.number}" in consequences
    row = page.inner_text("#switch-form .switch-list")
    assert "Safety pairs" in row and f"1 judgment made with v{v1.number} keeps it" in row
    project.refresh_from_db()
    assert project.rubric_version_id == v1.id, "nothing moves before the admin confirms"
    page.screenshot(path=str(screenshots_dir / "rubric-switch.png"), full_page=True)

    page.click("#switch-confirm")
    page.wait_for_url(f"{live_server.url}/projects/{project.id}/")
    assert "keep the version they were made with" in page.inner_text(".messages")
    project.refresh_from_db()
    assert project.rubric_version_id == draft.id
    assert Judgment.objects.get(pk=old.pk).rubric_version_id == v1.id
    b = assignment_next_for_user(project=project, user=annotator)
    new = judgment_submit(assignment=b, data=valid_input(b)).judgment
    assert new.rubric_version_id == draft.id
