"""Celery tasks of the scoring app (routed to the `gpu` queue by CELERY_TASK_ROUTES). Thin: they
take ids and call a service; the services make them idempotent (conditional claims, upserts).

Each worker process also runs the watchdog every SCORING_WATCHDOG_SECONDS: batches whose lease
ran out (their worker died mid-batch) go back to the queue. No beat scheduler needed.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, close_old_connections

from . import conf, services

log = logging.getLogger(__name__)


@shared_task(
    name="scoring.tasks.score_batch", acks_late=True, autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True, retry_backoff_max=60, max_retries=5,
)
def score_batch(batch_id: int) -> str:
    """Score one ScoringBatch; a no-op when it is done, cancelled or held by a live worker."""
    return services.scoring_batch_execute(batch_id=batch_id)


@shared_task(name="scoring.tasks.score_probes", acks_late=True)
def score_probes(probe_run_id: int) -> str:
    """Score the robustness probe set (scoring/probes.py) with the probe run's scorer."""
    from . import probes

    return probes.probe_run_execute(probe_run_id=probe_run_id)


@shared_task(name="scoring.tasks.requeue_stale_batches", acks_late=True)
def requeue_stale_batches() -> list[int]:
    """The watchdog as a task (for deployments that prefer celery beat over the in-worker timer)."""
    return services.scoring_batches_requeue_stale()


def _watchdog() -> None:
    close_old_connections()
    try:
        services.scoring_batches_requeue_stale()
    except Exception:  # the watchdog must never take the worker down
        log.exception("scoring watchdog failed")
    finally:
        close_old_connections()


@worker_ready.connect
def _start_watchdog(sender=None, **kwargs) -> None:
    """Run the stale-batch watchdog in every worker's main process, on the consumer's timer."""
    interval = conf.watchdog_seconds()
    if interval <= 0:
        return
    timer = getattr(sender, "timer", None)
    if timer is None:
        log.warning("scoring watchdog not started: the worker has no timer")
        return
    _watchdog()  # at start: recover what a previous, crashed worker left behind
    timer.call_repeatedly(interval, _watchdog)
    log.info("scoring watchdog runs every %gs", interval)
