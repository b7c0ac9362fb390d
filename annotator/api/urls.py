from django.urls import path

from . import annotate, items, views

urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="api-project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<int:project_id>/items/import", items.ItemImportApi.as_view(), name="api-items-import"),
    path("projects/<int:project_id>/items/", views.ItemListApi.as_view(), name="api-item-list"),
    path("projects/<int:project_id>/items/<int:item_id>/", views.ItemDetailApi.as_view(), name="api-item-detail"),
    path("projects/<int:project_id>/judgments/", views.JudgmentListApi.as_view(), name="api-judgment-list"),
    path("projects/<int:project_id>/judgments/import", items.JudgmentImportApi.as_view(),
         name="api-judgments-import"),
    path("projects/<int:project_id>/annotate/next", annotate.AnnotateNextApi.as_view(), name="api-annotate-next"),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/submit", annotate.AnnotateSubmitApi.as_view(),
         name="api-annotate-submit"),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/skip", annotate.AnnotateSkipApi.as_view(),
         name="api-annotate-skip"),
    path("projects/<int:project_id>/assignments/<int:assignment_id>/heartbeat",
         annotate.AnnotateHeartbeatApi.as_view(), name="api-annotate-heartbeat"),
    path("projects/<int:project_id>/judgments/<int:judgment_id>/", views.JudgmentDetailApi.as_view(),
         name="api-judgment-detail"),
    path("projects/<int:project_id>/agreement", views.AgreementApi.as_view(), name="api-agreement"),
]
