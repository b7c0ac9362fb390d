from django.urls import path

from . import views

version = "rubric-sets/<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path("rubric-sets/", views.RubricSetListApi.as_view(), name="api-rubric-set-list"),
    path("rubric-sets/import/", views.RubricImportApi.as_view(), name="api-rubric-import"),
    path("rubric-sets/<slug:slug>/", views.RubricSetDetailApi.as_view(), name="api-rubric-set-detail"),
    path("rubric-sets/<slug:slug>/history/", views.RubricSetHistoryApi.as_view(), name="api-rubric-set-history"),
    path("rubric-sets/<slug:slug>/versions/", views.RubricVersionCreateApi.as_view(), name="api-rubric-version-create"),
    path(version, views.RubricVersionDetailApi.as_view(), name="api-rubric-version-detail"),
    path(version + "publish/", views.RubricVersionPublishApi.as_view(), name="api-rubric-version-publish"),
    path(version + "archive/", views.RubricVersionArchiveApi.as_view(), name="api-rubric-version-archive"),
    path(version + "unarchive/", views.RubricVersionUnarchiveApi.as_view(), name="api-rubric-version-unarchive"),
    path(version + "export/", views.RubricVersionExportApi.as_view(), name="api-rubric-version-export"),
    path(version + "diff/<int:other>/", views.RubricVersionDiffApi.as_view(), name="api-rubric-version-diff"),
]
