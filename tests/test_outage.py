"""Outages answer 503 with Retry-After and words, never a 500 (issue 10, problem 2); health endpoints."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from kombu.exceptions import OperationalError as BrokerError


@pytest.fixture
def failing_home():
    """The home page's view raises what a database restart raises."""
    def make(exc):
        return mock.patch("annotator.views.project_list_for_user", side_effect=exc)
    return make


@pytest.mark.django_db
@pytest.mark.parametrize("exc", [OperationalError("server closed the connection unexpectedly"),
                                 InterfaceError("connection already closed"), BrokerError("Connection refused")])
def test_a_page_answers_503_with_retry_after_during_an_outage(client_for, annotator, failing_home, exc):
    with failing_home(exc):
        response = client_for(annotator).get("/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    body = response.content.decode()
    assert "Back in a moment" in body and "Nothing saved before is lost" in body
    assert 'href="/"' in body  # a way to try again


@pytest.mark.django_db
def test_htmx_gets_a_fragment_and_a_form_post_is_told_resending_is_safe(client_for, annotator, project):
    c = client_for(annotator)
    with mock.patch("annotator.views_annotate.assignment_next_for_user", side_effect=OperationalError("down")):
        page = c.get(f"/projects/{project.id}/annotate/", HTTP_HX_REQUEST="true")
        post = c.post(f"/projects/{project.id}/annotate/undo/", HTTP_HX_REQUEST="true")
    assert page.status_code == 503 and "<html" not in page.content.decode() and 'id="outage"' in page.content.decode()
    assert post.status_code == 503 and "stores it once" in post.content.decode()


@pytest.mark.django_db
def test_the_api_answers_503_as_json(annotator, project):
    c = Client()
    c.force_login(annotator)
    with mock.patch("annotator.api.views.ProjectDetailApi.get", side_effect=OperationalError("down")):
        response = c.get(f"/api/v1/projects/{project.id}/")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable" and response["Retry-After"]


@pytest.mark.django_db
def test_an_outage_in_a_middleware_is_a_503_too(client_for, annotator):
    c = client_for(annotator)
    c.raise_request_exception = False
    with mock.patch("django.contrib.messages.middleware.MessageMiddleware.process_response",
                    side_effect=OperationalError("the database system is shutting down")):
        response = c.get("/")
    assert response.status_code == 503 and response["Retry-After"]


@pytest.mark.django_db
def test_a_bug_is_still_a_500(client_for, annotator, failing_home):
    c = client_for(annotator)
    c.raise_request_exception = False
    with failing_home(ZeroDivisionError("a bug")):
        response = c.get("/")
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_healthz_answers_without_the_database(client):
    with mock.patch("django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection",
                    side_effect=OperationalError("down")):
        response = client.get("/healthz", HTTP_HOST="internal-probe")  # any Host: before host checks
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database_and_the_broker(client, settings):
    ok = client.get("/readyz", HTTP_HOST="10.0.0.7")
    assert ok.status_code == 200 and ok.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    with mock.patch("config.celery.app.connection_for_write") as conn:
        conn.return_value.__enter__.return_value.ensure_connection.side_effect = BrokerError("refused")
        down = client.get("/readyz")
    assert down.status_code == 503 and down["Retry-After"]
    assert down.json()["database"] == "ok" and "refused" in down.json()["broker"]


def test_database_connections_are_health_checked_and_fail_fast():
    from django.conf import settings

    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    assert settings.DATABASES["default"]["OPTIONS"]["connect_timeout"] <= 10


@pytest.mark.django_db(transaction=True)
def test_the_health_check_replaces_a_connection_the_database_dropped_and_costs_no_statement_otherwise():
    """config/postgresql: an idle healthy connection is usable without a `SELECT 1`; one whose backend
    the database terminated (as a restart does) is closed at the check and the next use reconnects."""
    import time

    from django.db import connection, connections
    from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

    other = connections.create_connection("default")
    try:
        other.ensure_connection()
        pid = other.connection.info.backend_pid
        with mock.patch.object(DjangoWrapper, "is_usable", return_value=True) as select_1:
            other.health_check_done = False
            other.close_if_health_check_failed()
        assert other.connection is not None and select_1.call_count == 0  # healthy: no statement
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while other.is_usable() and time.monotonic() < deadline:  # the goodbye arrives on its socket
            time.sleep(0.01)
        other.health_check_done = False
        other.close_if_health_check_failed()
        assert other.connection is None  # dropped at the check, not in the request
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        other.close()


def test_docker_compose_checks_the_health_of_every_service():
    from pathlib import Path

    import yaml

    services = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())["services"]
    tests = {name: " ".join(s["healthcheck"]["test"]) for name, s in services.items()}
    assert set(tests) == set(services)  # every service has one
    assert "/readyz" in tests["web"]
    for worker in ("worker", "gpu-worker"):
        hostname = services[worker]["command"].split("--hostname ")[1].split("@")[0]
        assert "inspect ping" in tests[worker] and f"-d {hostname}@$$HOSTNAME" in tests[worker]


@pytest.mark.django_db
def test_pages_keep_working_while_redis_holding_the_session_cache_is_down(client_for, annotator, settings):
    """Sessions are cached in Redis and written through to PostgreSQL: a Redis outage falls back."""
    import redis

    assert settings.SESSION_ENGINE == "config.sessions"
    c = client_for(annotator)
    down = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    client = "django.core.cache.backends.redis.RedisCacheClient"
    with mock.patch(f"{client}.get", side_effect=down), mock.patch(f"{client}.set", side_effect=down), \
            mock.patch(f"{client}.delete", side_effect=down):
        response = c.get("/")
        logout = c.post("/logout/")
    assert response.status_code == 200 and annotator.username in response.content.decode()
    assert logout.status_code == 503  # a logout must not leave a live copy in the cache: repeat it later


@pytest.mark.django_db
def test_an_api_call_that_needs_the_redis_cache_answers_503_while_redis_is_down(annotator, project):
    """DRF's throttles count in the cache: with Redis down, a throttled endpoint is a 503, not a 500."""
    import redis

    c = Client()
    c.force_login(annotator)
    down = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    with mock.patch("rest_framework.throttling.SimpleRateThrottle.allow_request", side_effect=down):
        response = c.get(f"/api/v1/projects/{project.id}/export", {"format": "trl"})
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
