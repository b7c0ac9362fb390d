from django.http import JsonResponse
from django.shortcuts import render


def not_found(request, exception=None):
    if request.path.startswith("/api/"):  # API clients get the API's JSON error shape, never a page
        return JsonResponse({"error": "not_found", "message": "No such endpoint."}, status=404)
    return render(request, "404.html", status=404)
