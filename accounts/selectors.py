"""Reads of the accounts app: personal API tokens (nobody lists or fetches another user's),
invitations and the site admin's user list."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from .models import ApiToken, Invite


def secret_hash(secret: str) -> str:
    """sha256 of a token's or an invitation link's secret: all that is stored of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


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


# --- Users and invitations -------------------------------------------------------------------

INVITE_UNKNOWN = "This invitation link is not valid. Check that you copied all of it."
INVITE_USED = "This invitation link was used already: log in with the password you set."
INVITE_REPLACED = "This invitation link was replaced by a newer one: use the newest link you were sent."
INVITE_EXPIRED = "This invitation link has expired. Ask the person who invited you for a new one."


def invite_problem(*, invite: Invite | None, now: datetime | None = None) -> str:
    """Why an invitation link cannot be used (a sentence for the invitee), or "" when it can."""
    if invite is None:
        return INVITE_UNKNOWN
    if invite.accepted_at is not None:
        return INVITE_USED
    if invite.revoked_at is not None:
        return INVITE_REPLACED
    if invite.expires_at <= (now or timezone.now()):
        return INVITE_EXPIRED
    if invite.user.is_active:  # reactivated by hand meanwhile: the link has nothing left to do
        return INVITE_USED
    return ""


def invite_get_by_secret(*, secret: str) -> Invite | None:
    """The invitation whose link carries `secret`, used or not (see invite_problem), else None."""
    return Invite.objects.select_related("user", "created_by").filter(token_hash=secret_hash(secret or "")).first()


def is_pending(user: AbstractBaseUser) -> bool:
    """An account created by an invitation that has not joined yet (no password set)."""
    return not user.is_active and not user.has_usable_password()


def account_status(*, user: AbstractBaseUser, invite: Invite | None, now: datetime | None = None) -> str:
    """active | invited | invite expired | deactivated. `invite`: the account's newest invitation."""
    if user.is_active:
        return "active"
    if is_pending(user) and invite is not None and invite.accepted_at is None and invite.revoked_at is None:
        return "invited" if invite.expires_at > (now or timezone.now()) else "invite expired"
    return "deactivated"


USER_LIST_LIMIT = 500


def user_list(*, search: str = "", limit: int = USER_LIST_LIMIT) -> list[AbstractBaseUser]:
    """Accounts for the site admin's user page, by username, each with `.invite` (the newest
    invitation or None) and `.status` (see account_status). Two queries."""
    qs = get_user_model().objects.order_by("username")
    if search:
        qs = qs.filter(Q(username__icontains=search) | Q(email__icontains=search))
    users = list(qs.prefetch_related(Prefetch("invites", queryset=Invite.objects.order_by("-created_at", "-id"),
                                              to_attr="invite_list"))[:limit])
    now = timezone.now()
    for user in users:
        user.invite = user.invite_list[0] if user.invite_list else None
        user.status = account_status(user=user, invite=user.invite, now=now)
    return users


def user_get(*, user_id: int) -> AbstractBaseUser:
    """An account by id for the site admin's pages (404 if there is none)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


def invite_latest(*, user: AbstractBaseUser) -> Invite | None:
    """The account's newest invitation, if it was ever invited."""
    return Invite.objects.filter(user=user).select_related("created_by").order_by("-created_at", "-id").first()


def account_statuses(*, users: list[AbstractBaseUser]) -> dict[int, tuple[str, Invite | None]]:
    """(status, newest invitation) per user id, for lists of members; one query for the
    accounts that are not active (active ones need none)."""
    inactive = [u.pk for u in users if not u.is_active]
    newest: dict[int, Invite] = {}
    if inactive:
        for invite in Invite.objects.filter(user_id__in=inactive).select_related("created_by").order_by(
                "user_id", "-created_at", "-id"):
            newest.setdefault(invite.user_id, invite)
    now = timezone.now()
    return {u.pk: (account_status(user=u, invite=newest.get(u.pk), now=now), newest.get(u.pk)) for u in users}
