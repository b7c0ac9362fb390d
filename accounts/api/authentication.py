import time

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import api_token_authenticate


def _failure_key(request) -> str:
    window = int(time.time()) // settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    return f"bearer-failures:{get_client_ip_address(request)}:{window}"


def _retry_after() -> int:
    period = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    return period - int(time.time()) % period


def _refuse_if_throttled(request) -> None:
    """Guessing tokens: after API_TOKEN_FAILURE_LIMIT failed tokens from one address within the
    window, every Bearer request from there answers 429 with Retry-After until the window ends."""
    if (cache.get(_failure_key(request)) or 0) >= settings.API_TOKEN_FAILURE_LIMIT:
        raise exceptions.Throttled(wait=_retry_after(), detail="Too many invalid API tokens from this address.")


def _record_failure(request) -> None:
    key = _failure_key(request)
    if not cache.add(key, 1, timeout=settings.API_TOKEN_FAILURE_WINDOW_SECONDS + 1):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.API_TOKEN_FAILURE_WINDOW_SECONDS + 1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer rbk_<prefix>_<secret>` with a personal API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        _refuse_if_throttled(request)
        token = api_token_authenticate(raw=raw) if raw else None
        if token is None:
            _record_failure(request)
            message = "Invalid, expired or revoked token." if raw else "Empty bearer token."
            raise exceptions.AuthenticationFailed(message)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Personal API token (rbk_…)."}
