"""Item import: all or nothing per file. Each line is parsed and checked (annotator/formats.py) and
the items are written in batches as the file is read, all in one transaction: a bad line rolls
back what was written before it.

Re-importing the same external ids updates changed items in place and reports new / updated /
unchanged counts. Writes are bulk (COPY on PostgreSQL, config/db.py), on PostgreSQL from a second
thread while this one reads on (config.db.in_background), so a 100k-item file takes seconds.
"""

from __future__ import annotations

import gc
import hashlib
import io
import itertools
import json
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.db import IntegrityError, connection, transaction

from config.db import (
    CopyBatch,
    bulk_insert,
    bulk_update,
    copy_batch,
    copy_batch_write,
    foreign_keys_checked_per_statement,
    in_background,
    reserve_ids,
)
from config.errors import ConflictError

from ..formats import ItemStream, ParsedItem, ParsedResponse, fail_at_line
from ..models import Item, Project, Response
from .judgment_imports import item_judgments_write
from .markup import markup_render_send

# Items a batch: big enough that the round trips cost little, small enough that writing starts early.
_WRITE_BATCH = 2000
# Item ids reserved beyond a batch's need, for the next batches (the unused ones are a gap in the ids).
_IDS_AHEAD = 3 * _WRITE_BATCH


@dataclass
class ImportReport:
    format: str = ""
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Judgments that came with the items (HelpSteer2's attribute ratings), when the format has them.
    judgments: dict | None = None

    def as_dict(self) -> dict:
        data = {"format": self.format, "total": self.total, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged}
        if self.judgments is not None:
            data["judgments"] = self.judgments
        return data


def _gold_fields(parsed: ParsedItem, response_ids: dict[str, int] | None) -> dict:
    g = parsed.gold
    if g is None:
        return {"is_gold": False, "gold_preference": None, "gold_both_bad": False, "gold_ranking": []}
    ranking = [response_ids[r] for r in g.ranking] if (g.ranking and response_ids is not None) else []
    return {"is_gold": True, "gold_preference": g.preference, "gold_both_bad": g.both_bad, "gold_ranking": ranking}


@transaction.atomic
def items_write(*, project: Project, items: Iterable[ParsedItem]) -> ImportReport:
    """Upsert parsed items by external id (bulk); responses are matched by their external id.

    `items` may be a file being read (ItemStream): its items are written in batches while it is
    read, on PostgreSQL by a second thread on the same connection and transaction
    (config.db.in_background), and an error on a later line rolls back what was written.

    An item that annotators already worked on keeps its conversation: changing its prompt or a
    response text is refused (the file names the line); its metadata and gold label may change.
    """
    # One import per project at a time: a second waits here instead of failing on the unique key.
    locked = Project.objects.select_for_update().filter(pk=project.pk).values_list("item_count", flat=True).first()
    # Three stages on PostgreSQL: this thread reads and checks the file, a second sorts each batch
    # out and turns its new rows into COPY text, a third sends that text, so that Python prepares
    # batch n + 1 while PostgreSQL stores batch n (and checks its foreign keys).
    with (foreign_keys_checked_per_statement(Item, Response), in_background(_copy_created) as copy_send,
          in_background((writer := _BatchWriter(project, has_items=bool(locked), copy_send=copy_send)).write)
          as send):
        iterator = iter(items)
        while batch := list(itertools.islice(iterator, _WRITE_BATCH)):
            send(batch)
    report = writer.report
    if writer.ranked:
        response_ids = _response_ids([item_id for _, item_id in writer.ranked])
        bulk_update(Item, [{"id": pk, "gold_ranking": [response_ids[pk][e] for e in p.gold.ranking]}
                           for p, pk in writer.ranked], ["gold_ranking"])
    _update_items(writer.changed)
    gold_only = writer.gold_only
    if gold_only:
        response_ids = _response_ids([pk for _, pk in gold_only])
        bulk_update(Item, [{"id": pk, "updated_at": None, **_gold_fields(p, response_ids.get(pk, {}))}
                            for p, pk in gold_only], [*GOLD_FIELDS, "updated_at"])
    report.updated = len(writer.changed) + len(gold_only)
    if report.created or writer.changed:
        markup_render_send(project.pk)  # the new and changed items' HTML, rendered by a worker
    judgments = item_judgments_write(project=project, items=writer.with_judgments)
    if judgments is not None:
        report.judgments = judgments.as_dict()
        del report.judgments["format"]
    return report


class _BatchWriter:
    """Sorts each batch out: its new items go to the sending stage as COPY text (PostgreSQL; written
    at once elsewhere), the rest (changed, gold changed, unchanged) is kept for items_write to update
    after the last batch."""

    def __init__(self, project: Project, *, has_items: bool, copy_send):
        self.project, self.has_items, self.copy_send = project, has_items, copy_send
        self.report = ImportReport()
        self.changed: list[tuple[ParsedItem, int]] = []
        self.gold_only: list[tuple[ParsedItem, int]] = []
        self.with_judgments: list[ParsedItem] = []
        self.ranked: list[tuple[ParsedItem, int]] = []  # new gold items ranked by response ids
        self._ids: list[int] = []  # item ids reserved ahead (PostgreSQL)

    def write(self, batch: list[ParsedItem]) -> None:
        existing: dict[str, tuple] = {}
        if self.has_items:
            rows = Item.objects.filter(project=self.project, external_id__in=[p.external_id for p in batch])
            for ext, *rest in rows.values_list("external_id", "id", "content_hash", "is_gold", "gold_preference",
                                               "gold_both_bad", "gold_ranking"):
                existing[ext] = tuple(rest)
        new: list[ParsedItem] = []
        for parsed in batch:
            current = existing.get(parsed.external_id)
            if current is None:
                new.append(parsed)
            elif current[1] != parsed.content_hash:
                self.changed.append((parsed, current[0]))
            elif parsed.gold is not None and _gold_differs(parsed, current):
                self.gold_only.append((parsed, current[0]))
            else:
                self.report.unchanged += 1
            if parsed.judgments:
                self.with_judgments.append(parsed)
        self._create(new)
        self.report.created += len(new)
        self.report.total += len(batch)

    def _create(self, batch: list[ParsedItem]) -> None:
        if not batch:
            return
        items = [{"project_id": self.project.pk, "external_id": p.external_id, "prompt": p.prompt,
                  "metadata": p.metadata, "content_hash": p.content_hash, **_gold_fields(p, None)} for p in batch]
        if connection.vendor != "postgresql":
            with _added_meanwhile():
                item_ids = bulk_insert(Item, items)
            bulk_insert(Response, _response_rows(item_ids, batch), ids=False)
        else:
            if len(self._ids) < len(batch):  # a few batches' ids at once: fewer waits for the sending thread
                self._ids += reserve_ids(Item, len(batch) - len(self._ids) + _IDS_AHEAD)
            item_ids, self._ids = self._ids[:len(batch)], self._ids[len(batch):]
            self.copy_send((copy_batch(Item, items, ids=item_ids),
                            copy_batch(Response, _response_rows(item_ids, batch))))
        self.ranked += [(p, item_id) for item_id, p in zip(item_ids, batch, strict=True) if p.gold and p.gold.ranking]


GOLD_FIELDS = ["is_gold", "gold_preference", "gold_both_bad", "gold_ranking"]


def _gold_differs(parsed: ParsedItem, current: tuple) -> bool:
    _, _, is_gold, preference, both_bad, ranking = current
    wanted = _gold_fields(parsed, None)
    return (not is_gold or preference != wanted["gold_preference"] or both_bad != wanted["gold_both_bad"]
            or bool(parsed.gold.ranking) != bool(ranking))


def _response_row(item_id: int, position: int, r: ParsedResponse) -> dict:
    return {"item_id": item_id, "external_id": r.external_id, "model_name": r.model_name, "content": r.content,
            "position": position, "metadata": r.metadata}


def _response_rows(item_ids: list[int], batch: list[ParsedItem]) -> list[dict]:
    return [_response_row(item_id, pos, r) for item_id, p in zip(item_ids, batch, strict=True)
            for pos, r in enumerate(p.responses)]


def _copy_created(batches: tuple[CopyBatch, CopyBatch]) -> None:
    """The sending stage: a batch's new items, then their responses."""
    items, responses = batches
    with _added_meanwhile():
        copy_batch_write(items)
    copy_batch_write(responses)


@contextmanager
def _added_meanwhile():
    """New items that break the unique external id: another import added them since the batch was read."""
    try:
        yield
    except IntegrityError:
        raise ConflictError("Some of these items were added at the same time by someone else; import again.")


def _response_ids(item_ids: list[int]) -> dict[int, dict[str, int]]:
    """item id → response external id → response id."""
    ids: dict[int, dict[str, int]] = {}
    for item_id, ext, rid in Response.objects.filter(item_id__in=item_ids).values_list("item_id", "external_id", "id"):
        ids.setdefault(item_id, {})[ext] = rid
    return ids


def _update_items(changed: list[tuple[ParsedItem, int]]) -> None:
    if not changed:
        return
    pks = [pk for _, pk in changed]
    # Items someone has leased, judged or skipped: their conversation is frozen.
    judged_prompts = dict(
        Item.objects.filter(pk__in=pks, assignments__isnull=False).values_list("pk", "prompt").distinct())
    old_responses: dict[int, dict[str, dict]] = {}
    for row in Response.objects.filter(item_id__in=pks).values(
            "id", "item_id", "external_id", "model_name", "content", "position", "metadata"):
        old_responses.setdefault(row["item_id"], {})[row["external_id"]] = row
    item_rows, resp_update, resp_create, resp_delete = [], [], [], []
    for parsed, pk in changed:
        olds = old_responses.get(pk, {})
        if pk in judged_prompts:
            old_conv = json.dumps(
                [judged_prompts[pk], [(r["external_id"], r["content"])
                                      for r in sorted(olds.values(), key=lambda r: r["position"])]],
                separators=(",", ":"), ensure_ascii=False)
            if hashlib.sha256(old_conv.encode()).hexdigest() != parsed.conversation_hash:
                fail_at_line(parsed.line, "id", f"item {parsed.external_id!r} has already been annotated; its "
                             "prompt and responses can no longer change (import it under a new id)",
                             error=ConflictError)
        item_rows.append({"id": pk, "prompt": parsed.prompt, "metadata": parsed.metadata,
                          "content_hash": parsed.content_hash, "markup_version": 0, "updated_at": None})
        new_ids = {r.external_id for r in parsed.responses}
        for pos, r in enumerate(parsed.responses):
            old = olds.get(r.external_id)
            wanted = _response_row(pk, pos, r)
            if old is None:
                resp_create.append(wanted)
            elif any(old[k] != wanted[k] for k in ("model_name", "content", "position", "metadata")):
                resp_update.append({**wanted, "id": old["id"], "updated_at": None})
        resp_delete.extend(o["id"] for ext, o in olds.items() if ext not in new_ids)
    Response.objects.filter(pk__in=resp_delete).delete()
    bulk_update(Response, resp_update, ["model_name", "content", "position", "metadata", "updated_at"])
    bulk_insert(Response, resp_create, ids=False)
    bulk_update(Item, item_rows, ["prompt", "metadata", "content_hash", "markup_version", "updated_at"])
    with_gold = [(p, pk) for p, pk in changed if p.gold is not None]
    if with_gold:
        response_ids = _response_ids([pk for _, pk in with_gold])
        bulk_update(Item, [{"id": pk, **_gold_fields(p, response_ids.get(pk, {}))} for p, pk in with_gold],
                     GOLD_FIELDS)


class _BigReads(io.RawIOBase):
    """A byte stream read in steps of the caller's size (the buffer's: 1 MiB)."""

    def __init__(self, stream: IO):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def read_buffered(stream: IO) -> IO:
    """The file to parse line by line, read from its source 1 MiB at a time.

    A request body under gunicorn (the API's raw JSONL upload) reads a line by asking its source for
    1 KiB at a time, and each of those asks copies the whole read-ahead buffer (up to 1 MiB) twice:
    a 217 MB file took longer to read than to parse and store. Big reads avoid that, and the
    lines are then split in C by io.BufferedReader. Text streams are returned as they are."""
    if isinstance(stream, io.TextIOBase):
        return stream
    return io.BufferedReader(_BigReads(stream), buffer_size=1 << 20)


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector during a bulk import: the hundreds of thousands of small
    objects a big file becomes (and which reference counting frees anyway) would otherwise trigger
    full collections over and over, costing a third of the import time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def received_in_full(stream: IO) -> IO:
    """The file as a local one: a stream that is not a file (the API's raw request body, read from
    the client's connection as the view asks) is copied to a temporary file first, 1 MiB at a time.

    The import writes while it reads, inside one transaction that holds the project's row lock (and
    every submission on the project updates that row's counters). Read from the client's
    connection, the lock would last as long as the client takes to send the file; read from a local
    file, it lasts as long as parsing and writing (a 217 MB file is copied in about 0.3 s)."""
    if getattr(stream, "seekable", lambda: False)():
        return stream  # an uploaded file (multipart: already on disk or in memory), a BytesIO
    local = tempfile.TemporaryFile()  # noqa: SIM115 - closed by its reader, or when collected
    shutil.copyfileobj(stream, local, 1 << 20)
    local.seek(0)
    return local


def items_import(
    *, project: Project, stream: IO, file_format: str = "auto", gold: bool = False
) -> ImportReport:
    """Read, check and write the file in one transaction, each batch written while the next is read:
    nothing is stored if a line is bad."""
    items = ItemStream(read_buffered(received_in_full(stream)), file_format, gold=gold)
    with _gc_paused():
        report = items_write(project=project, items=items)
    report.format = items.format
    return report


def items_import_text(*, project: Project, text: str, file_format: str = "auto", gold: bool = False) -> ImportReport:
    """items_import for a string (tests, small API bodies)."""
    return items_import(project=project, stream=io.BytesIO(text.encode("utf-8")), file_format=file_format, gold=gold)
