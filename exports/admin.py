from django.contrib import admin

from .models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["project", "export_format", "file_format", "status", "row_count", "attempts", "created_at"]
