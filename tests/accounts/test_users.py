"""Site admins manage accounts in the app: list, invite, deactivate, reactivate, site admin."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.services import api_token_create, invite_accept, user_invite, user_set_active, user_set_site_admin
from config.errors import ConflictError
from tests.accounts.test_invites import NEW_PASSWORD, accept, can_log_in, link_in
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_the_users_page_is_for_site_admins_only(client_for, project_admin, annotator):
    assert client_for(project_admin).get("/account/users/").status_code == 403
    assert client_for(annotator).post("/account/users/", {"username": "x"}).status_code == 403
    grant = client_for(annotator).post(f"/account/users/{annotator.id}/site-admin/", {"site_admin": "1"})
    assert grant.status_code == 403
    assert not User.objects.get(pk=annotator.pk).is_staff
    assert Client().get("/account/users/").status_code == 302  # to the login page


def test_a_site_admin_lists_accounts_with_their_status(client_for, staff_admin, annotator):
    user_invite(username="pending", actor=staff_admin)
    UserFactory(username="gone", is_active=False)
    page = client_for(staff_admin).get("/account/users/")
    body = page.content.decode()
    assert page.status_code == 200
    for name, status in [("annotator", "active"), ("pending", "invited"), ("gone", "deactivated")]:
        assert name in body and f"badge-account-{status}" in body
    assert "Users</a>" in body  # in the top bar


def test_the_list_filters_by_username_or_email(client_for, staff_admin, annotator, reviewer):
    body = client_for(staff_admin).get("/account/users/?q=reviewer@").content.decode()
    assert f'id="user-{reviewer.id}"' in body and f'id="user-{annotator.id}"' not in body


def test_a_site_admin_invites_a_site_admin_who_lands_home(client_for, staff_admin):
    response = client_for(staff_admin).post("/account/users/", {"username": "colleague", "site_admin": "on"})
    assert response.status_code == 200
    user = User.objects.get(username="colleague")
    assert user.is_staff and not user.is_active
    client, done = accept(link_in(response.content.decode()))
    assert done["Location"] == "/"
    assert client.get("/account/users/").status_code == 200


def test_a_taken_username_is_shown_next_to_the_field(client_for, staff_admin, annotator):
    response = client_for(staff_admin).post("/account/users/", {"username": "annotator"})
    assert response.status_code == 400 and "already an account" in response.content.decode()


def test_a_site_admin_issues_a_new_link_for_an_account_that_has_not_joined(client_for, staff_admin):
    first = user_invite(username="pending", actor=staff_admin)
    response = client_for(staff_admin).post(f"/account/users/{first.invite.user.id}/invite/")
    url = link_in(response.content.decode())
    assert f"/account/invite/{first.secret}/" not in url
    accept(url)
    assert User.objects.get(username="pending").is_active


def test_a_deactivated_account_cannot_log_in_or_use_its_tokens(client_for, staff_admin, annotator):
    _, raw = api_token_create(user=annotator, name="script")
    logged_in = client_for(annotator)
    response = client_for(staff_admin).post(f"/account/users/{annotator.id}/active/", {"active": "0"})
    assert response.status_code == 302
    assert not can_log_in("annotator", PASSWORD)
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert logged_in.get("/").status_code == 302  # the open session ends too
    client_for(staff_admin).post(f"/account/users/{annotator.id}/active/", {"active": "1"})
    assert can_log_in("annotator", PASSWORD)


def test_deactivating_an_invited_account_kills_its_link(staff_admin):
    link = user_invite(username="pending", actor=staff_admin)
    user_set_active(user=link.invite.user, active=False, actor=staff_admin)
    with pytest.raises(ConflictError):
        user_set_active(user=link.invite.user, active=True, actor=staff_admin)  # never set a password
    with pytest.raises(Exception, match="replaced"):
        invite_accept(secret=link.secret, password=NEW_PASSWORD)


def test_site_admin_is_granted_and_taken_away_in_the_app(client_for, staff_admin, annotator):
    c = client_for(staff_admin)
    c.post(f"/account/users/{annotator.id}/site-admin/", {"site_admin": "1"})
    assert User.objects.get(pk=annotator.pk).is_staff
    c.post(f"/account/users/{annotator.id}/site-admin/", {"site_admin": "0"})
    assert not User.objects.get(pk=annotator.pk).is_staff


def test_nobody_locks_themselves_out(staff_admin):
    with pytest.raises(ConflictError):
        user_set_active(user=staff_admin, active=False, actor=staff_admin)
    with pytest.raises(ConflictError):
        user_set_site_admin(user=staff_admin, site_admin=False, actor=staff_admin)
    staff_admin.refresh_from_db()
    assert staff_admin.is_active and staff_admin.is_staff
