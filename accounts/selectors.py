"""Reads of personal API tokens: nobody lists or fetches another user's tokens."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from .models import ApiToken


def api_token_status(*, token: ApiToken, now: datetime | None = None) -> str:
    """active | expired | revoked."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or timezone.now()):
        return "expired"
    return "active"


def api_token_list_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (nobody lists another user's tokens)."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def api_token_get_for_user(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """The user's own token, else 404 (another user's token id is indistinguishable from none)."""
    token = api_token_list_for_user(user=user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token
