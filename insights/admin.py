from django.contrib import admin

from .models import InsightsSnapshot


@admin.register(InsightsSnapshot)
class InsightsSnapshotAdmin(admin.ModelAdmin):
    list_display = ("project", "status", "progress", "computed_at", "compute_seconds", "judgments")
    list_filter = ("status",)
    readonly_fields = [f.name for f in InsightsSnapshot._meta.fields]
