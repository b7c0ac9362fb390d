"""Output serializers of the export API (the input is exports.params.ExportParamsSerializer)."""

from django.urls import reverse
from rest_framework import serializers

from exports.models import ExportJob
from exports.rows import export_cursor


class ExportCountOutputSerializer(serializers.Serializer):
    format = serializers.CharField()
    rows = serializers.IntegerField()


class ExportJobOutputSerializer(serializers.ModelSerializer):
    format = serializers.CharField(source="export_format")
    requested_by = serializers.CharField(source="requested_by.username")
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="Set once the job is done.")
    cursor = serializers.SerializerMethodField(
        help_text="The submitted_after to pass to the next incremental export after this file.")

    class Meta:
        model = ExportJob
        fields = ["id", "status", "format", "file_format", "params", "row_count", "error", "requested_by",
                  "created_at", "finished_at", "status_url", "download_url", "cursor"]

    def _url(self, name, obj) -> str:
        path = reverse(name, kwargs={"project_id": obj.project_id, "job_id": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_status_url(self, obj) -> str:
        return self._url("api-export-job-detail", obj)

    def get_cursor(self, obj) -> str:
        # The job reads its snapshot after it was requested: the request time is a safe start.
        return export_cursor(started=obj.created_at)

    def get_download_url(self, obj) -> str | None:
        return self._url("api-export-job-download", obj) if obj.status == ExportJob.Status.DONE else None
