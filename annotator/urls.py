from django.urls import path

from . import views, views_annotate, views_review

app_name = "annotator"

urlpatterns = [
    path("new/", views.project_new, name="project_new"),
    path("rubric/<slug:slug>/v/<int:number>/move/", views.rubric_switch, name="rubric_switch"),
    path("<int:project_id>/", views.project_detail, name="project_detail"),
    path("<int:project_id>/settings/", views.project_settings, name="project_settings"),
    path("<int:project_id>/members/", views.project_members, name="project_members"),
    path("<int:project_id>/members/invite/", views.member_invite, name="member_invite"),
    path("<int:project_id>/members/<int:user_id>/invite/", views.member_invite_link, name="member_invite_link"),
    path("<int:project_id>/members/<int:user_id>/role/", views.member_role, name="member_role"),
    path("<int:project_id>/members/<int:user_id>/remove/", views.member_remove, name="member_remove"),
    path("<int:project_id>/import/", views.item_import, name="item_import"),
    path("<int:project_id>/items/", views.item_list, name="item_list"),
    path("<int:project_id>/items/<int:item_id>/", views.item_detail, name="item_detail"),
    path("<int:project_id>/items/<int:item_id>/gold/", views.item_gold, name="item_gold"),
    path("<int:project_id>/gold/", views.gold_report, name="gold_report"),
    # The comparison page and its actions.
    path("<int:project_id>/annotate/", views_annotate.annotate, name="annotate"),
    path("<int:project_id>/annotate/undo/", views_annotate.annotate_undo, name="annotate_undo"),
    path("<int:project_id>/annotate/<int:assignment_id>/submit/", views_annotate.annotate_submit,
         name="annotate_submit"),
    path("<int:project_id>/annotate/<int:assignment_id>/skip/", views_annotate.annotate_skip, name="annotate_skip"),
    path("<int:project_id>/annotate/<int:assignment_id>/heartbeat/", views_annotate.annotate_heartbeat,
         name="annotate_heartbeat"),
    # Review.
    path("<int:project_id>/review/", views_review.review_list, name="review_list"),
    path("<int:project_id>/review/<int:item_id>/", views_review.review_item, name="review_item"),
    path("<int:project_id>/review/<int:item_id>/clear/", views_review.review_clear, name="review_clear"),
]
