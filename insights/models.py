"""The stored result of a project's Insights: computed in the background, served as is.

One row per project. Each page's figures are a JSON column of their own, so a page reads only
its own (`.only(...)`) and a recomputation leaves the last result in view until the new one is
stored. The computation claims the row with a lease like the scoring batches: a worker that
dies mid-way leaves a lease that runs out, and the next request computes again.
"""

from django.conf import settings
from django.db import models


class InsightsSnapshot(models.Model):
    class Status(models.TextChoices):
        EMPTY = "empty", "Not computed"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Computing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.OneToOneField("annotator.Project", on_delete=models.CASCADE, related_name="insights_snapshot")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.EMPTY)
    # What the computation is doing now, and how far it is (0..1), for the progress bar.
    stage = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last finished result (kept while a newer one is computed).
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)
    judgments = models.PositiveIntegerField(default=0, help_text="Judgments the result was computed from.")
    summary = models.JSONField(default=dict, blank=True)
    agreement = models.JSONField(default=dict, blank=True)
    annotators = models.JSONField(default=dict, blank=True)
    scorers = models.JSONField(default=dict, blank=True, help_text="Model vs human, per scorer.")
    rubric = models.JSONField(default=dict, blank=True)
    leaderboard = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0) & models.Q(progress__lte=1), name="insightssnapshot_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"insights of project {self.project_id} ({self.status})"

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
