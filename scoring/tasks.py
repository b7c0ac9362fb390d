"""Celery tasks of the scoring app (routed to the `gpu` queue by CELERY_TASK_ROUTES). Thin: they
take ids and call a service; the services make them idempotent (conditional claims, upserts).

PostgreSQL is the truth for work to do; the broker only carries hints. Each worker's main process
runs the reconciler every SCORING_WATCHDOG_SECONDS on a thread of its own (so it keeps running while
the worker reconnects to a restarted broker): batches whose lease ran out go back to the queue,
batches never sent (the broker was down) are sent, messages lost by the broker are sent again, and
runs with nothing left open are closed. No beat scheduler needed; with beat, schedule
`scoring.tasks.reconcile` instead (config/celery.py, CELERY_BEAT_RECONCILE_SECONDS).
"""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from . import conf, services

log = logging.getLogger(__name__)


# ignore_result: progress lives in PostgreSQL. It also keeps the sender off the result backend, whose
# client would otherwise retry for 20 s when Redis is down before the message is even attempted.
@shared_task(
    name="scoring.tasks.score_batch", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=60, max_retries=5,
)
def score_batch(batch_id: int) -> str:
    """Score one ScoringBatch; a no-op when it is done, cancelled or held by a live worker."""
    return services.scoring_batch_execute(batch_id=batch_id)


@shared_task(name="scoring.tasks.reconcile", acks_late=True, ignore_result=True)
def reconcile() -> dict:
    """The reconciler as a task (for deployments that run celery beat)."""
    result = services.scoring_reconcile()
    return {"requeued": result.requeued, "sent": result.sent, "resent": result.resent, "finished": result.finished}


@shared_task(name="scoring.tasks.requeue_stale_batches", acks_late=True, ignore_result=True)
def requeue_stale_batches() -> list[int]:
    """Kept for messages already queued under the old name: runs the whole reconciler."""
    return reconcile()["requeued"]


def watchdog_once() -> None:
    """One reconcile pass; never raises (the watchdog must not stop, whatever is down)."""
    close_old_connections()
    try:
        services.scoring_reconcile()
    except Exception:  # noqa: BLE001 - the database or the broker is down: try again next time
        log.exception("scoring watchdog failed")
    finally:
        connection.close()  # its own thread's connection: nothing to keep between passes


_stop = threading.Event()


def _watchdog_loop(interval: float) -> None:
    watchdog_once()  # at start: recover what a previous, crashed worker left behind
    while not _stop.wait(interval):
        watchdog_once()


@worker_ready.connect
def _start_watchdog(sender=None, **kwargs) -> None:
    """Run the reconciler in every worker's main process, on a daemon thread of its own: the
    consumer's timer is reset when the broker connection is lost, a thread is not."""
    interval = conf.watchdog_seconds()
    if interval <= 0:
        return
    _stop.clear()
    threading.Thread(target=_watchdog_loop, args=(interval,), name="scoring-watchdog", daemon=True).start()
    log.info("scoring watchdog runs every %gs", interval)


@worker_shutdown.connect
def _stop_watchdog(**kwargs) -> None:
    _stop.set()
