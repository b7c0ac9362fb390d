"""Big batches: bulk writes by PostgreSQL COPY (the ORM's bulk methods elsewhere, SQLite), and one
read-only snapshot for the ordered streams that exports and Insights merge (`read_snapshot`).

Rows are dicts of attname → value; a missing attname takes the field's default, `auto_now` and
`auto_now_add` fields take the time of the call, JSON fields are serialised here. Nothing else of
the ORM runs (no save(), no signals), which is what makes these fast.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

_stdlib_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# COPY's text format: a backslash, newline, carriage return or tab inside a value is written escaped.
_COPY_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
# Fields whose values COPY reads as Python writes them (integers, floats, booleans as t/f).
_PLAIN_FIELDS = (models.IntegerField, models.FloatField, models.BooleanField, models.AutoField, models.ForeignKey)


def _copy_text(value) -> str:
    """One value as COPY's text format writes it (NULL as \\N, booleans as t/f)."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = value if type(value) is str else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    for char, escaped in _COPY_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text


def _copy_json(value) -> str:
    """JSON text for a jsonb column, as COPY's text format writes it. orjson: several times faster
    than json on the small values of an import, where encoding was a third of the client's time;
    json for what orjson refuses (integers beyond 64 bits, non-string keys); PostgreSQL's jsonb keeps
    no spacing either way. JSON text holds no raw newline or tab: only backslashes are escaped."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        text = _stdlib_encode(value)
    return text.replace("\\", "\\\\") if "\\" in text else text


def _line_builder(model: type[models.Model], attnames: list[str]) -> Callable[[dict], str]:
    """A function that turns a row (attname → value) into one line of COPY's text format, without
    its newline: JSON as text, `auto_now` timestamps as the time of the call, a missing value as the
    field's default (encoded once, or a callable one called per row).

    The function is compiled for the model's columns: one f-string with no loop and no branch on
    the column's kind. Writing the text here, instead of handing psycopg a list per row
    (copy.write_row: 17 µs a row), takes the 300,000 rows of 100,000 items from 5 s of client time to
    about 1.5 s."""
    missing = object()
    names: dict[str, object] = {"missing": missing, "text": _copy_text, "json": _copy_json,
                                 "now": _copy_text(timezone.now())}
    values = []
    for i, name in enumerate(attnames):
        f = model._meta.get_field(name) if name != "id" else model._meta.pk
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values.append("{now}")
            continue
        # Numbers and booleans that cannot be NULL are written as they are, without a call.
        if isinstance(f, models.JSONField):
            encode = "json({})"
        elif f.null or not isinstance(f, _PLAIN_FIELDS):
            encode = "text({})"
        elif isinstance(f, models.BooleanField):
            encode = "('t' if {} else 'f')"
        else:
            encode = "{}"
        value = f"row.get({name!r}, missing)"
        if f.has_default() and callable(f.default) and not isinstance(f, models.JSONField):
            names[f"default{i}"] = f.default  # a new value per row (e.g. a random key)
            values.append(f"{{text(default{i}() if (v := {value}) is missing else v)}}")
        else:
            names[f"default{i}"] = (_copy_json if isinstance(f, models.JSONField) else _copy_text)(f.get_default())
            values.append(f"{{default{i} if (v := {value}) is missing else {encode.format('v')}}}")
    source = "\\t".join(values)  # the f-string's text: a tab between the values
    exec(f'def build(row):\n    return f"{source}"', names)  # noqa: S102
    return names["build"]


def reserve_ids(model: type[models.Model], n: int) -> list[int]:
    """PostgreSQL: n new ids of the model's table from its sequence (other writers never get them)."""
    table, pk = model._meta.db_table, model._meta.pk
    with connection.cursor() as cursor:
        # The sequence is looked up once (a MATERIALIZED CTE), not once a row: on 100,000 ids that
        # lookup cost PostgreSQL 0.3 s of the 0.33.
        cursor.execute("WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
                       "SELECT nextval(s.seq) FROM s, generate_series(1, %s)", [table, pk.column, n])
        return [row[0] for row in cursor.fetchall()]


class CopyBatch(NamedTuple):
    """Rows of one table as COPY's text format, ready to send (copy_batch_write) from any thread."""

    table_sql: str
    text: str


def copy_batch(model: type[models.Model], rows: list[dict], *, ids: list[int] | None = None) -> CopyBatch:
    """PostgreSQL: the COPY of `rows` (attname → value; missing ones take the field default), with
    these `ids` (reserve_ids) or numbered by the database."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    build = _line_builder(model, [f.attname for f in fields])
    columns = ", ".join(q(f.column) for f in fields)
    if ids is None:
        return CopyBatch(f"{q(model._meta.db_table)} ({columns})", "".join([f"{build(row)}\n" for row in rows]))
    return CopyBatch(f"{q(model._meta.db_table)} ({q(model._meta.pk.column)}, {columns})",
                     "".join([f"{new_id}\t{build(row)}\n" for new_id, row in zip(ids, rows, strict=True)]))


def copy_batch_write(batch: CopyBatch) -> None:
    """Send a CopyBatch on this thread's connection (psycopg's own lock keeps it whole when another
    thread shares the connection); database errors are Django's, as from a cursor."""
    with (connection.wrap_database_errors, connection.connection.cursor() as cursor,
          cursor.copy(f"COPY {batch.table_sql} FROM STDIN") as copy):
        copy.write(batch.text)


def bulk_insert(model: type[models.Model], rows: list[dict], *, ids: bool = True) -> list[int]:
    """Insert rows (attname → value; missing ones take the field default); return their new ids in
    order, or [] with `ids=False` (the database numbers them: on PostgreSQL 100,000 fewer ids a
    round trip of 100,000 rows). PostgreSQL: ids from the sequence, then one COPY. Elsewhere:
    bulk_create."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return [o.pk for o in objs] if ids else []
    new_ids = reserve_ids(model, len(rows)) if ids else None
    connection.ensure_connection()
    copy_batch_write(copy_batch(model, rows, ids=new_ids))
    return new_ids or []


def bulk_update(model: type[models.Model], rows: list[dict], attnames: list[str]) -> None:
    """Set `attnames` on many rows by id. PostgreSQL: COPY into a temporary table, then one
    UPDATE … FROM (bulk_update's CASE per row grows quadratically). Elsewhere: bulk_update.
    Call it inside a transaction: the temporary table is dropped on commit."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        # bulk_update leaves `auto_now` fields as given (None: NOT NULL fails); they take the time of the
        # call, as on PostgreSQL.
        now = {a: timezone.now() for a in attnames if getattr(model._meta.get_field(a), "auto_now", False)}
        objs = [model(pk=row["id"], **{**{a: row[a] for a in attnames}, **now}) for row in rows]
        model.objects.bulk_update(objs, attnames, batch_size=500)
        return
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = [model._meta.get_field(a).column for a in attnames]
    tmp = q(f"bulk_update_{uuid.uuid4().hex[:16]}")
    build = _line_builder(model, attnames)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS "
                       f"SELECT id, {', '.join(q(c) for c in columns)} FROM {table} WITH NO DATA")
        copy_batch_write(CopyBatch(f"{tmp} (id, {', '.join(q(c) for c in columns)})",
                                   "".join([f"{_copy_text(row['id'])}\t{build(row)}\n" for row in rows])))
        assignments = ", ".join(f"{q(c)} = u.{q(c)}" for c in columns)
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM {tmp} AS u WHERE t.id = u.id")
        cursor.execute(f"DROP TABLE {tmp}")


@contextmanager
def foreign_keys_checked_per_statement(*tables: type[models.Model]) -> Iterator[None]:
    """PostgreSQL: inside the block, check the (deferred) foreign keys of these models' tables at the
    end of each statement rather than at commit, then defer them again. Written in batches from
    in_background, a bulk import's checks (one a row) then run while the next batch is read,
    instead of all at once at commit. Elsewhere, nothing changes."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_agg(quote_ident(conname), ', ') FROM pg_constraint WHERE contype = 'f' "
                       "AND condeferrable AND condeferred AND conrelid = ANY(%s::regclass[])",
                       [[m._meta.db_table for m in tables]])
        names = cursor.fetchone()[0]
        if names:
            cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
    yield
    if names:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")


_STOP = object()


@contextmanager
def in_background(work: Callable[[object], None]) -> Iterator[Callable[[object], None]]:
    """Yield `send`: each value sent is handed to `work`, in order, on a thread that uses this
    thread's database connection, inside its transaction, so that the database writes one batch
    while this thread prepares the next (PostgreSQL works on a core of its own). The caller must not
    use the database until the block ends, except through psycopg's connection lock (blocks may
    nest: the inner `work` may query while the outer one sends copy_batch_write). An error in `work`
    is raised at the next `send` or at the end of the block; an error in the block drops what was
    not written yet and waits for the thread, and if `work` failed too, its error is the one raised
    (it came first: the block's may be a query that met the transaction it aborted). Elsewhere
    (SQLite, one file and one writer) `send` is `work` itself."""
    if connection.vendor != "postgresql":
        yield work
        return
    shared = connections[DEFAULT_DB_ALIAS]
    todo: queue.Queue = queue.Queue(maxsize=2)  # bounded: memory stays a few batches whatever the file
    failed: list[BaseException] = []
    cancelled = threading.Event()

    def run() -> None:
        connections[DEFAULT_DB_ALIAS] = shared  # this thread's queries: the caller's connection
        while (value := todo.get()) is not _STOP:
            if failed or cancelled.is_set():
                continue
            try:
                work(value)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                failed.append(exc)

    def send(value) -> None:
        if failed:
            raise failed[0]
        todo.put(value)

    shared.inc_thread_sharing()
    thread = threading.Thread(target=run, name="in_background", daemon=True)
    thread.start()
    try:
        yield send
    except BaseException:
        cancelled.set()
        raise
    finally:
        todo.put(_STOP)
        thread.join()
        shared.dec_thread_sharing()
        if failed:  # raised in place of the block's own error, if any (which becomes its context)
            raise failed[0]


@contextmanager
def read_snapshot(*, work_mem: str | None = None) -> Iterator[None]:
    """One consistent, read-only snapshot for every stream read inside (PostgreSQL: REPEATABLE READ
    READ ONLY, so it never blocks writers), with JIT off: these are plain ordered scans, where JIT
    compilation costs seconds and saves nothing. `work_mem` keeps a big sort off disk.

    Server-side cursors need a transaction on PostgreSQL; inside one that is already open (a test),
    the streams join it and only the settings are changed."""
    if connection.in_atomic_block:
        _tune_snapshot(first=False, work_mem=work_mem)
        yield
        return
    with transaction.atomic():
        _tune_snapshot(first=True, work_mem=work_mem)
        yield


def _tune_snapshot(*, first: bool, work_mem: str | None) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if first:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SET LOCAL jit = off")
        if work_mem:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
