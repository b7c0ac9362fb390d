from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("<int:project_id>/export/", views.export_page, name="page"),
    path("<int:project_id>/export/download", views.export_download, name="download"),
    # The fragments the page loads (htmx).
    path("<int:project_id>/export/count", views.export_count_fragment, name="count"),
    path("<int:project_id>/export/agreement", views.export_agreement_fragment, name="agreement"),
    path("<int:project_id>/export/jobs/<int:job_id>", views.export_job_fragment, name="job"),
]
