"""Celery tasks of the annotator app (the `default` queue). Thin: they take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from config.celery import send_task_message

from .services.markup import MARKUP_TASK_SECONDS, items_render_markup


# ignore_result: the state is in PostgreSQL (the items' markup_version), as for scoring.
@shared_task(
    name="annotator.tasks.render_markup", acks_late=True, ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=60, max_retries=5,
)
def render_markup(project_id: int) -> int:
    """Render the project's items' markup for up to MARKUP_TASK_SECONDS, then send the rest on (so
    other work on the queue is not held up behind a large import). Returns the items rendered."""
    done, more = items_render_markup(project_id=project_id, seconds=MARKUP_TASK_SECONDS)
    if more:
        send_task_message(render_markup, project_id)
    return done
