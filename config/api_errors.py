"""The API's side of the domain error mapping: every error is JSON {"error", "message", "fields"?}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .errors import ApplicationError


def _flatten(detail, prefix: str = "") -> dict[str, str]:
    """DRF error detail (nested dicts/lists) → {"a.b[0].c": "message"}."""
    out: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = key if not prefix else (f"{prefix}.{key}" if key != "non_field_errors" else prefix)
            out.update(_flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            out[prefix or "non_field_errors"] = " ".join(str(v) for v in detail)
        else:
            for i, value in enumerate(detail):
                if value:
                    out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "non_field_errors"] = str(detail)
    return out


def api_exception_handler(exc, context):
    """JSON errors everywhere in the API: {"error", "message", "fields"?}."""
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status)
    # Django's own exceptions carry no DRF code; name them as DRF would.
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), ("", "invalid input"))
        message = f"{first[0]}: {first[1]}" if first[0] and first[0] != "non_field_errors" else first[1]
        response.data = {"error": "invalid", "message": message, "fields": fields}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
        response.data = {"error": code, "message": str(detail)}
    return response


# --- The schema side: what every error looks like in the OpenAPI document --------------------


class ErrorSerializer(serializers.Serializer):
    """Every error of the API (api_exception_handler above)."""

    error = serializers.CharField(help_text="A short code: invalid, not_found, not_authenticated, throttled, …")
    message = serializers.CharField(help_text="What went wrong and what to do, for people.")
    fields = serializers.DictField(child=serializers.CharField(), required=False,
                                   help_text='Field paths to messages, e.g. {"min_agreement": "must be …"}.')


_ERROR_TEXT = {
    400: "Invalid parameters; `fields` names each one at fault.",
    401: "No, an invalid, an expired or a revoked token.",
    404: "No such object, or not yours: a project you do not belong to (or lack the role for) is a 404.",
    409: "Not possible in the current state (e.g. the export is not done yet).",
    429: "Too many exports or imports; `Retry-After` says when to try again.",
}


def error_responses(*codes: int) -> dict:
    """OpenAPI responses for the given error statuses (401 and 404 always)."""
    from drf_spectacular.utils import OpenApiResponse

    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code])
            for code in sorted({401, 404, *codes})}
