from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/export", views.ExportApi.as_view(), name="api-export"),
    path("projects/<int:project_id>/export/count", views.ExportCountApi.as_view(), name="api-export-count"),
    path("projects/<int:project_id>/exports/", views.ExportJobListApi.as_view(), name="api-export-job-list"),
    path("projects/<int:project_id>/exports/<int:job_id>/", views.ExportJobDetailApi.as_view(),
         name="api-export-job-detail"),
    path("projects/<int:project_id>/exports/<int:job_id>/download", views.ExportJobDownloadApi.as_view(),
         name="api-export-job-download"),
]
