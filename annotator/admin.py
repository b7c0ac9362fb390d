from django.contrib import admin

from .models import (
    Adjudication,
    Assignment,
    CriterionJudgment,
    Item,
    Judgment,
    Project,
    ProjectMembership,
    Response,
)


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "rubric_version", "overlap", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "submitted_count", "is_gold", "created_at"]
    list_filter = ["project", "is_gold"]
    search_fields = ["external_id"]
    inlines = [ResponseInline]
    list_select_related = ["project"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "status", "leased_at", "lease_expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["item"]


class CriterionJudgmentInline(admin.TabularInline):
    model = CriterionJudgment
    extra = 0
    raw_id_fields = ["response", "criterion"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "preference", "both_bad", "rubric_version", "submitted_at"]
    raw_id_fields = ["item", "assignment"]
    inlines = [CriterionJudgmentInline]


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["item", "reviewer", "preference", "both_bad", "created_at"]
    raw_id_fields = ["item"]
