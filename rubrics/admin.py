from django.contrib import admin

from .models import Criterion, RubricEvent, RubricSet, RubricVersion


class CriterionInline(admin.TabularInline):
    model = Criterion
    extra = 0
    fields = ["position", "key", "title", "kind", "importance", "points", "scale", "tags"]


@admin.register(RubricSet)
class RubricSetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(RubricVersion)
class RubricVersionAdmin(admin.ModelAdmin):
    list_display = ["rubric_set", "number", "status", "published_at", "content_hash"]
    list_filter = ["status"]
    inlines = [CriterionInline]
    readonly_fields = ["content_hash", "published_at", "published_by", "archived_at", "revision"]

    def has_change_permission(self, request, obj=None):
        # Published versions are frozen (the database refuses too); edit drafts in the editor.
        if obj is not None and obj.is_frozen:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_frozen:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(RubricEvent)
class RubricEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "rubric_set", "version", "actor", "action"]
    list_filter = ["action"]
    readonly_fields = [f.name for f in RubricEvent._meta.fields]
