"""Personal API tokens: created in the UI (shown once), hashed, used as Bearer, expired, revoked."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from config.errors import ApplicationError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_a_new_token_authenticates_api_requests_as_its_owner(annotator, project):
    _, raw = api_token_create(user=annotator, name="script")
    response = Client().get("/api/v1/projects/", **bearer(raw))
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [project.id]


def test_only_a_hash_of_the_secret_is_stored(annotator):
    token, raw = api_token_create(user=annotator, name="script")
    secret = raw.split("_", 2)[2]
    row = ApiToken.objects.get(pk=token.pk)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())


def test_an_expired_token_gets_401(annotator):
    token, raw = api_token_create(user=annotator, name="short", expires_at=timezone.now() + timedelta(days=1))
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get("/api/v1/me/", **bearer(raw))
    assert response.status_code == 401
    assert response.json() == {"error": "authentication_failed", "message": "Invalid, expired or revoked token."}
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_gets_401_at_once(annotator):
    token, raw = api_token_create(user=annotator, name="leaked")
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 200
    api_token_revoke(token=token)
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 401


@pytest.mark.parametrize("header", ["Bearer rbk_nothex_secret", "Bearer rbk_", "Bearer ", "Bearer not-a-token"])
def test_a_malformed_or_unknown_token_gets_401(header, annotator):
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=header).status_code == 401


def test_a_right_prefix_with_a_wrong_secret_gets_401(annotator):
    token, raw = api_token_create(user=annotator, name="script")
    assert Client().get("/api/v1/me/", **bearer(f"rbk_{token.prefix}_wrong-secret")).status_code == 401


def test_a_deactivated_users_token_gets_401(annotator):
    _, raw = api_token_create(user=annotator, name="script")
    annotator.is_active = False
    annotator.save()
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 401


def test_no_credentials_get_401_not_a_login_redirect(db):
    response = Client().get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_using_a_token_stamps_its_last_use(annotator):
    token, raw = api_token_create(user=annotator, name="script")
    assert token.last_used_at is None
    Client().get("/api/v1/me/", **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_me_names_the_token_a_request_used(annotator):
    token, raw = api_token_create(user=annotator, name="ci")
    data = Client().get("/api/v1/me/", **bearer(raw)).json()
    assert data["username"] == "annotator" and data["auth"] == "token"
    assert data["token"]["id"] == token.id and data["token"]["status"] == "active"
    assert "token_hash" not in data["token"]


def test_a_token_needs_a_name_and_a_future_expiry(annotator):
    with pytest.raises(ApplicationError):
        api_token_create(user=annotator, name="  ")
    with pytest.raises(ApplicationError):
        api_token_create(user=annotator, name="x", expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ApplicationError):
        api_token_create(user=annotator, name="x" * 101)


def test_a_token_request_is_not_subject_to_csrf(annotator, project, rubric_version):
    _, raw = api_token_create(user=annotator, name="script")
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/api/v1/projects/{project.id}/exports/", {"format": "trl"}, **bearer(raw))
    # An annotator may not export: 403 (a member without the role), not a CSRF failure.
    assert response.status_code == 403


def test_a_session_write_without_csrf_is_refused(project_admin, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(project_admin)
    response = client.post(f"/api/v1/projects/{project.id}/exports/", {"format": "trl"})
    assert response.status_code == 403


def test_the_token_list_shows_only_my_tokens(annotator, outsider):
    mine, _ = api_token_create(user=annotator, name="mine")
    api_token_create(user=outsider, name="theirs")
    client = Client()
    client.force_login(annotator)
    assert [t["name"] for t in client.get("/api/v1/tokens/").json()] == ["mine"]


def test_deleting_my_token_through_the_api_revokes_it(annotator):
    token, raw = api_token_create(user=annotator, name="self-destruct")
    response = Client().delete(f"/api/v1/tokens/{token.id}/", **bearer(raw))
    assert response.status_code == 204
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 401


def test_nobody_revokes_another_users_token(annotator, outsider):
    token, raw = api_token_create(user=annotator, name="mine")
    client = Client()
    client.force_login(outsider)
    assert client.delete(f"/api/v1/tokens/{token.id}/").status_code == 404
    assert api_token_authenticate(raw=raw) is not None


# --- The page at /account/tokens/ ------------------------------------------------------------------

def test_the_tokens_page_needs_a_login(db):
    response = Client().get("/account/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_creating_a_token_in_the_ui_shows_the_secret_once(client_for, annotator):
    client = client_for(annotator)
    response = client.post("/account/tokens/", {"name": "notebook", "expires_in": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    raw = re.search(r'id="token-secret" value="(rbk_[^"]+)"', body).group(1)
    token = ApiToken.objects.get(user=annotator, name="notebook")
    assert 29 <= (token.expires_at - timezone.now()).days <= 30
    assert api_token_authenticate(raw=raw).pk == token.pk
    again = client.get("/account/tokens/").content.decode()
    assert "notebook" in again and raw not in again and raw.split("_", 2)[2] not in again


def test_a_token_without_expiry_can_be_created(client_for, annotator):
    client_for(annotator).post("/account/tokens/", {"name": "forever", "expires_in": "never"})
    assert ApiToken.objects.get(name="forever").expires_at is None


def test_a_bad_token_form_shows_the_error_and_creates_nothing(client_for, annotator):
    response = client_for(annotator).post("/account/tokens/", {"name": "", "expires_in": "30"})
    assert response.status_code == 400
    assert "Give the token a name." in response.content.decode()
    response = client_for(annotator).post("/account/tokens/", {"name": "x", "expires_in": "999"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_revoking_in_the_ui_kills_the_token(client_for, annotator):
    token, raw = api_token_create(user=annotator, name="old")
    response = client_for(annotator).post(f"/account/tokens/{token.id}/revoke/")
    assert response.status_code == 302
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 401
    page = client_for(annotator).get("/account/tokens/").content.decode()
    assert "revoked" in page


def test_the_ui_never_revokes_another_users_token(client_for, annotator, outsider):
    token, raw = api_token_create(user=annotator, name="mine")
    assert client_for(outsider).post(f"/account/tokens/{token.id}/revoke/").status_code == 404
    assert client_for(outsider).get(f"/account/tokens/{token.id}/revoke/").status_code == 405
    assert api_token_authenticate(raw=raw) is not None


def test_the_tokens_page_lists_only_my_tokens(client_for, annotator):
    api_token_create(user=UserFactory(username="someone"), name="someone-elses-token")
    api_token_create(user=annotator, name="my-token")
    body = client_for(annotator).get("/account/tokens/").content.decode()
    assert "my-token" in body and "someone-elses-token" not in body


def test_the_ui_token_form_needs_csrf(annotator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    assert client.post("/account/tokens/", {"name": "x", "expires_in": "30"}).status_code == 403
    assert not ApiToken.objects.exists()
