"""The page-or-partial choice of every htmx view, written once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def render_htmx(request: HttpRequest, template: str, context: dict, *, partial: str | None = None,
                status: int = 200) -> HttpResponse:
    """Render the whole page, or `template#partial` when htmx asked (and a partial is named).

    An htmx answer keeps status 200: htmx swaps only 2xx answers by default, and an error shown
    inside the fragment (a form with its errors, a notice) is what the user should see.
    """
    if partial and getattr(request, "htmx", False):
        return render(request, f"{template}#{partial}", context)
    return render(request, template, context, status=status)
