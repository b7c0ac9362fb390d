"""Celery tasks of the scoring app (routed to the `gpu` queue by CELERY_TASK_ROUTES). Thin: they
take ids and call a service; the services make them idempotent (conditional claims, upserts).

PostgreSQL is the truth for work to do; the broker only carries hints. Every worker's watchdog
(config/celery.py) runs `services.scoring_reconcile` every SCORING_WATCHDOG_SECONDS: batches whose
lease ran out go back to the queue, batches never sent (the broker was down) are sent, messages lost
by the broker are sent again, and runs with nothing left open are closed. No beat scheduler needed.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


# ignore_result: progress lives in PostgreSQL. It also keeps the sender off the result backend, whose
# client would otherwise retry for 20 s when Redis is down before the message is even attempted.
@shared_task(
    name="scoring.tasks.score_batch", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=60, max_retries=5,
)
def score_batch(batch_id: int) -> str:
    """Score one ScoringBatch; a no-op when it is done, cancelled or held by a live worker."""
    return services.scoring_batch_execute(batch_id=batch_id)


@shared_task(name="scoring.tasks.score_probes", acks_late=True)
def score_probes(probe_run_id: int) -> str:
    """Score the robustness probe set (scoring/probes.py) with the probe run's scorer."""
    from . import probes

    return probes.probe_run_execute(probe_run_id=probe_run_id)


@shared_task(name="scoring.tasks.requeue_stale_batches", acks_late=True, ignore_result=True)
def requeue_stale_batches() -> None:
    """Kept for messages queued under this name by an earlier version: runs the reconciler."""
    services.scoring_reconcile()
