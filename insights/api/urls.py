from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/insights/", views.InsightsApi.as_view(), name="api-insights"),
    path("projects/<int:project_id>/insights/refresh", views.InsightsRefreshApi.as_view(), name="api-insights-refresh"),
    path(
        "projects/<int:project_id>/insights/tables/<slug:table>",
        views.InsightsTableApi.as_view(),
        name="api-insights-table",
    ),
]
