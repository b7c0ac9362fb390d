"""Health endpoints for load balancers, orchestrators and docker compose.

- `/healthz` (liveness): the process answers. Touches nothing else, so a database outage never
  gets a healthy web server restarted.
- `/readyz` (readiness): PostgreSQL answers `SELECT 1` and the broker accepts a connection. 200
  with {"database": "ok", "broker": "ok"}, else 503 naming what failed (and `Retry-After`).

`HealthCheckMiddleware` answers both paths first in the middleware chain: before host validation
(a probe from inside the container uses whatever Host it likes), the HTTPS redirect and sessions.
The workers' health check is Celery's own `celery inspect ping` (docker-compose.yml).
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", reported by name
        connection.close()  # a broken connection must not be reused by the next request
        return f"{type(exc).__name__}: {exc}"[:300]


def _check_broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                   timeout=BROKER_TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:300]


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the web process runs."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: PostgreSQL and the broker both answer."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(v == "ok" for v in checks.values())
    response = JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
    if not ready:
        log.warning("not ready: %s", checks)
        response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


PATHS = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """Answer /healthz and /readyz before anything that could refuse or redirect the probe."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PATHS.get(request.path_info.rstrip("/"))
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)
