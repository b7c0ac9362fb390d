from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotator import views as annotator_views
from config import views as config_views

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("annotator.api.urls")),
    path("", include("rubrics.api.urls")),
    path("", include("scoring.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", annotator_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/", include("annotator.urls")),
    path("rubrics/", include("rubrics.urls")),
    path("scoring/", include("scoring.urls")),
    path("account/", include("accounts.urls")),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links; the icon itself is a static file.
    path("favicon.ico", config_views.favicon),
]

handler404 = "config.views.not_found"
