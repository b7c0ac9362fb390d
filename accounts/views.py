"""/account/tokens/: personal API tokens. A new token's secret is shown once, in the answer to the
POST that created it (never stored, never redirected through a session), with no-store caching.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError

from .selectors import api_token_get_for_user, api_token_list_for_user, api_token_status
from .services import api_token_create, api_token_revoke

EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never")]
DEFAULT_EXPIRY = "90"


def _context(request, **extra) -> dict:
    tokens = list(api_token_list_for_user(user=request.user))
    now = timezone.now()
    for token in tokens:
        token.status = api_token_status(token=token, now=now)
    return {"tokens": tokens, "expiry_choices": EXPIRY_CHOICES, "expiry": DEFAULT_EXPIRY, **extra}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    if request.method == "GET":
        return render(request, "accounts/tokens.html", _context(request))
    name = request.POST.get("name", "")
    expiry = request.POST.get("expires_in", DEFAULT_EXPIRY)
    if expiry not in dict(EXPIRY_CHOICES):
        error = ApplicationError("Pick an expiry from the list.", fields={"expires_in": "unknown choice"})
        return render(request, "accounts/tokens.html", _context(request, error=error, name=name), status=400)
    expires_at = None if expiry == "never" else timezone.now() + timedelta(days=int(expiry))
    try:
        token, secret = api_token_create(user=request.user, name=name, expires_at=expires_at)
    except ApplicationError as error:
        return render(request, "accounts/tokens.html",
                      _context(request, error=error, name=name, expiry=expiry), status=400)
    return render(request, "accounts/tokens.html", _context(request, created=token, secret=secret))


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = api_token_get_for_user(user=request.user, token_id=token_id)
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked: requests with it now get 401.")
    return redirect("account:tokens")

