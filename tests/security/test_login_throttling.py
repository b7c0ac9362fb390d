"""Brute force on the login page (security finding 4): django-axes locks out by username and by
address after LOGIN_FAILURE_LIMIT failures, with a clear message, 429 and Retry-After."""

from django.conf import settings
from django.test import Client

from tests.factories import UserFactory


def _login(client, username, password, ip="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_after_the_failure_limit_even_the_right_password_is_refused_with_429_and_retry_after(db):
    UserFactory(username="victim", password="right-password-123")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "victim", "wrong").status_code == 200  # the form again, with its error
    assert _login(client, "victim", "wrong").status_code == 429  # the failure that reaches the limit
    response = _login(client, "victim", "right-password-123")
    assert response.status_code == 429
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_holds_for_the_username_from_another_address(db):
    UserFactory(username="victim", password="right-password-123")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "victim", "wrong", ip=f"10.0.1.{i}")
    assert _login(Client(), "victim", "right-password-123", ip="10.0.2.1").status_code == 429


def test_one_address_trying_many_usernames_is_locked_out(db):
    UserFactory(username="someone", password="right-password-123")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), f"guess{i}", "wrong", ip="10.0.3.3")
    assert _login(Client(), "someone", "right-password-123", ip="10.0.3.3").status_code == 429
    assert _login(Client(), "someone", "right-password-123", ip="10.0.3.4").status_code == 302


def test_fewer_failures_than_the_limit_then_the_right_password_logs_in(db):
    UserFactory(username="typo", password="right-password-123")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "typo", "wrong")
    assert _login(client, "typo", "right-password-123").status_code == 302


def test_guessing_api_tokens_is_throttled_per_address_with_retry_after(db, settings):
    """Failed Bearer tokens count per address; past the limit even a valid token waits (429)."""
    from django.core.cache import cache

    from accounts.services import api_token_create

    cache.clear()
    settings.API_TOKEN_FAILURE_LIMIT = 3
    user = UserFactory(username="scripter")
    _, raw = api_token_create(user=user, name="ci")
    guesser = Client(HTTP_AUTHORIZATION="Bearer rbk_guess_000", REMOTE_ADDR="10.9.9.9")
    assert [guesser.get("/api/v1/projects/").status_code for _ in range(3)] == [401, 401, 401]
    locked = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="10.9.9.9").get("/api/v1/projects/")
    assert locked.status_code == 429 and 0 < int(locked["Retry-After"]) <= settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    elsewhere = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="10.9.9.10")
    assert elsewhere.get("/api/v1/projects/").status_code == 200
    cache.clear()
