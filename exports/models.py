from django.conf import settings
from django.db import models


class ExportJob(models.Model):
    """A file export written in the background (Parquet), downloaded when ready.

    A worker claims the job under a lease (`exports.jobs.export_job_claim`): one worker writes it
    even when two get the message; a lease that ran out means its worker died and another may
    take the job over.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    export_format = models.CharField(max_length=32)
    file_format = models.CharField(max_length=16, default="parquet")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    file_path = models.CharField(max_length=500, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # The claim: the worker holding an unexpired lease writes the file, renewing the lease as it goes.
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export job {self.pk} ({self.export_format}.{self.file_format}, {self.status})"
