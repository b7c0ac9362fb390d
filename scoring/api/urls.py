from django.urls import path

from . import views

urlpatterns = [
    path("scorers/", views.ScorerListApi.as_view(), name="api-scorer-list"),
    path("projects/<int:project_id>/scoring-runs/", views.ProjectRunListApi.as_view(), name="api-scoring-run-list"),
    path("projects/<int:project_id>/model-scores/", views.ModelScoreListApi.as_view(), name="api-model-score-list"),
    path("projects/<int:project_id>/scoring-report/", views.ScoringReportApi.as_view(), name="api-scoring-report"),
    path("projects/<int:project_id>/scoring-probes/", views.ProbeReportApi.as_view(), name="api-scoring-probes"),
    path("projects/<int:project_id>/rubric-scores/", views.RubricReportApi.as_view(), name="api-rubric-scores"),
    path("scoring-runs/<int:run_id>/", views.RunDetailApi.as_view(), name="api-scoring-run-detail"),
    path("scoring-runs/<int:run_id>/cancel/", views.RunCancelApi.as_view(), name="api-scoring-run-cancel"),
    path("scoring-runs/<int:run_id>/retry/", views.RunRetryApi.as_view(), name="api-scoring-run-retry"),
]
