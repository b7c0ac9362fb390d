"""Items' markup rendered once: prompts and responses stored as sanitised HTML with their rows.

Rendering markdown (markdown-it, Pygments, nh3) was the largest single part of an annotator's round
trip for an item shown for the first time, and with overlap N most items are shown N times at most,
so the caches of config/markup.py rarely helped. Instead a worker renders every imported item once,
oldest first (the queue's default order: what annotators reach first is rendered first), and the
comparison page reads the HTML with the item (selectors.item_markup). Until an item is rendered, or
when it was rendered by another RENDERER_VERSION, the page renders it itself: the HTML shown is never
stale and never missing, only sometimes computed on the click.

PostgreSQL holds the work to do (`markup_version = 0`, the partial index item_markup_todo). An import
sends a hint once it has committed; every worker's watchdog runs `markup_reconcile`, which sends one
for each project that still has items to render and no worker rendering it, so a lost message or a
dead worker only delays the rendering. One task renders for at most MARKUP_TASK_SECONDS, then sends
the next, so it never holds a worker from other work (exports, Insights) for long.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from psycopg.errors import LockNotAvailable

from config.markup import RENDERER_VERSION, render_markdown_uncached

from ..models import Item, Project, Response
from ..selectors import prompt_texts

log = logging.getLogger(__name__)

MARKUP_BATCH = 200  # items rendered and stored per transaction
MARKUP_TASK_SECONDS = 20.0
# A 64-bit advisory-lock key per project: this namespace in the high 32 bits, the project id below.
_LOCK_NAMESPACE = 0x6D6B7570  # "mkup"


def _lock_key(project_id: int) -> int:
    return (_LOCK_NAMESPACE << 32) | (project_id & 0xFFFFFFFF)


@contextmanager
def _rendering(project_id: int):
    """Yield True when this worker may render the project (PostgreSQL: it holds the project's
    advisory lock, released at the end or when its connection dies), False when another does."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(project_id)])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(project_id)])


def items_render_markup(*, project_id: int, seconds: float | None = None, limit: int | None = None) -> tuple[int, bool]:
    """Render and store the markup of the project's items that have none, oldest first, for at most
    `seconds` (None: until done) and `limit` items. Returns (items rendered, whether some are left).
    On PostgreSQL one worker renders a project at a time: another returns (0, False) at once.

    An item whose content changed while it was rendered (a re-import: its content hash moved) is not
    marked rendered; a batch whose rows are locked (an import is changing them) is left for the next
    pass rather than waited for."""
    deadline = None if seconds is None else time.monotonic() + seconds
    done, walked, after = 0, 0, 0
    with _rendering(project_id) as mine:
        if not mine:
            return 0, False
        while True:
            size = MARKUP_BATCH if limit is None else min(MARKUP_BATCH, limit - walked)
            batch = list(Item.objects.filter(project_id=project_id, markup_version=0, pk__gt=after)
                         .order_by("pk").values_list("pk", "prompt", "content_hash")[:size])
            if not batch:
                return done, False
            after, walked = batch[-1][0], walked + len(batch)
            done += _render_batch(batch)
            if walked == limit or (deadline is not None and time.monotonic() >= deadline):
                return done, _has_todo(project_id, after)


def _has_todo(project_id: int, after: int) -> bool:
    return Item.objects.filter(project_id=project_id, markup_version=0, pk__gt=after).exists()


def _render_batch(batch: list[tuple[int, list, str]]) -> int:
    """Render and store one batch; returns how many of its items were marked rendered."""
    responses = list(Response.objects.filter(item_id__in=[pk for pk, _, _ in batch]).only("pk", "content"))
    for r in responses:
        r.content_html = render_markdown_uncached(r.content)
    prompts = {pk: [render_markdown_uncached(text) for text in prompt_texts(prompt)] for pk, prompt, _ in batch}
    marked = 0
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Never wait on an import changing these rows (nor deadlock with it): give up the batch.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
            Response.objects.bulk_update(responses, ["content_html"], batch_size=1000)
            for pk, _, content_hash in batch:
                # Conditional: an item re-imported since it was read keeps markup_version 0.
                marked += Item.objects.filter(pk=pk, content_hash=content_hash, markup_version=0).update(
                    prompt_html=prompts[pk], markup_version=RENDERER_VERSION)
    except OperationalError as exc:
        if not isinstance(exc.__cause__, LockNotAvailable):
            raise
        log.info("markup of items %s..%s left for the next pass (rows locked)", batch[0][0], batch[-1][0])
        return 0
    return marked


def markup_render_send(project_id: int) -> None:
    """Hint a worker to render the project's markup (after the caller's transaction commits)."""
    from config.celery import send_task_message

    from ..tasks import render_markup

    transaction.on_commit(lambda: send_task_message(render_markup, project_id))


def markup_reconcile() -> list[int]:
    """Send a render task for each project that has items to render and no worker rendering it
    (PostgreSQL: nobody holds its advisory lock). Returns the project ids sent. Run by every
    worker's watchdog (config/celery.py)."""
    from config.celery import send_task_message

    from ..tasks import render_markup

    todo = Project.objects.filter(Exists(Item.objects.filter(project=OuterRef("pk"), markup_version=0)))
    project_ids = list(todo.values_list("pk", flat=True))
    if project_ids and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objsubid = 1",
                           [_LOCK_NAMESPACE])
            busy = {row[0] for row in cursor.fetchall()}
        project_ids = [pk for pk in project_ids if pk not in busy]
    sent = []
    for pk in project_ids:
        if not send_task_message(render_markup, pk):
            break
        sent.append(pk)
    return sent
