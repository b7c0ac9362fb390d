"""Account pages.

- /account/tokens/: personal API tokens. A new token's secret is shown once, in the answer to the
  POST that created it (never stored, never redirected through a session), with no-store caching.
- /account/invite/<secret>/: an invitation link; the invitee sets a password and lands in the app.
- /account/users/: site admins list, invite, deactivate and reactivate accounts and grant site admin.
  A new invitation link is shown once, like a token.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from annotator.access import require_site_admin
from config.errors import ApplicationError

from .forms import UserInviteForm
from .selectors import (
    USER_LIST_LIMIT,
    api_token_get_for_user,
    api_token_list_for_user,
    api_token_status,
    invite_get_by_secret,
    invite_problem,
    user_get,
    user_list,
)
from .services import (
    InviteLink,
    api_token_create,
    api_token_revoke,
    invite_email_send,
    invite_reissue,
    user_invite,
    user_set_active,
    user_set_site_admin,
)
from .services import invite_accept as invite_accept_service

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



# --- Invitations and users -------------------------------------------------------------------


def invite_deliver(request, link: InviteLink, *, project_name: str = "") -> dict:
    """Build the invitation's absolute URL and email it; the context of templates/accounts/_invite_link.html.

    The link is shown once, in the answer to the POST that created it (like a new API token);
    the email goes through Django's email backend (console by default)."""
    url = request.build_absolute_uri(reverse("account:invite_accept", args=[link.secret]))
    emailed = invite_email_send(invite=link.invite, url=url, invited_by=request.user, project_name=project_name)
    return {"invite": link.invite, "invitee": link.invite.user, "url": url, "emailed": emailed}


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def invite_accept(request, secret: str):
    """Where an invitation link leads: set a password, then land (logged in) where the inviter chose."""
    invite = invite_get_by_secret(secret=secret)
    problem = invite_problem(invite=invite)
    if problem:
        return render(request, "accounts/invite_accept.html", {"problem": problem}, status=410 if invite else 404)
    form = SetPasswordForm(invite.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            accepted = invite_accept_service(secret=secret, password=form.cleaned_data["new_password1"])
        except ApplicationError as exc:
            if exc.status == 410:
                return render(request, "accounts/invite_accept.html", {"problem": exc.message}, status=410)
            form.add_error("new_password2", exc.message)
        else:
            login(request, accepted.user, backend="accounts.backends.UserBackend")
            messages.success(request, f"Welcome, {accepted.user.get_username()}: your password is set. "
                                      "Log in with it from now on.")
            target = accepted.landing_url
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
                target = reverse("home")
            return redirect(target)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/invite_accept.html", {"invite": invite, "form": form}, status=status)


def _users_page(request, *, form: UserInviteForm | None = None, created: dict | None = None, status: int = 200):
    search = request.GET.get("q", "").strip()[:150]
    context = {"users": user_list(search=search), "users_limit": USER_LIST_LIMIT, "search": search,
               "form": form or UserInviteForm(),
               "created": created, "invite_days": settings.INVITE_LINK_DAYS}
    return render(request, "accounts/users.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def users(request):
    """Site admins: every account, with invitations, deactivation and site admin rights."""
    require_site_admin(request.user, "manage users")
    if request.method == "GET":
        return _users_page(request)
    form = UserInviteForm(request.POST)
    if form.is_valid():
        try:
            link = user_invite(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                               site_admin=form.cleaned_data["site_admin"], actor=request.user,
                               landing_url=reverse("home"))
        except ApplicationError as exc:
            form.add_error("username" if "username" in exc.fields else None, exc.message)
        else:
            return _users_page(request, created=invite_deliver(request, link))
    return _users_page(request, form=form, status=400)


@never_cache
@login_required
@require_POST
def user_invite_link(request, user_id: int):
    """A new invitation link for an account that has not joined; the old link stops working."""
    require_site_admin(request.user, "manage users")
    user = user_get(user_id=user_id)
    try:
        link = invite_reissue(user=user, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("account:users")
    return _users_page(request, created=invite_deliver(request, link))


@login_required
@require_POST
def user_active(request, user_id: int):
    require_site_admin(request.user, "manage users")
    user = user_get(user_id=user_id)
    active = request.POST.get("active") == "1"
    try:
        user_set_active(user=user, active=active, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.get_username()} can log in again." if active else
                         f"{user.get_username()} is deactivated: no more logins or API calls; their work stays.")
    return redirect("account:users")


@login_required
@require_POST
def user_site_admin(request, user_id: int):
    require_site_admin(request.user, "manage users")
    user = user_get(user_id=user_id)
    site_admin = request.POST.get("site_admin") == "1"
    try:
        user_set_site_admin(user=user, site_admin=site_admin, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{user.get_username()} is {'now' if site_admin else 'no longer'} a site admin.")
    return redirect("account:users")
