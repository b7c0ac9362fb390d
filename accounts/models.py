"""Who you are: personal API tokens and invitations (users themselves are Django's auth users)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiToken(models.Model):
    """A personal API token. Only a sha256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, for lookup.")
    token_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invite(models.Model):
    """A one-time link that lets a new person set the password of an account created for them.

    The account is created inactive with no usable password; accepting the invite sets the
    password and activates it. Only a sha256 of the link's secret is stored (the link is shown
    once to whoever invited, and emailed). A link works once, until `expires_at`, and stops
    working when a newer link is issued for the same account (`revoked_at`).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    # Where the invitee lands once the password is set (a path on this site, e.g. the project page).
    landing_url = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open link per account: issuing a new one revokes the old one first.
            models.UniqueConstraint(fields=["user"], condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                                    name="invite_one_open_per_user"),
        ]

    def __str__(self) -> str:
        return f"invite for {self.user} ({self.created_at:%Y-%m-%d})"
