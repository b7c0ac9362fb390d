from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("", views.index, name="index"),
    path("scorers/new/", views.scorer_create, name="scorer_create"),
    path("scorers/<int:scorer_id>/", views.scorer_edit, name="scorer_edit"),
    path("projects/<int:project_id>/runs/", views.project_runs, name="project_runs"),
    path("projects/<int:project_id>/runs/start/", views.run_start, name="run_start"),
    path("projects/<int:project_id>/probes/", views.project_probes, name="project_probes"),
    path("projects/<int:project_id>/probes/start/", views.probe_start, name="probe_start"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/retry/", views.run_retry, name="run_retry"),
]
