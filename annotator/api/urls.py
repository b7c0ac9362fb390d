from django.urls import path

from . import views

urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="api-project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="api-project-detail"),
]
