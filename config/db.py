"""Big batches: bulk writes by PostgreSQL COPY (the ORM's bulk methods elsewhere, SQLite), and one
read-only snapshot for the ordered streams that exports and Insights merge (`read_snapshot`).

Rows are dicts of attname → value; a missing attname takes the field's default, `auto_now` and
`auto_now_add` fields take the time of the call, JSON fields are serialised here. Nothing else of
the ORM runs (no save(), no signals), which is what makes these fast.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
from django.db import connection, models, transaction
from django.utils import timezone

_stdlib_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_encode(value) -> str:
    """JSON text for a jsonb column. orjson: several times faster than json on the small values of
    an import, where encoding was a third of the client's time. json for what orjson refuses
    (integers beyond 64 bits, non-string keys); PostgreSQL's jsonb keeps no spacing either way."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return _stdlib_encode(value)


def _row_builder(model: type[models.Model], attnames: list[str]) -> Callable[[dict], list]:
    """A function that turns a row (attname → value) into the values COPY takes, column by column:
    JSON as text, `auto_now` timestamps as the time of the call, a missing value as the field's
    default (a JSON default encoded once, a callable one called per row).

    The function is compiled for the model's columns: one list display with no loop and no branch
    on the column's kind, which halves an import's client time spent here (100,000 items are
    300,000 rows)."""
    missing = object()
    names: dict[str, object] = {"now": timezone.now(), "missing": missing, "encode": _json_encode}
    values = []
    for i, name in enumerate(attnames):
        f = model._meta.get_field(name) if name != "id" else model._meta.pk
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values.append("now")
            continue
        value = f"row.get({name!r}, missing)"
        if isinstance(f, models.JSONField):
            names[f"default{i}"] = _json_encode(f.get_default())
            values.append(f"(default{i} if (v := {value}) is missing else encode(v))")
        elif f.has_default() and callable(f.default):
            names[f"default{i}"] = f.default  # a new value per row (e.g. a random key)
            values.append(f"(default{i}() if (v := {value}) is missing else v)")
        else:
            names[f"default{i}"] = f.get_default()
            values.append(f"(default{i} if (v := {value}) is missing else v)")
    # The source holds only attnames of the model's own fields (identifiers) and local names.
    exec(f"def build(row):\n    return [{', '.join(values)}]", names)  # noqa: S102
    return names["build"]


def bulk_insert(model: type[models.Model], rows: list[dict]) -> list[int]:
    """Insert rows (attname → value; missing ones take the field default); return their new ids in
    order. PostgreSQL: ids from the sequence, then one COPY. Elsewhere: bulk_create."""
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    if connection.vendor != "postgresql":
        objs = model.objects.bulk_create([model(**row) for row in rows], batch_size=1000)
        return [o.pk for o in objs]
    table, pk = model._meta.db_table, model._meta.pk
    attnames = [f.attname for f in fields]
    build = _row_builder(model, attnames)
    columns = ", ".join(connection.ops.quote_name(c) for c in [pk.column, *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, pk.column, len(rows)])
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for new_id, row in zip(ids, rows, strict=True):
                copy.write_row([new_id, *build(row)])
    return ids


def bulk_update(model: type[models.Model], rows: list[dict], attnames: list[str]) -> None:
    """Set `attnames` on many rows by id. PostgreSQL: COPY into a temporary table, then one
    UPDATE … FROM (bulk_update's CASE per row grows quadratically). Elsewhere: bulk_update.
    Call it inside a transaction: the temporary table is dropped on commit."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objs = [model(pk=row["id"], **{a: row[a] for a in attnames}) for row in rows]
        model.objects.bulk_update(objs, attnames, batch_size=500)
        return
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = [model._meta.get_field(a).column for a in attnames]
    tmp = q(f"bulk_update_{uuid.uuid4().hex[:16]}")
    build = _row_builder(model, attnames)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS "
                       f"SELECT id, {', '.join(q(c) for c in columns)} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {tmp} (id, {', '.join(q(c) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row["id"], *build(row)])
        assignments = ", ".join(f"{q(c)} = u.{q(c)}" for c in columns)
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM {tmp} AS u WHERE t.id = u.id")
        cursor.execute(f"DROP TABLE {tmp}")


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
