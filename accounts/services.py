"""Writes for personal API tokens: created (secret shown once), stored as a sha256, revoked; the
Bearer lookup stamps the last use."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from config.errors import ApplicationError

from .models import ApiToken
from .selectors import api_token_status

TOKEN_PREFIX = "rbk"  # noqa: S105 - a public marker, not a secret


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a personal API token. Returns the row and the full token, which is never stored."""
    if not name.strip():
        raise ApplicationError("Give the token a name.", fields={"name": "required"})
    if len(name.strip()) > ApiToken._meta.get_field("name").max_length:
        raise ApplicationError("The name is too long (100 characters at most).", fields={"name": "too long"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", fields={"expires_at": "in the past"})
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip(), prefix=prefix, token_hash=_token_hash(secret), expires_at=expires_at
    )
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token at once (idempotent): every later request with it gets 401."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token matching `raw` (`rbk_<prefix>_<secret>`), or None. Stamps its last use."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.token_hash, _token_hash(parts[2])):
        return None
    now = timezone.now()
    if api_token_status(token=token, now=now) != "active" or not token.user.is_active:
        return None
    # Coarse last-use stamp: one write a minute at most per token.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
