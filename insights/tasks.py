"""Celery tasks of the Insights app: thin, they take an id and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(
    name="insights.tasks.compute",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def insights_compute_task(snapshot_id: int) -> str:
    """Compute and store one project's Insights; a no-op when another worker holds it."""
    return services.insights_snapshot_compute(snapshot_id=snapshot_id)
