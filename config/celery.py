"""The Celery application. Tasks are thin: they take ids and call a service (STYLE.md).

PostgreSQL is the truth for work to do; the broker only carries hints. Every worker's main process
runs a watchdog thread that calls each reconciler in RECONCILERS every SCORING_WATCHDOG_SECONDS:
each one sends again what the database says is still to do and the broker may have lost (never
sent because the broker was down, lost in a Redis restart, held by a worker that died). A thread,
not the consumer's timer, so it keeps running while the worker reconnects to a restarted broker.
Reconcilers are idempotent (conditional updates), so any number of workers may run them at once.
Deployments that prefer celery beat can schedule the task `rubricate.reconcile` instead.
"""

import logging
import os
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rubricate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)

# "module:function" of each reconciler; each takes no argument and returns what it did.
RECONCILERS = [
    "scoring.services:scoring_reconcile",
    "exports.jobs:export_jobs_reconcile",
    "annotator.services.markup:markup_reconcile",
]


# Publishing a message: a blip is retried briefly; a broker that is down fails fast (the reconcilers
# send the work later), so a request that queues work never waits on a dead broker.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


def send_task_message(task, *args) -> bool:
    """Send `task(*args)`; False (logged, never raised) when the broker cannot take it. For work
    that PostgreSQL records first: the reconcilers send what was not sent. The task should have
    `ignore_result=True`, else the result backend's client retries for 20 s when Redis is down."""
    try:
        task.apply_async(args, retry=True, retry_policy=PUBLISH_RETRY)
        return True
    except Exception as exc:  # noqa: BLE001 - the broker is down or refuses: the database keeps the work
        log.warning("broker unavailable, %s%r left for the reconciler: %s: %s", task.name, args,
                    type(exc).__name__, exc)
        return False


def queue_of(task) -> str:
    """The broker queue a task is routed to."""
    queue = app.amqp.router.route({}, task.name).get("queue")
    return getattr(queue, "name", None) or str(queue or app.conf.task_default_queue)


def broker_waiting_messages(queue: str) -> int | None:
    """Messages waiting in `queue` at the broker; None when the broker cannot say (it is down).
    Messages a worker has taken (running, or received by a worker that died) are not counted."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
            return int(conn.default_channel.queue_declare(queue=queue, durable=True,
                                                          auto_delete=False).message_count)
    except Exception as exc:  # noqa: BLE001 - the broker is down or cannot count: decide nothing
        log.info("cannot count the broker's queue %s: %s: %s", queue, type(exc).__name__, exc)
        return None


@app.task(name="rubricate.ping", queue="default")
def ping(payload: str = "pong") -> dict:
    """Round-trip check: answers with the payload, the worker's pid and its database vendor."""
    from django.db import connection

    return {"payload": payload, "pid": os.getpid(), "db": connection.vendor}


def reconcile_all() -> dict:
    """One pass of every reconciler; a failing one is logged and does not stop the others."""
    from importlib import import_module

    from django.db import close_old_connections, connection

    results = {}
    close_old_connections()
    try:
        for path in RECONCILERS:
            module, name = path.split(":")
            try:
                results[path] = getattr(import_module(module), name)()
            except Exception:  # noqa: BLE001 - the database or the broker is down: next pass
                log.exception("reconciler %s failed", path)
    finally:
        connection.close()  # this thread's own connection: nothing to keep between passes
    return results


@app.task(name="rubricate.reconcile", queue="default", ignore_result=True)
def reconcile() -> None:
    """The reconcilers as a task, for deployments that run celery beat."""
    reconcile_all()


_stop = threading.Event()


def _watchdog_loop(interval: float) -> None:
    reconcile_all()  # at start: recover what a previous, crashed worker left behind
    while not _stop.wait(interval):
        reconcile_all()


@worker_ready.connect
def _start_watchdog(**kwargs) -> None:
    from scoring import conf

    interval = conf.watchdog_seconds()
    if interval <= 0:
        return
    _stop.clear()
    threading.Thread(target=_watchdog_loop, args=(interval,), name="rubricate-watchdog", daemon=True).start()
    # "scoring watchdog": the phrase the worker tests look for in the log.
    log.info("scoring watchdog runs every %gs (reconcilers: %s)", interval, ", ".join(RECONCILERS))


@worker_shutdown.connect
def _stop_watchdog(**kwargs) -> None:
    _stop.set()
