"""Parquet export jobs: queued by a request, written by a Celery worker, downloaded when done.

A job runs once even when two workers get its message (a redelivery, a duplicate): the worker
claims it with a conditional UPDATE that only one can win (`export_job_claim`), holds a lease it
renews after every record batch, and writes its final state only while it still holds the job. A
lease that ran out means the worker died: the next delivery of the message takes the job over,
up to EXPORT_JOB_MAX_ATTEMPTS claims. The file is written to a temporary name and renamed, so a
download never sees half a file.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotator.models import Project
from config.celery import broker_waiting_messages, queue_of, send_task_message
from config.errors import ApplicationError, ConflictError, NotFoundError

from .models import ExportJob
from .params import ExportParams, export_params_parse
from .writers import export_write_parquet

logger = logging.getLogger(__name__)
Status = ExportJob.Status


def export_job_lease_seconds() -> float:
    return float(settings.EXPORT_JOB_LEASE_SECONDS)


def export_job_max_attempts() -> int:
    return max(1, int(settings.EXPORT_JOB_MAX_ATTEMPTS))


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def export_root() -> Path:
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_path_is_safe(path: str | os.PathLike) -> bool:
    """True when `path` lies inside EXPORT_ROOT (a stored path is never trusted blindly)."""
    try:
        return Path(path).resolve().is_relative_to(export_root().resolve())
    except (OSError, ValueError):
        return False


def export_job_request(*, project: Project, user, params: ExportParams,
                       file_format: str = "parquet") -> tuple[ExportJob, bool]:
    """Queue a file export, or return the identical one already queued or running (so repeating the
    request, or a double click, never starts a second job). Returns (job, created)."""
    from .tasks import export_job_run_task

    if file_format != "parquet":
        raise ApplicationError("Export jobs write parquet; jsonl and csv stream directly.",
                               fields={"as": "must be parquet"})
    stored = params.as_query()
    with transaction.atomic():
        existing = (ExportJob.objects.select_for_update()
                    .filter(project=project, requested_by=user, export_format=params.export_format,
                            file_format=file_format, params=stored, status__in=[Status.QUEUED, Status.RUNNING])
                    .order_by("-created_at").first())
        if existing is not None:
            return existing, False
        job = ExportJob.objects.create(project=project, requested_by=user, export_format=params.export_format,
                                       file_format=file_format, params=stored)
        # Never raises: with the broker down the job stays queued and export_jobs_reconcile sends it.
        transaction.on_commit(lambda: send_task_message(export_job_run_task, job.pk))
    return job, True


def export_job_claim(*, job_id: int, worker: str) -> ExportJob | None:
    """Take the job: queued, or running under a lease that ran out (its worker died). A conditional
    UPDATE, so of two workers claiming at once exactly one wins; None for the other, and for a job
    that is done, failed, gone or held by a live lease. A job whose workers died
    EXPORT_JOB_MAX_ATTEMPTS times is marked failed instead of being tried again."""
    now = timezone.now()
    free = Q(status=Status.QUEUED) | Q(status=Status.RUNNING) & (
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    )
    attempts = export_job_max_attempts()
    won = ExportJob.objects.filter(free, pk=job_id, attempts__lt=attempts).update(
        status=Status.RUNNING, worker=worker, attempts=F("attempts") + 1, started_at=now, finished_at=None,
        lease_expires_at=now + timedelta(seconds=export_job_lease_seconds()), error="",
    )
    if won:
        return ExportJob.objects.select_related("project").get(pk=job_id)
    ExportJob.objects.filter(free, pk=job_id, attempts__gte=attempts).update(
        status=Status.FAILED, finished_at=now, lease_expires_at=None,
        error=f"The export stopped {attempts} times without finishing (its worker died); the worker log "
              f"may say why. Start it again, perhaps with fewer rows.",
    )
    return None


def export_jobs_reconcile(*, now=None) -> list[int]:
    """PostgreSQL is the truth for work to do; the broker only carries hints (every worker's watchdog
    runs this, config/celery.py). Jobs that wait for a message that may be gone are sent again:
    queued for more than EXPORT_JOB_RESEND_SECONDS (the broker was down when it was requested, or
    restarted empty), or running under a lease that ran out (its worker died holding the message,
    which Redis would only redeliver after the visibility timeout). Only as many as the broker's
    queue is short of, oldest first, so jobs whose messages still wait are not sent twice; a duplicate
    is harmless anyway (the claim is conditional). Returns the ids sent."""
    from .tasks import export_job_run_task

    now = now or timezone.now()
    overdue = ExportJob.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=now - timedelta(seconds=float(settings.EXPORT_JOB_RESEND_SECONDS)))
        | Q(status=Status.RUNNING, lease_expires_at__lt=now)
    )
    if not overdue.exists():
        return []
    waiting = broker_waiting_messages(queue_of(export_job_run_task))
    if waiting is None:
        return []  # the broker is down: nothing can be sent now
    outstanding = ExportJob.objects.filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=now))
    missing = outstanding.count() - waiting
    sent = []
    for job_id in overdue.order_by("created_at", "pk").values_list("pk", flat=True)[:max(0, missing)]:
        if not send_task_message(export_job_run_task, job_id):
            break
        sent.append(job_id)
    if sent:
        logger.warning("export jobs sent again (their message was lost or never sent): %s", sent)
    return sent


class _LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew its lease)."""


def export_job_run(*, job_id: int, worker: str | None = None) -> str:
    """Write the job's file; returns what happened: "done", "failed", "skipped" (finished or gone),
    "busy" (another worker holds a live lease) or "lost-lease".

    Idempotent: a job that is done or failed is left alone; one whose worker died is written again
    from the start into a fresh temporary file.
    """
    worker = worker or worker_identity()
    job = export_job_claim(job_id=job_id, worker=worker)
    if job is None:
        held = ExportJob.objects.filter(pk=job_id, status=Status.RUNNING).exclude(worker=worker).exists()
        return "busy" if held else "skipped"

    def owned():
        return ExportJob.objects.filter(pk=job.pk, status=Status.RUNNING, worker=worker)

    def renew() -> None:
        lease = timezone.now() + timedelta(seconds=export_job_lease_seconds())
        if not owned().update(lease_expires_at=lease):
            raise _LeaseLost

    directory = export_root() / f"project-{job.project_id}"
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"job-{job.pk}-{job.export_format}.{job.file_format}"
    partial = directory / f".job-{job.pk}-{secrets.token_hex(6)}.partial"
    try:
        params = export_params_parse(job.params)
        rows = export_write_parquet(project=job.project, params=params, path=partial, on_batch=renew)
        renew()
        os.replace(partial, final)  # atomic: a download never sees a half-written file
    except _LeaseLost:
        partial.unlink(missing_ok=True)
        logger.warning("export job %s: lease lost to another worker; stopped", job.pk)
        return "lost-lease"
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, ApplicationError):
            message = exc.message
        else:
            # The details (SQL, paths) stay in the worker log; the user learns what kind of failure.
            logger.exception("export job %s failed", job.pk)
            message = f"The export failed ({type(exc).__name__}); the worker log has the details."
        owned().update(status=Status.FAILED, error=message[:2000], finished_at=timezone.now(), lease_expires_at=None)
        if isinstance(exc, ApplicationError):
            return "failed"
        raise
    owned().update(status=Status.DONE, file_path=str(final), row_count=rows, error="", finished_at=timezone.now(),
                   lease_expires_at=None)
    return "done"


def export_job_file(*, job: ExportJob) -> Path:
    """The finished job's file, checked to lie inside EXPORT_ROOT; ApplicationError otherwise."""
    if job.status != Status.DONE:
        raise ConflictError(f"The export is {job.status}; download it once it is done.",
                            extra={"status": job.status})
    path = Path(job.file_path)
    if not job.file_path or not export_path_is_safe(path) or not path.is_file():
        raise NotFoundError("The export file is gone; start the export again.")
    return path
