"""Outages answer 503, never 500: while PostgreSQL or the broker is down (a restart, a failover, a
network blip), a page says so in words, with `Retry-After`, and nothing claims to have failed for
good. Stored work is never lost by a 503: every write is a transaction, and the pages that write
(submit, skip) are idempotent, so sending the same form again is safe.

Two layers, because an exception can happen in two places:

- `OutageMiddleware.process_exception`: a view (or DRF view) raised it.
- `server_error` (handler500): a middleware raised it (loading the session, saving it); Django turns
  those into the 500 handler, which answers 503 when the exception is an outage.

The 503 page renders without the database (no user menu, no messages) so it works during the outage.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
MESSAGE = ("Rubricate cannot reach its database or task queue right now (a restart or a network "
           "problem). Nothing saved before is lost. Try again in a few seconds.")
WRITE_NOTE = ("If you were saving something, send it again once this page works: submitting the "
              "same thing twice stores it once.")


def _outage_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        from kombu.exceptions import OperationalError as BrokerError

        types.append(BrokerError)
    except ImportError:  # pragma: no cover - kombu is a dependency
        pass
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        types += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(types)


OUTAGE_ERRORS = _outage_types()


def is_outage(exc: BaseException | None) -> bool:
    """A database or broker connection problem (transient), as opposed to a bug."""
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response(request: HttpRequest, exc: BaseException | None = None) -> HttpResponse:
    """503 with Retry-After: JSON under /api/, a fragment for htmx, else a page."""
    log.warning("answering 503 to %s %s: %s: %s", request.method, request.path,
                type(exc).__name__ if exc else "outage", exc)
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    if request.path.startswith("/api/"):
        data = {"error": "unavailable", "message": MESSAGE}
        if writing:
            data["message"] += " " + WRITE_NOTE
        response: HttpResponse = JsonResponse(data, status=503)
    else:
        context = {"message": MESSAGE, "write_note": WRITE_NOTE if writing else "",
                   "retry_after": RETRY_AFTER_SECONDS, "path": request.get_full_path()}
        fragment = bool(request.headers.get("HX-Request"))
        html = render_to_string("503.html#outage" if fragment else "503.html", context)
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class OutageMiddleware:
    """Turn a database or broker outage raised by a view into a clean 503 (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception):
        if not is_outage(exc):
            return None
        return outage_response(request, exc)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage raised outside a view is still a 503; anything else is a plain 500."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        return outage_response(request, exc)
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "server_error", "message": "Something went wrong on our side."}, status=500)
    return HttpResponse(render_to_string("500.html"), status=500)
