"""The Celery application. Tasks are thin: they take ids and call a service (STYLE.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rubricate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="rubricate.ping", queue="default")
def ping(payload: str = "pong") -> dict:
    """Round-trip check: answers with the payload, the worker's pid and its database vendor."""
    from django.db import connection

    return {"payload": payload, "pid": os.getpid(), "db": connection.vendor}
