from django.urls import path

from . import items, views

urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="api-project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<int:project_id>/items/import", items.ItemImportApi.as_view(), name="api-items-import"),
]
