from django.urls import path

from . import views

app_name = "rubrics"

version = "<slug:slug>/v/<int:number>/"
criterion = version + "criteria/<int:criterion_id>/"

urlpatterns = [
    path("", views.set_list, name="set_list"),
    path("new/", views.set_new, name="set_new"),
    path("import/", views.rubric_import, name="import"),
    path("<slug:slug>/", views.set_detail, name="set_detail"),
    path("<slug:slug>/edit/", views.set_edit, name="set_edit"),
    path("<slug:slug>/history/", views.set_history, name="set_history"),
    path("<slug:slug>/new-draft/", views.set_new_draft, name="set_new_draft"),
    path("<slug:slug>/compare/", views.set_compare, name="set_compare"),
    path(version, views.version_detail, name="version_detail"),
    path(version + "preview/", views.version_preview, name="version_preview"),
    path(version + "export/", views.version_export, name="version_export"),
    path(version + "publish/", views.version_publish, name="version_publish"),
    path(version + "archive/", views.version_archive, name="version_archive"),
    path(version + "unarchive/", views.version_unarchive, name="version_unarchive"),
    path(version + "discard/", views.version_discard, name="version_discard"),
    path(version + "notes/", views.version_notes, name="version_notes"),
    path(version + "criteria/", views.criterion_add, name="criterion_add"),
    path(version + "criteria/order/", views.criteria_reorder, name="criteria_reorder"),
    path(criterion, views.criterion_row, name="criterion_row"),
    path(criterion + "edit/", views.criterion_edit, name="criterion_edit"),
    path(criterion + "delete/", views.criterion_delete, name="criterion_delete"),
    path(criterion + "duplicate/", views.criterion_duplicate, name="criterion_duplicate"),
]
