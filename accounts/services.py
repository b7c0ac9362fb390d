"""Writes of the accounts app.

- API tokens: created (secret shown once), stored as a sha256, revoked; the Bearer lookup stamps
  the last use.
- Users and invitations: an account is created inactive with no usable password, plus a one-time
  link (stored as a sha256, shown once, emailed) with which the invitee sets a password; site
  admins deactivate and reactivate accounts and grant or take away site admin.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from config.errors import ApplicationError, ConflictError

from .models import ApiToken, Invite
from .selectors import api_token_status, invite_problem, is_pending, secret_hash

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "rbk"  # noqa: S105 - a public marker, not a secret


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
        user=user, name=name.strip(), prefix=prefix, token_hash=secret_hash(secret), expires_at=expires_at
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
    if token is None or not hmac.compare_digest(token.token_hash, secret_hash(parts[2])):
        return None
    now = timezone.now()
    if api_token_status(token=token, now=now) != "active" or not token.user.is_active:
        return None
    # Coarse last-use stamp: one write a minute at most per token.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- Users and invitations -------------------------------------------------------------------


@dataclass
class InviteLink:
    """A freshly issued invitation. `secret` goes into the link and is never stored."""

    invite: Invite
    secret: str


def _actor(actor: AbstractBaseUser | None):
    return actor if actor is not None and actor.is_authenticated else None


def _invite_issue(*, user: AbstractBaseUser, actor: AbstractBaseUser | None, landing_url: str,
                  now: datetime) -> InviteLink:
    """Revoke the account's open link, if any, and issue a new one."""
    Invite.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    secret = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        user=user, created_by=_actor(actor), token_hash=secret_hash(secret), landing_url=landing_url[:200],
        expires_at=now + timedelta(days=settings.INVITE_LINK_DAYS),
    )
    return InviteLink(invite=invite, secret=secret)


def _clean_username(username: str) -> str:
    username = (username or "").strip()
    if not username:
        raise ApplicationError("Give the new account a username.", fields={"username": "required"})
    if len(username) > 150:
        raise ApplicationError("The username is too long (150 characters at most).", fields={"username": "too long"})
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise ApplicationError("A username has letters, digits and @ . + - _ only (no spaces).",
                               fields={"username": "invalid characters"}) from None
    return username


@transaction.atomic
def user_invite(
    *, username: str, email: str = "", actor: AbstractBaseUser | None, site_admin: bool = False,
    landing_url: str = "", now: datetime | None = None,
) -> InviteLink:
    """Create an account for a new person and a one-time link with which they set its password.

    The account is inactive and has no usable password, so nobody can log in with it until the
    link is used. A username that exists already (in any letter case) is refused: add that
    account instead. `landing_url` is where the invitee lands after setting the password.
    """
    now = now or timezone.now()
    username = _clean_username(username)
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ApplicationError(f"“{email}” is not an email address.", fields={"email": "invalid"}) from None
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError(f"There is already an account named “{username}”.", fields={"username": "taken"})
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=None, is_active=False,
                                            is_staff=site_admin)
    except IntegrityError:  # created by someone else a moment ago
        raise ConflictError(f"There is already an account named “{username}”.", fields={"username": "taken"}) from None
    return _invite_issue(user=user, actor=actor, landing_url=landing_url, now=now)


@transaction.atomic
def invite_reissue(*, user: AbstractBaseUser, actor: AbstractBaseUser | None, now: datetime | None = None
                   ) -> InviteLink:
    """A new link for an account whose invitation was never accepted (lost, expired, or the
    account was deactivated before it joined). The previous link stops working at once; the new
    one lands where the last one did."""
    now = now or timezone.now()
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not is_pending(user):
        raise ConflictError(f"{user.get_username()} has set a password already; an invitation link is only for "
                            "accounts that have not joined yet.")
    last = Invite.objects.filter(user=user).order_by("-created_at", "-id").first()
    return _invite_issue(user=user, actor=actor, landing_url=last.landing_url if last else "", now=now)


@transaction.atomic
def invite_accept(*, secret: str, password: str, now: datetime | None = None) -> Invite:
    """Use an invitation link: set the account's password and activate it. The link works once.

    Refused (ApplicationError, status 410) when the link is unknown, used, replaced or expired;
    an unacceptable password is refused with the validators' messages and leaves the link usable.
    """
    now = now or timezone.now()
    invite = (Invite.objects.select_for_update(of=("self",)).select_related("user")
              .filter(token_hash=secret_hash(secret or "")).first())
    problem = invite_problem(invite=invite, now=now)
    if problem:
        raise ApplicationError(problem, status=410, code="invite_unusable")
    user = invite.user
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), fields={"password": "not accepted"}) from None
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    invite.accepted_at = now
    invite.save(update_fields=["accepted_at"])
    return invite


def invite_email_send(*, invite: Invite, url: str, invited_by: AbstractBaseUser | None = None,
                      project_name: str = "") -> bool:
    """Email the link to the invitee through Django's email backend (console by default).

    Returns False when the account has no email address or sending failed (logged); the link
    shown to whoever invited still works, so nothing is lost.
    """
    user = invite.user
    if not user.email:
        return False
    context = {"user": user, "url": url, "invited_by": invited_by, "project_name": project_name,
               "expires_at": invite.expires_at, "days": settings.INVITE_LINK_DAYS}
    subject = f"You are invited to {project_name} on Rubricate" if project_name else "You are invited to Rubricate"
    body = render_to_string("accounts/invite_email.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # SMTP errors, refused connections, timeouts: the admin hands the link over instead
        logger.exception("Could not send the invitation email to user %s", user.pk)
        return False
    return True


def _check_not_self(user: AbstractBaseUser, actor: AbstractBaseUser | None, what: str) -> None:
    if actor is not None and actor.pk == user.pk:
        raise ConflictError(f"You cannot {what} your own account; ask another site admin.")


@transaction.atomic
def user_set_active(*, user: AbstractBaseUser, active: bool, actor: AbstractBaseUser | None) -> AbstractBaseUser:
    """Deactivate an account (it can no longer log in or use its API tokens; its work stays), or
    reactivate one that had joined. An account that never set a password gets a new invitation
    link instead (`invite_reissue`)."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not active:
        _check_not_self(user, actor, "deactivate")
        Invite.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
    elif not user.has_usable_password():
        raise ConflictError(f"{user.get_username()} never set a password: issue a new invitation link instead.")
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
    return user


@transaction.atomic
def user_set_site_admin(*, user: AbstractBaseUser, site_admin: bool, actor: AbstractBaseUser | None
                        ) -> AbstractBaseUser:
    """Make an account a site admin (`is_staff`: rubric sets, scorers, projects, users) or take
    that away. Nobody takes it from themselves, so a site always keeps one."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not site_admin:
        _check_not_self(user, actor, "remove site admin from")
    if user.is_staff != site_admin:
        user.is_staff = site_admin
        user.save(update_fields=["is_staff"])
    return user
