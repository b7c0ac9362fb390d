"""Refuse what no field of ours may hold before any view sees it.

PostgreSQL text cannot hold NUL (`\\x00`): a query such as `?q=%00` reached the database and
answered 500. Django's form fields refuse NUL, but query parameters read directly, and every
future view, get the same answer here: 400 naming the parameter.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = _nul_parameter(request)
        if name is not None:
            message = f"{name}: contains a NUL character (\\u0000)."
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "invalid", "message": message, "fields": {name: "contains NUL"}},
                                    status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _nul_parameter(request: HttpRequest) -> str | None:
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return key.replace("\x00", "\\u0000")
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded",
                                                             "multipart/form-data"):
        for key, values in request.POST.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return key.replace("\x00", "\\u0000")
    return None
