"""One error type for the domain, mapped once to HTML and once to DRF responses.

Services raise ApplicationError (or a subclass) with a message for the user and, where the
input was at fault, a dict of field paths to messages (`criteria[3].points`: "must be a number").
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class ApplicationError(Exception):
    """A domain error the user can act on. `status` is the HTTP status it maps to."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None,
                 status: int | None = None, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def as_dict(self) -> dict:
        data = {"error": self.code, "message": self.message}
        if self.fields:
            data["fields"] = self.fields
        data.update(self.extra)
        return data


class NotFoundError(ApplicationError):
    status = 404
    code = "not_found"


class PermissionDeniedError(ApplicationError):
    status = 403
    code = "permission_denied"


class ConflictError(ApplicationError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(ApplicationError):
    status = 413
    code = "too_large"


class ApplicationErrorMiddleware:
    """Render an ApplicationError that escaped a view as a page (or a fragment for htmx)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception):
        if not isinstance(exc, ApplicationError):
            return None
        template = "error.html#error-box" if getattr(request, "htmx", False) else "error.html"
        return render(request, template, {"error": exc}, status=exc.status)

