from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static


def not_found(request, exception=None):
    if request.path.startswith("/api/"):  # API clients get the API's JSON error shape, never a page
        return JsonResponse({"error": "not_found", "message": "No such endpoint."}, status=404)
    return render(request, "404.html", status=404)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links; the icon is a static file."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))
