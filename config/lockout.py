"""What a locked-out login sees (django-axes calls this): the login page with a clear message,
status 429 and `Retry-After` in seconds."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    seconds = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = max(1, math.ceil(seconds / 60))
    message = (f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
               "or ask an administrator to unlock the account.")
    context = {"form": AuthenticationForm(request), "next": request.POST.get("next", ""), "lockout_message": message}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
