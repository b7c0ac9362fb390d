from django.urls import path

from . import views

app_name = "insights"

# Included under projects/<int:project_id>/insights/ (config/urls.py).
urlpatterns = [
    path("", views.overview, name="overview"),
    path("progress/", views.progress, name="progress"),
    path("refresh/", views.refresh, name="refresh"),
    path("rubric/draft/", views.rubric_draft, name="rubric_draft"),
    path("<slug:page>/", views.section, name="section"),
]
