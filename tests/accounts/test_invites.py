"""Invitations: an inactive account, a one-time set-password link (shown once, emailed), the
invitee lands where the inviter chose; no open sign-up remains."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Invite
from accounts.services import invite_accept, invite_reissue, user_invite
from annotator.models import ProjectMembership
from config.errors import ApplicationError, ConflictError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "a long enough passphrase 42"
LINK = re.compile(r"https?://[^\s\"<]+/account/invite/([A-Za-z0-9_-]+)/")


def can_log_in(username: str, password: str) -> bool:
    """Through the login page, as a person would (django-axes needs a request)."""
    response = Client().post("/login/", {"username": username, "password": password})
    return response.status_code == 302


def link_in(html: str) -> str:
    match = LINK.search(html)
    assert match, "no invitation link on the page"
    return match.group(0)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def accept(url: str, password: str = NEW_PASSWORD, client: Client | None = None):
    client = client or Client()
    return client, client.post(path_of(url), {"new_password1": password, "new_password2": password})


# --- the service --------------------------------------------------------------------------------


def test_an_invited_account_cannot_log_in_until_the_link_is_used(staff_admin):
    link = user_invite(username="newbie", email="newbie@example.test", actor=staff_admin)
    user = link.invite.user
    assert not user.is_active and not user.has_usable_password()
    assert not can_log_in("newbie", "")
    invite_accept(secret=link.secret, password=NEW_PASSWORD)
    user.refresh_from_db()
    assert user.is_active and user.check_password(NEW_PASSWORD)
    assert can_log_in("newbie", NEW_PASSWORD)


def test_only_a_hash_of_the_link_is_stored(staff_admin):
    link = user_invite(username="newbie", actor=staff_admin)
    row = Invite.objects.values().get(pk=link.invite.pk)
    assert row["token_hash"] == hashlib.sha256(link.secret.encode()).hexdigest()
    assert link.secret not in str(row)


def test_a_link_works_once(staff_admin):
    link = user_invite(username="newbie", actor=staff_admin)
    invite_accept(secret=link.secret, password=NEW_PASSWORD)
    with pytest.raises(ApplicationError, match="used already") as exc:
        invite_accept(secret=link.secret, password="another passphrase 4242")
    assert exc.value.status == 410
    user = User.objects.get(username="newbie")
    assert user.check_password(NEW_PASSWORD)


def test_a_link_expires(staff_admin, settings):
    settings.INVITE_LINK_DAYS = 7
    link = user_invite(username="newbie", actor=staff_admin, now=timezone.now() - timedelta(days=8))
    with pytest.raises(ApplicationError, match="expired"):
        invite_accept(secret=link.secret, password=NEW_PASSWORD)
    assert not User.objects.get(username="newbie").is_active


def test_a_new_link_replaces_the_old_one(staff_admin):
    first = user_invite(username="newbie", actor=staff_admin)
    second = invite_reissue(user=first.invite.user, actor=staff_admin)
    with pytest.raises(ApplicationError, match="replaced"):
        invite_accept(secret=first.secret, password=NEW_PASSWORD)
    invite_accept(secret=second.secret, password=NEW_PASSWORD)
    assert Invite.objects.filter(user=first.invite.user, accepted_at__isnull=True, revoked_at__isnull=True).count() == 0


def test_an_unknown_link_is_refused():
    with pytest.raises(ApplicationError, match="not valid"):
        invite_accept(secret="made-up", password=NEW_PASSWORD)


def test_a_weak_password_is_refused_and_the_link_stays_usable(staff_admin):
    link = user_invite(username="newbie", actor=staff_admin)
    with pytest.raises(ApplicationError):
        invite_accept(secret=link.secret, password="123")
    invite_accept(secret=link.secret, password=NEW_PASSWORD)


def test_an_existing_username_is_refused_in_any_letter_case(staff_admin, annotator):
    with pytest.raises(ConflictError, match="already an account"):
        user_invite(username="ANNOTATOR", actor=staff_admin)


@pytest.mark.parametrize("username", ["", "has space", "x" * 151])
def test_a_bad_username_is_refused(staff_admin, username):
    with pytest.raises(ApplicationError):
        user_invite(username=username, actor=staff_admin)
    assert not Invite.objects.exists()


def test_a_joined_account_gets_no_new_link(staff_admin, annotator):
    with pytest.raises(ConflictError, match="set a password already"):
        invite_reissue(user=annotator, actor=staff_admin)


# --- the Members page -----------------------------------------------------------------------------


def test_the_members_page_answers_an_unknown_name_with_the_invite_form(client_for, project_admin, project):
    response = client_for(project_admin).post(f"/projects/{project.id}/members/",
                                              {"username": "ghost", "role": "reviewer"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "No account is named “ghost”" in body and "invite them below" in body
    assert 'id="invite-username" maxlength="150" required value="ghost"' in body


def test_a_project_admin_invites_someone_who_lands_in_the_project(client_for, project_admin, project):
    response = client_for(project_admin).post(f"/projects/{project.id}/members/invite/",
                                              {"username": "newbie", "email": "newbie@example.test",
                                               "role": "reviewer"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    url = link_in(response.content.decode())
    user = User.objects.get(username="newbie")
    assert not user.is_active
    assert project.memberships.get(user=user).role == ProjectMembership.Role.REVIEWER
    # Sent through Django's email backend too.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["newbie@example.test"]
    assert url in mail.outbox[0].body and project.name in mail.outbox[0].subject
    # The invitee sets a password and lands in the project, logged in.
    client, done = accept(url)
    assert done.status_code == 302 and done["Location"] == f"/projects/{project.id}/"
    assert client.get(done["Location"]).status_code == 200
    # The link is spent.
    assert Client().get(path_of(url)).status_code == 410


def test_an_invitation_without_email_says_nothing_was_sent(client_for, project_admin, project):
    body = client_for(project_admin).post(f"/projects/{project.id}/members/invite/",
                                          {"username": "newbie", "role": "annotator"}).content.decode()
    assert "nothing was emailed" in body
    assert not mail.outbox


def test_a_failing_mail_server_does_not_lose_the_invitation(client_for, project_admin, project, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    body = client_for(project_admin).post(f"/projects/{project.id}/members/invite/",
                                          {"username": "newbie", "email": "n@example.test",
                                           "role": "annotator"}).content.decode()
    assert "could not be sent" in body
    link_in(body)
    assert User.objects.filter(username="newbie").exists()


def test_inviting_an_existing_name_is_refused_on_the_members_page(client_for, project_admin, project, annotator):
    response = client_for(project_admin).post(f"/projects/{project.id}/members/invite/",
                                              {"username": "annotator", "role": "admin"})
    assert response.status_code == 400
    assert "already an account" in response.content.decode()
    assert project.memberships.get(user=annotator).role == ProjectMembership.Role.ANNOTATOR


def test_an_invited_member_shows_as_invited_and_their_inviter_can_issue_a_new_link(client_for, project_admin,
                                                                                  project):
    c = client_for(project_admin)
    old = link_in(c.post(f"/projects/{project.id}/members/invite/",
                         {"username": "newbie", "role": "annotator"}).content.decode())
    user = User.objects.get(username="newbie")
    page = c.get(f"/projects/{project.id}/members/").content.decode()
    assert "badge-account-invited" in page and f"/members/{user.id}/invite/" in page
    new = link_in(c.post(f"/projects/{project.id}/members/{user.id}/invite/").content.decode())
    assert new != old
    assert Client().get(path_of(old)).status_code == 410
    assert Client().get(path_of(new)).status_code == 200


def test_another_project_admin_cannot_take_over_a_pending_account(client_for, project_admin, project):
    from tests.factories import MembershipFactory, ProjectFactory

    link_in(client_for(project_admin).post(f"/projects/{project.id}/members/invite/",
                                           {"username": "newbie", "role": "annotator"}).content.decode())
    newbie = User.objects.get(username="newbie")
    other = ProjectFactory(name="Other")
    rival = UserFactory(username="rival")
    MembershipFactory(project=other, user=rival, role=ProjectMembership.Role.ADMIN)
    c = client_for(rival)
    # They may add the pending account to their own project, but not issue its link.
    assert c.post(f"/projects/{other.id}/members/", {"username": "newbie", "role": "annotator"}).status_code == 302
    assert c.post(f"/projects/{other.id}/members/{newbie.id}/invite/").status_code == 403
    assert Invite.objects.filter(user=newbie).count() == 1


def test_invitations_are_for_project_admins_only(client_for, annotator, outsider, project):
    data = {"username": "newbie", "role": "admin"}
    assert client_for(annotator).post(f"/projects/{project.id}/members/invite/", data).status_code == 403
    assert client_for(outsider).post(f"/projects/{project.id}/members/invite/", data).status_code == 404
    assert not User.objects.filter(username="newbie").exists()


def test_a_deactivated_account_cannot_be_added_and_the_page_says_who_can_help(client_for, project_admin, project):
    UserFactory(username="gone", is_active=False)
    body = client_for(project_admin).post(f"/projects/{project.id}/members/",
                                          {"username": "gone", "role": "annotator"}).content.decode()
    assert "deactivated" in body and "site admin" in body


# --- the link's page ----------------------------------------------------------------------------


def test_the_link_page_names_the_account_and_refuses_mismatched_passwords(staff_admin):
    link = user_invite(username="newbie", actor=staff_admin)
    page = Client().get(f"/account/invite/{link.secret}/")
    assert page.status_code == 200 and "newbie" in page.content.decode()
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    response = Client().post(f"/account/invite/{link.secret}/",
                             {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})
    assert response.status_code == 400
    assert not User.objects.get(username="newbie").is_active


def test_a_made_up_link_is_404_and_says_what_to_do():
    response = Client().get("/account/invite/made-up-secret/")
    assert response.status_code == 404 and "not valid" in response.content.decode()


def test_there_is_no_sign_up_page():
    for path in ("/signup/", "/register/", "/account/signup/", "/accounts/signup/", "/account/register/"):
        assert Client().get(path).status_code == 404
