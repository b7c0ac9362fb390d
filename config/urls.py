from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from annotator import views as annotator_views
from config import health
from config import views as config_views

# The one <style> element Swagger UI inserts (see the docs route below).
SWAGGER_STYLE_HASH = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("annotator.api.urls")),
    path("", include("rubrics.api.urls")),
    path("", include("scoring.api.urls")),
    path("", include("exports.api.urls")),
    path("", include("insights.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script: CSP). Swagger
    # UI (the vendored sidecar build) inserts one fixed <style> element: this page allows exactly
    # that one by its hash; every other inline style and every inline script stays refused.
    path("docs/", csp_update({"style-src": [SWAGGER_STYLE_HASH]})(
        SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
]

urlpatterns = [
    # Answered by config.health.HealthCheckMiddleware before routing; listed here to be found.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", annotator_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/", include("annotator.urls")),
    path("projects/", include("exports.urls")),
    path("projects/<int:project_id>/insights/", include("insights.urls")),
    path("rubrics/", include("rubrics.urls")),
    path("scoring/", include("scoring.urls")),
    path("account/", include("accounts.urls")),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links; the icon itself is a static file.
    path("favicon.ico", config_views.favicon),
]

handler404 = "config.views.not_found"
# A database or broker outage raised outside a view (a middleware) is a 503 too (config/outage.py).
handler500 = "config.outage.server_error"
