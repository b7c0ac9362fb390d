"""Writes of the Insights app: (re)computing a project's snapshot, and a rubric draft with the
suggested weights. Insights reads the project's data; these are its only writes.

Computing: `insights_refresh` marks the snapshot queued and enqueues the Celery task after the
commit (always: even a small project's computation, with its bootstrap refits and the first import
of scipy and scikit-learn, takes more than the second a request may spend). The task claims the
row with a conditional UPDATE and a lease (a second delivery of the same task, or a second worker,
finds nothing to claim), streams the computation, and stores every section at once. Progress is
written through a connection of its own, so the page sees it while the computation's snapshot
transaction is still open.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from annotator.models import Project
from config.errors import ApplicationError

from .models import InsightsSnapshot

log = logging.getLogger(__name__)
Status = InsightsSnapshot.Status

LEASE = timedelta(minutes=5)
PROGRESS_INTERVAL_S = 1.0


def insights_refresh(*, project: Project, user: AbstractBaseUser | None) -> InsightsSnapshot:
    """Queue a computation of the project's Insights (a Celery task, after the commit). Idempotent
    while one is queued or running: a double click, or a second admin, starts nothing new."""
    from .tasks import insights_compute_task

    now = timezone.now()
    with transaction.atomic():
        snapshot, _ = InsightsSnapshot.objects.select_for_update().get_or_create(project=project)
        live = snapshot.status == Status.QUEUED or (
            snapshot.status == Status.RUNNING and snapshot.lease_expires_at and snapshot.lease_expires_at > now
        )
        if live:
            return snapshot
        snapshot.status, snapshot.stage, snapshot.progress, snapshot.error = Status.QUEUED, "Queued", 0.0, ""
        snapshot.requested_by = user if user is not None and user.is_authenticated else None
        snapshot.requested_at, snapshot.lease_expires_at = now, None
        snapshot.save(
            update_fields=[
                "status",
                "stage",
                "progress",
                "error",
                "requested_by",
                "requested_at",
                "lease_expires_at",
                "updated_at",
            ]
        )
        transaction.on_commit(lambda: insights_compute_task.delay(snapshot.pk))
    return snapshot


def _claim(snapshot_id: int) -> bool:
    now = timezone.now()
    return bool(
        InsightsSnapshot.objects.filter(
            Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now),
            pk=snapshot_id,
        ).update(status=Status.RUNNING, stage="Starting", progress=0.0, started_at=now, lease_expires_at=now + LEASE)
    )


class _ProgressWriter:
    """Writes the stage and progress (and renews the lease) at most once a second, through a
    connection of its own on PostgreSQL (the computation's snapshot transaction is read-only and
    its writes would not show until the end)."""

    def __init__(self, snapshot_id: int):
        self.snapshot_id = snapshot_id
        self.last = 0.0
        # Inside a transaction that is already open (a test, ATOMIC_REQUESTS) the computation joins
        # it and is not read-only: progress goes through the same connection.
        separate = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.own = connections.create_connection("default") if separate else None

    def __call__(self, stage: str, fraction: float) -> None:
        if time.monotonic() - self.last < PROGRESS_INTERVAL_S and fraction < 1:
            return
        self.last = time.monotonic()
        now = timezone.now()
        values = [stage[:200], min(max(fraction, 0.0), 1.0), now + LEASE, now, self.snapshot_id, Status.RUNNING]
        sql = (
            f"UPDATE {InsightsSnapshot._meta.db_table} SET stage = %s, progress = %s, lease_expires_at = %s, "
            "updated_at = %s WHERE id = %s AND status = %s"
        )
        if self.own is not None:
            with self.own.cursor() as cursor:
                cursor.execute(sql, values)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, values)

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


def insights_snapshot_compute(*, snapshot_id: int) -> str:
    """The task's body: claim the snapshot, compute, store. A no-op when someone else holds it."""
    from .compute import insights_compute

    if not _claim(snapshot_id):
        return "not claimed"
    snapshot = InsightsSnapshot.objects.select_related("project").filter(pk=snapshot_id).first()
    if snapshot is None:
        return "gone"
    writer = _ProgressWriter(snapshot_id)
    started = time.perf_counter()
    try:
        sections = insights_compute(project=snapshot.project, progress=writer)
    except (OperationalError, InterfaceError):
        # Transient (the database restarted): back in the queue for the task's retry to claim.
        InsightsSnapshot.objects.filter(pk=snapshot_id).update(
            status=Status.QUEUED, stage="Retrying", lease_expires_at=None
        )
        raise
    except Exception as exc:
        log.exception("insights of project %s failed", snapshot.project_id)
        InsightsSnapshot.objects.filter(pk=snapshot_id).update(
            status=Status.FAILED,
            stage="",
            lease_expires_at=None,
            error=f"The computation failed ({type(exc).__name__}); the worker log has the details.",
        )
        raise
    finally:
        writer.close()
    InsightsSnapshot.objects.filter(pk=snapshot_id).update(
        status=Status.DONE,
        stage="",
        progress=1.0,
        lease_expires_at=None,
        error="",
        computed_at=timezone.now(),
        compute_seconds=round(time.perf_counter() - started, 3),
        judgments=sections["summary"]["judgments"],
        **sections,
    )
    return "done"


@transaction.atomic
def rubric_draft_from_suggested_weights(*, project: Project, actor: AbstractBaseUser):
    """A new draft of the project's rubric with the suggested points of the stored snapshot, for an
    admin to review and publish (rubrics' own services: one draft per set, history recorded).

    A criterion whose suggested sign differs from its points changes importance with it (negative
    points are a pitfall). Raises ConflictError when the set already has a draft.
    """
    from annotator.access import require_site_admin
    from rubrics.selectors import rubric_version_content
    from rubrics.services import rubric_draft_create, rubric_draft_replace

    require_site_admin(actor, "edit rubrics")
    snapshot = InsightsSnapshot.objects.filter(project=project, computed_at__isnull=False).only("rubric").first()
    version = project.rubric_version
    rubric = snapshot.rubric if snapshot is not None else {}
    if version is None or rubric.get("rubric_version_id") != version.pk:
        raise ApplicationError("Compute Insights for the project's current rubric version first.")
    suggested = {
        c["criterion"]: c["suggested_points"]
        for c in rubric.get("criteria", [])
        if c.get("suggested_points") is not None
    }
    if not suggested:
        raise ApplicationError(
            "There are no suggested weights yet: they need judgments that score every "
            "criterion of both responses and prefer one of them."
        )
    draft = rubric_draft_create(rubric_set=version.rubric_set, actor=actor, from_version=version)
    content = rubric_version_content(version=draft)
    changed = []
    for criterion in content["criteria"]:
        points = suggested.get(criterion["key"])
        if points is None or points == criterion["points"]:
            continue
        changed.append(f"{criterion['key']} {criterion['points']} → {points}")
        criterion["points"] = points
        if points < 0:
            criterion["importance"] = "pitfall"
        elif criterion["importance"] == "pitfall":
            criterion["importance"] = "important"
    fit = rubric.get("fit", {})
    notes = (
        f"Weights suggested by Insights of project “{project.name}” (computed from "
        f"{fit.get('judgments', 0):,} preferences): " + ("; ".join(changed) or "no change") + "."
    )
    edit = rubric_draft_replace(
        version=draft, notes=notes, criteria=content["criteria"], expected_revision=draft.revision, actor=actor
    )
    return edit.version
