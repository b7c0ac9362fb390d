"""The export files: JSON Lines and CSV streamed in ~64 KB chunks, Parquet written in record batches.

Each writer takes the format's columns and its rows (tuples in column order, exports/rows.py).

CSV cells are neutralised against formula injection as OWASP advises: a text cell that begins with
`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading single quote (`'`), so a spreadsheet
shows it as text instead of running it. Numbers, booleans and nested JSON are never changed; JSON
Lines and Parquet carry the text as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from annotator.models import Project
from config.errors import ApplicationError

from .params import ExportParams
from .rows import (
    DELETED_COLUMN,
    RawJson,
    Tombstone,
    encode_json,
    export_column_names,
    export_columns,
    export_lines,
    export_rows,
    iso_utc,
    row_encoder,
    tombstone_json,
)

STREAM_CHUNK_BYTES = 64 * 1024
PARQUET_BATCH_ROWS = 5000


# --- JSON Lines -------------------------------------------------------------------------------

def _with_tombstones(columns: list[tuple[str, str]], encode):
    """An incremental export's encoder: a Tombstone is written as {"item_id": …, "deleted": true}."""
    id_index = [name for name, _type in columns].index("item_id")

    def encode_row(r):
        if r.__class__ is Tombstone:
            return tombstone_json(r[id_index])
        return encode(r)
    return encode_row


def jsonl_chunks(columns: list[tuple[str, str]], rows: Iterable[tuple]) -> Iterator[bytes]:
    """JSON Lines, one object per row, in chunks of about STREAM_CHUNK_BYTES."""
    encode = row_encoder(columns)
    if columns[-1] == DELETED_COLUMN:
        encode = _with_tombstones(columns, encode)
    return line_chunks(map(encode, rows))


def line_chunks(lines: Iterable[str]) -> Iterator[bytes]:
    """Lines (JSON objects as text) joined by newlines, in chunks of about STREAM_CHUNK_BYTES."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        chunk.append(line)
        size += len(line)
        if size >= STREAM_CHUNK_BYTES:
            chunk.append("")
            yield "\n".join(chunk).encode()
            chunk, size = [], 0
    if chunk:
        chunk.append("")
        yield "\n".join(chunk).encode()


# --- CSV --------------------------------------------------------------------------------------

# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_START = frozenset("=+-@\t\r")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet will not run: a leading `'` before a formula's first character."""
    return "'" + value if value[:1] in FORMULA_START else value


def _csv_cell(value):
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return csv_text(value)
    if isinstance(value, (list, dict)):
        return encode_json(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    return value


def csv_chunks(names: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    """CSV (RFC 4180: CRLF line ends, header row); nested values (messages, lists) as compact JSON in
    the cell; text that would start a formula neutralised (see the module docstring)."""
    buffer = io.StringIO()
    # CRLF as the RFC says: with "\n" alone, Python's writer leaves a cell holding a bare "\r" unquoted,
    # and a reader takes that "\r" for the end of the row.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        if buffer.tell() >= STREAM_CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


# --- Parquet ----------------------------------------------------------------------------------

def _arrow_type(name: str):
    import pyarrow as pa

    if name.startswith("list<"):
        return pa.list_(_arrow_type(name[5:-1]))
    return {
        "string": pa.string(), "float64": pa.float64(), "bool": pa.bool_(), "int8": pa.int8(),
        "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "messages": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        "score": pa.struct([("scorer", pa.string()), ("model_revision", pa.string()), ("value", pa.float64())]),
        "response_score": pa.struct([("response", pa.int16()), ("scorer", pa.string()),
                                     ("model_revision", pa.string()), ("value", pa.float64())]),
    }[name]


def parquet_write(columns: list[tuple[str, str]], rows: Iterable[tuple], path: Path,
                  on_batch: Callable[[], None] | None = None) -> int:
    """Write rows as Parquet (zstd) in record batches; returns the number of rows.

    `on_batch()` is called after each batch (an export job renews its lease there; it may raise to
    stop)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(name, _arrow_type(type_name)) for name, type_name in columns])
    n = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= PARQUET_BATCH_ROWS:
                writer.write_batch(_record_batch(batch, schema))
                n += len(batch)
                batch = []
                if on_batch is not None:
                    on_batch()
        if batch or n == 0:
            writer.write_batch(_record_batch(batch, schema))
            n += len(batch)
    return n


def _record_batch(rows: list[tuple], schema):
    import pyarrow as pa

    arrays = []
    for i, f in enumerate(schema):
        values = [r[i] for r in rows]
        if pa.types.is_timestamp(f.type):
            values = [datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
        elif not pa.types.is_string(f.type):
            values = [json.loads(v) if v.__class__ is RawJson else v for v in values]
        arrays.append(pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- A project's export -----------------------------------------------------------------------

def export_stream(*, project: Project, params: ExportParams, file_format: str) -> Iterator[bytes]:
    """The export as a byte stream (JSONL or CSV), for StreamingHttpResponse or a file."""
    if file_format == "jsonl":
        # judgments and trl on PostgreSQL: lines that the database mostly wrote (rows.export_lines).
        lines = export_lines(project=project, params=params)
        if lines is not None:
            return line_chunks(lines)
        return jsonl_chunks(export_columns(params), export_rows(project=project, params=params))
    if file_format == "csv":
        return csv_chunks(export_column_names(params), export_rows(project=project, params=params))
    raise ApplicationError("Only jsonl and csv are streamed; parquet is written by an export job.",
                           fields={"as": "must be jsonl or csv"})


def export_write_parquet(*, project: Project, params: ExportParams, path: Path,
                         on_batch: Callable[[], None] | None = None) -> int:
    """Write the export as Parquet (zstd) in record batches; returns the number of rows."""
    return parquet_write(export_columns(params), export_rows(project=project, params=params), path,
                         on_batch=on_batch)
