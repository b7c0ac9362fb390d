"""The rows of each export format, read from the database in one consistent snapshot.

Rows are produced by merging a few ordered streams (items, responses, judgments, model scores, all
sorted by item id) read through server-side cursors, inside one REPEATABLE READ transaction so that
every stream sees the same snapshot. No model instances are built; memory holds one item at a time
whatever the size of the project. A stream's fields are named where its SQL columns are declared
(`Columns`); the rows of a format are tuples in the order of its columns (`export_columns`), which
is what the writers read.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from annotator.formats import HELPSTEER2_ANNOTATOR, HS2_ATTRIBUTES, helpsteer2_prompt
from annotator.models import Adjudication, CriterionJudgment, Item, Judgment, Project, Response
from config.db import read_snapshot
from scoring.definitions import criterion_row

from .labels import (
    AdjudicationRow,
    JudgmentRow,
    item_label,
    judgment_label,
    judgment_winner,
    justification,
    pairwise_agreement,
    top_index,
)
from .params import ExportParams

CHUNK_ROWS = 2000


# --- Columns ----------------------------------------------------------------------------------
# Column types are named here and turned into pyarrow types only for Parquet (writers.py): JSONL and
# CSV never import pyarrow (tens of MB of resident memory for nothing).

_SCORES = "list<score>"
# Every format ends with the item's import metadata: `subset` (RewardBench's, "" when none) and
# `metadata`, the item's metadata object as JSON text (a string whatever the keys, so that files of
# one format always have the same column types).
_IMPORT_METADATA = [("subset", "string"), ("metadata", "string")]
# HelpSteer2's five attributes (0–4) of each response, from the ratings its import stored.
_HS2_ATTRIBUTE_COLUMNS = [(f"response_{k}_{name}", "int8") for k in (1, 2) for name in HS2_ATTRIBUTES]
_COLUMNS = {
    "trl": [("prompt", "messages"), ("chosen", "messages"), ("rejected", "messages"), ("margin", "float64"),
            ("tie", "bool"), ("item_id", "string"), ("chosen_id", "string"), ("rejected_id", "string"),
            ("rubric_version", "string"), ("n_judgments", "int32"), ("agreement", "float64"),
            ("adjudicated", "bool"), ("chosen_model", "string"), ("rejected_model", "string"), *_IMPORT_METADATA],
    "helpsteer2": [("prompt", "string"), ("response_1", "string"), ("response_2", "string"),
                   ("preference_strength", "int8"), ("tie", "bool"), ("justification", "string"),
                   ("item_id", "string"), ("response_1_id", "string"), ("response_2_id", "string"),
                   ("response_1_model", "string"), ("response_2_model", "string"),
                   ("rubric_version", "string"), ("n_judgments", "int32"), ("agreement", "float64"),
                   ("adjudicated", "bool"), ("all_preferences", "list<int8>"), *_IMPORT_METADATA,
                   *_HS2_ATTRIBUTE_COLUMNS],
    "rubric_scores": [("item_id", "string"), ("response_id", "string"), ("response", "int16"), ("model", "string"),
                      ("criterion", "string"), ("criterion_title", "string"), ("scale", "string"),
                      ("points", "float64"), ("importance", "string"), ("rubric_version", "string"),
                      ("judge_type", "string"), ("judge", "string"), ("judgment_id", "int64"), ("value", "float64"),
                      ("met", "bool"), ("grade", "float64"), ("explanation", "string"), ("parse_status", "string"),
                      ("model_revision", "string"), ("scored_at", "timestamp"), *_IMPORT_METADATA],
    "judgments": [("judgment_id", "int64"), ("item_id", "string"), ("annotator", "string"),
                  ("rubric_version", "string"), ("preference", "int8"), ("both_bad", "bool"), ("winner", "string"),
                  ("ranking", "list<int16>"), ("rationale", "string"), ("time_spent_ms", "int64"),
                  ("submitted_at", "timestamp"), ("shown_order", "list<int16>"), ("response_ids", "list<string>"),
                  ("response_models", "list<string>"), ("n_judgments", "int32"), ("agreement", "float64"),
                  ("adjudicated", "bool"), *_IMPORT_METADATA],
}
_MODEL_SCORE_COLUMNS = {
    "trl": [("chosen_scores", _SCORES), ("rejected_scores", _SCORES)],
    "helpsteer2": [("response_1_scores", _SCORES), ("response_2_scores", _SCORES)],
    "judgments": [("model_scores", "list<response_score>")],
    "rubric_scores": [],
}


# An incremental export (`submitted_after`) ends every row with `deleted`: false on a row, true on
# a tombstone (an item whose rows are gone since the cursor).
DELETED_COLUMN = ("deleted", "bool")


def export_columns(params: ExportParams) -> list[tuple[str, str]]:
    """(name, type name) of every column of the format, in order."""
    columns = list(_COLUMNS[params.export_format])
    if params.include_model_scores:
        columns += _MODEL_SCORE_COLUMNS[params.export_format]
    if params.submitted_after is not None:
        columns.append(DELETED_COLUMN)
    return columns


def export_column_names(params: ExportParams) -> list[str]:
    return [name for name, _type in export_columns(params)]


# --- JSON values ------------------------------------------------------------------------------

class RawJson(str):
    """JSON text, written as is by the JSON Lines and CSV writers (parsed again only for Parquet).

    Values that repeat on every row of an item (its response ids, a shown order) are encoded once."""

    __slots__ = ()


_EMPTY_LIST = RawJson("[]")
_SHOWN_12, _SHOWN_21 = RawJson("[1,2]"), RawJson("[2,1]")


def iso_utc(value: datetime) -> str:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ, always six fractional digits (a naive value is taken as UTC)."""
    value = value.astimezone(UTC) if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


class Tombstone(tuple):
    """A row of an incremental export saying that an item has no rows any more: its `item_id`, every
    other column empty, `deleted` true (JSON Lines writes only those two keys)."""

    __slots__ = ()


def tombstone_json(external_id: str) -> str:
    """A tombstone in JSON Lines: {"item_id": …, "deleted": true}, those two keys only."""
    return f'{{"item_id":{encode_string(external_id)},"deleted":true}}'


# How long before its start an export's cursor lies. Changes are stamped (updated_at) by the clock
# of the process that writes them, before their transaction commits; one that commits after an
# export's snapshot was stamped at most this long before it, as long as write transactions (and the
# clocks of the app servers) stay within it. Items changed in the overlap are sent again by the next
# increment, which merging by item makes harmless.
CURSOR_OVERLAP = timedelta(minutes=2)


def export_cursor(*, started: datetime | None = None) -> str:
    """The `submitted_after` value that the next increment should use, for an export starting now
    (or at `started`): every change this export cannot see is later than it."""
    return iso_utc((started or timezone.now()) - CURSOR_OVERLAP)


def _json_default(value):
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


from json.encoder import encode_basestring as encode_string  # noqa: E402, I001 - C, with ensure_ascii=False

try:  # one C encoder for the whole export instead of one per row (json.dumps builds a new one each call)
    from json.encoder import c_make_encoder as _c_make_encoder

    _c_encoder = _c_make_encoder(None, _json_default, encode_string, None, ":", ",", False, False, True)

    def encode_json(value) -> str:
        """Compact JSON (no spaces, UTF-8 kept), times as ISO 8601 in UTC."""
        return "".join(_c_encoder(value, 0))
except (ImportError, TypeError):  # pragma: no cover - non-CPython
    encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode


def _json_value(value) -> str:
    return value if value.__class__ is RawJson else encode_json(value)


def _json_float(value) -> str:
    # JSON has no NaN or infinity: null, as a reader would have to treat them anyway.
    return repr(value) if math.isfinite(value) else "null"


def _json_time(value) -> str:
    return encode_string(value if isinstance(value, str) else iso_utc(value))


_ENCODE_BY_TYPE = {
    # Empty text is common (no subset, no explanation): written without a call.
    "string": "(_empty if not {v} else _str({v}))", "bool": '("true" if {v} else "false")', "float64": "_float({v})",
    "timestamp": "_time({v})", "int8": "{v}", "int16": "{v}", "int32": "{v}", "int64": "{v}",
}


def row_encoder(columns: list[tuple[str, str]]):
    """A function that writes one row (a tuple in column order) as a JSON object.

    It is generated from the format's columns, like a compiled template: each value is encoded by its
    column's type with the C string encoder, instead of building a dict per row and walking it
    (twice as fast; the keys are fixed text). Nested values go through the C JSON encoder.
    """
    parts = []
    for i, (name, type_name) in enumerate(columns):
        literal = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        value = _ENCODE_BY_TYPE.get(type_name, "_json({v})").format(v=f"r[{i}]")
        parts.append(literal.replace("{", "{{").replace("}", "}}") + f'{{"null" if r[{i}] is None else {value}}}')
    source = "def encode(r):\n    return f'" + "".join(parts) + "}}'\n"
    namespace = {"_empty": '""', "_str": encode_string, "_float": _json_float, "_time": _json_time,
                 "_json": _json_value}
    exec(compile(source, f"<row encoder {columns[0][0]}…>", "exec"), namespace)  # noqa: S102 - fixed text
    return namespace["encode"]



# --- JSON Lines written by the database -------------------------------------------------------
# For judgments and trl (PostgreSQL, JSON Lines), the database writes most of each line: a run of
# consecutive columns that a stream's SQL gives becomes one text column `"v1,"k2":v2,…` (to_json()
# escapes text exactly as encode_string does: quotes, backslashes, control characters as \n, \t,
# … or \u00XX, everything else kept), and Python only splices it with the values it decides (per
# item: the label, ids; per row: the winner). Keys and their order come from export_columns, as for
# the tuples; CSV and Parquet keep reading tuples.

_SQL_JSON_TYPES = {"string", "bool", "int8", "int16", "int32", "int64"}  # to_json() writes them as Python does
_SQL_JSON_TIME = ("COALESCE('\"' || to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                  " || '\"', 'null')")  # iso_utc's spelling: six digits, Z


def _sql_json(type_name: str, source) -> Func:
    """A column's value as JSON text in SQL, by the column's type. Floats stay Python's (repr)."""
    source = F(source) if isinstance(source, str) else source
    if type_name == "timestamp":
        return Func(source, template=_SQL_JSON_TIME, output_field=TextField())
    if type_name in _SQL_JSON_TYPES:
        return Func(source, template="COALESCE(to_json(%(expressions)s)::text, 'null')", output_field=TextField())
    raise ValueError(f"a {type_name} column is not written by the database")


class JsonLine:
    """The JSON Lines of a format, assembled from the database's runs of columns and Python's values.

    `sql`: column name → its SQL source, for the columns the driving stream gives (one row per
    line); consecutive ones become one text column (`sql_columns()`, for that stream's Columns).
    `item_sql`: the same for a stream with one row per item (`item_sql_columns()`): each run is a
    slot, `item_runs` (run's column name → slot). Every other column is a slot too: the caller keeps
    a list (`new_slots()`), puts each slot's JSON text at `slots[name]`, and `render(row, values)`
    writes the line. Consecutive columns named in `per_item` share one slot, named after the first,
    filled once per item with `item_text(name, values)`.
    """

    def __init__(self, columns: list[tuple[str, str]], sql: dict, *, item_sql: dict | None = None,
                 per_item: Iterable[str] = ()):
        item_sql = item_sql or {}
        unknown = (set(sql) | set(item_sql)) - {name for name, _type in columns}
        if unknown:
            raise ValueError(f"not columns of the format: {sorted(unknown)}")
        self.slots: dict[str, int] = {}
        self._runs: dict[str, list] = {}  # text column name → SQL parts (the driving stream's)
        self._item_runs: dict[str, list] = {}  # the same, the per-item stream's
        self.item_runs: dict[str, int] = {}  # the per-item stream's text column → its slot
        self.item_groups: dict[str, tuple] = {}  # first column → (its columns, their encoder, …)
        per_item = set(per_item)
        pieces: list[tuple[str, object]] = []  # ("text", literal) | ("run", run name) | ("slot", index)
        run = group = None  # the run or group that the previous column opened
        for i, (name, type_name) in enumerate(columns):
            key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
            source = sql.get(name, item_sql.get(name))
            if source is not None:
                value = _sql_json(type_name, source)
                runs = self._runs if name in sql else self._item_runs
                if run is not None and run in runs:
                    runs[run] += [Value(key), value]
                    continue
                group, run = None, f"json_{name}"
                runs[run] = [value]
                if name in sql:
                    pieces += [("text", key), ("run", run)]
                    continue
                self.item_runs[run] = self.slots[name] = len(self.slots)
                pieces += [("text", key), ("slot", self.slots[name])]
                continue
            run = None
            if name in per_item and group is not None:
                self.item_groups[group][0].append((name, type_name))
                continue
            group = name if name in per_item else None
            if group is not None:
                self.item_groups[group] = ([(name, type_name)],)
            self.slots[name] = len(self.slots)
            pieces += [("text", key), ("slot", self.slots[name])]
        for first, (group_columns,) in self.item_groups.items():
            names = [c for c, _type in group_columns]
            self.item_groups[first] = (names, row_encoder(group_columns), len(json.dumps(first)) + 2)
        self._pieces = pieces + [("text", "}")]
        self.render = None

    @staticmethod
    def _concat(runs: dict[str, list]) -> dict[str, Func]:
        return {name: parts[0] if len(parts) == 1 else
                Func(*parts, template="(%(expressions)s)", arg_joiner=" || ", output_field=TextField())
                for name, parts in runs.items()}

    def sql_columns(self) -> dict[str, Func]:
        return self._concat(self._runs)

    def item_sql_columns(self) -> dict[str, Func]:
        return self._concat(self._item_runs)

    def bind(self, columns: Columns) -> JsonLine:
        """Generate `render(r, values)` for rows with these columns (like writers' row encoder)."""
        code = []
        for kind, what in self._pieces:
            if kind == "text":
                code.append(what.replace("\\", "\\\\").replace("'", "\\'").replace("{", "{{").replace("}", "}}"))
            elif kind == "run":
                code.append(f"{{r[{getattr(columns, what)}]}}")
            else:
                code.append(f"{{v[{what}]}}")
        source = "def render(r, v):\n    return f'" + "".join(code) + "'\n"
        namespace: dict = {}
        exec(compile(source, f"<json line {self._pieces[0][1]}…>", "exec"), namespace)  # noqa: S102 - fixed text
        self.render = namespace["render"]
        return self

    def new_slots(self) -> list:
        return [None] * len(self.slots)

    def item_text(self, name: str, values: dict) -> str:
        """The JSON text of the per-item slot `name`: its columns' values taken from `values`."""
        names, encode, skip = self.item_groups[name]
        return encode(tuple([values[c] for c in names]))[skip:-1]


# --- Streams ----------------------------------------------------------------------------------

class _ReadAhead:
    """Rows of a server-side cursor, fetched one chunk ahead by a thread (PostgreSQL).

    A FETCH blocks until PostgreSQL has computed the chunk; fetched in the foreground, that time adds
    to the time Python spends encoding rows. Here a thread fetches chunk n+1 (releasing the GIL while
    it waits) while this thread encodes chunk n, so the database and Python work at once, on two
    cores. The cursor is declared in the calling thread, inside its transaction and snapshot;
    psycopg's connection lock serialises the FETCHes with the other cursors of the export. Memory:
    two chunks at most.

    Only for plain columns (no ORM converters): the queryset's values_list must name its model
    fields first and its expressions last, which is the column order of the SQL. Iterate it to the
    end or close it (the generator's `finally` does, when the export stops early).
    """

    def __init__(self, queryset: QuerySet, chunk_size: int | None = None):
        import queue
        import threading

        sql, params = queryset.query.sql_with_params()
        self._chunk = chunk_size or CHUNK_ROWS
        self._cursor = connection.chunked_cursor()
        self._cursor.execute(sql, params)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._full = queue.Full
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="export-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                rows = self._cursor.fetchmany(self._chunk)
                self._put(rows)
                if not rows:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except self._full:
                continue

    def __iter__(self) -> Iterator[tuple]:
        try:
            while True:
                chunk = self._queue.get()
                if isinstance(chunk, BaseException):
                    raise chunk
                if not chunk:
                    return
                yield from chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (a consumer that stops early, or a client that hangs up) and the cursor."""
        if self._stop.is_set() and not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join()
        self._cursor.close()


class Columns:
    """The columns of one SQL stream: each field's name → its ORM lookup or expression, in SELECT
    order. The first is the item id (what ByItem groups by).

    Rows stay plain tuples, as the cursor returns them: an object per row (a namedtuple) costs more
    than encoding the row does. Instead `columns.<name>` is the field's index, so code reads
    `row[J.preference]`, never `row[4]`, and the index is declared once, beside the SQL column.
    """

    def __init__(self, **lookups):
        self.lookups = lookups
        for index, name in enumerate(lookups):
            if hasattr(self, name):
                raise ValueError(f"{name}: a column cannot be called that")
            setattr(self, name, index)

    def read(self, queryset: QuerySet, *, read_ahead: bool = True) -> Iterator[tuple]:
        """The queryset's rows with these columns.

        `read_ahead` (PostgreSQL): raw rows fetched ahead by a thread, so only plain columns, and
        expressions (text casts) after the lookups; without it, the ORM's iterator with its
        converters (JSON fields parsed).
        """
        lookups = list(self.lookups.values())
        if read_ahead:
            first_expression = next((i for i, v in enumerate(lookups) if not isinstance(v, str)), len(lookups))
            if any(isinstance(v, str) for v in lookups[first_expression:]):
                raise ValueError("read ahead, the expressions must come after the lookups")
        values = queryset.values_list(*lookups)
        if read_ahead and connection.vendor == "postgresql":
            return iter(_ReadAhead(values))
        return values.iterator(chunk_size=CHUNK_ROWS)


class ByItem:
    """An iterator of rows sorted by item id (row[0]); take(item_id) returns that item's rows."""

    __slots__ = ("_it", "_head")

    def __init__(self, rows: Iterable[tuple]):
        self._it = iter(rows)
        self._head = next(self._it, None)

    def take(self, item_id: int) -> list[tuple]:
        out = []
        head, it = self._head, self._it
        # Rows of items the driver stream skipped (filtered out there) are passed over.
        while head is not None and head[0] < item_id:
            head = next(it, None)
        while head is not None and head[0] == item_id:
            out.append(head)
            head = next(it, None)
        self._head = head
        return out


def _text(name: str) -> Cast:
    return Cast(name, TextField())


def id_list(text: str | None) -> list[int]:
    """A JSON list of ids as the database prints it ("[]", "[3, 4]", "[3,4]") → [3, 4]."""
    if not text or text == "[]":
        return []
    try:
        return [int(x) for x in text[1:-1].split(",")]
    except ValueError:
        return [x for x in json.loads(text) if isinstance(x, int)]


# "YYYY-MM-DD HH:MM:SS" + "." + six digits: the database leaves out trailing zeros of the fraction
# (and the whole fraction on a whole second); the exports always write six digits.
_MICROS = ".000000"


def db_time(text: str | None) -> str | None:
    """A timestamp as the database prints it → YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, six digits).

    PostgreSQL (session time zone UTC): "2025-01-02 03:04:05.1234+00"; SQLite: "2025-01-02 03:04:05.123456".
    """
    if text is None:
        return None
    if text.endswith("+00"):
        body = text[:-3]
    else:
        clock = text[19:]  # after "YYYY-MM-DD HH:MM:SS": fraction and offset, if any
        if "+" in clock or "-" in clock:
            return iso_utc(datetime.fromisoformat(text))
        body = text  # no offset: SQLite keeps UTC
    n = len(body)
    if n != 26:
        body += _MICROS[n - 19:] if n > 19 else _MICROS
    return body.replace(" ", "T", 1) + "Z"


def _judgment_filter(params: ExportParams, prefix: str = "") -> Q:
    q = Q()
    if params.rubric_version_id is not None:
        q &= Q(**{f"{prefix}rubric_version_id": params.rubric_version_id})
    return q


def _items(project: Project, params: ExportParams) -> QuerySet[Item]:
    """The project's items that can produce rows: enough counted judgments; for an incremental
    export (`submitted_after`), every item that changed since then, whether it still has rows or not
    (those without become tombstones).

    An item is stamped (updated_at) whenever its label may change: a judgment submitted, undone or
    imported, an adjudication set or cleared, its content re-imported (annotator/services). The
    judgments' and the adjudication's own times are read too, and with model scores their times.
    """
    items = Item.objects.filter(project=project)
    after = params.submitted_after
    if after is not None:
        changed = (Q(updated_at__gt=after) | Q(adjudication__updated_at__gt=after)
                   | Exists(Judgment.objects.filter(Q(submitted_at__gt=after) | Q(updated_at__gt=after),
                                                    item=OuterRef("pk"))))
        if params.include_model_scores:
            from scoring.models import CriterionScore, ResponseScore

            scores = CriterionScore if params.export_format == "rubric_scores" else ResponseScore
            changed |= Exists(scores.objects.filter(response__item=OuterRef("pk"), created_at__gt=after))
        return items.filter(changed)
    if params.min_judgments == 1:
        items = items.filter(Exists(Judgment.objects.filter(_judgment_filter(params), item=OuterRef("pk"))))
    elif params.min_judgments > 1:
        items = items.annotate(
            _counted=Count("judgments", filter=_judgment_filter(params, "judgments__"))
        ).filter(_counted__gte=params.min_judgments)
    return items


def _item_ids(project: Project, params: ExportParams) -> QuerySet:
    return _items(project, params).values("id")


def _judgment_scope(project: Project, params: ExportParams, item_ids: QuerySet) -> Q:
    """Which judgments a stream reads. Without per-item conditions every counted judgment of the
    project qualifies, and a plain join beats the semi-join with the item subquery (whose EXISTS
    a judgment satisfies by existing)."""
    if params.min_judgments <= 1 and params.submitted_after is None:
        return _judgment_filter(params) & Q(item__project=project)
    return _judgment_filter(params) & Q(item_id__in=item_ids)


def _response_columns(*, content: bool) -> Columns:
    lookups = {"item_id": "item_id", "id": "id", "external_id": "external_id", "model_name": "model_name"}
    return Columns(**lookups, **({"content": "content"} if content else {}))


def _responses(item_ids: QuerySet, columns: Columns, *, read_ahead: bool = True) -> Iterator[tuple]:
    """The items' responses in stored order."""
    return columns.read(Response.objects.filter(item_id__in=item_ids).order_by("item_id", "position", "id"),
                        read_ahead=read_ahead)


S = Columns(item_id="response__item_id", response_id="response_id", scorer="scorer__name",
            model_revision="model_revision", value="value")


def _model_scores(item_ids: QuerySet) -> Iterator[tuple]:
    """The newest reward-model score per response and scorer (columns S)."""
    from scoring.models import ResponseScore

    rows = S.read(ResponseScore.objects.filter(response__item_id__in=item_ids)
                  .order_by("response__item_id", "response_id", "scorer__name", "-created_at", "-id"),
                  read_ahead=False)
    last = None
    for row in rows:
        key = (row[S.response_id], row[S.scorer])
        if key != last:
            last = key
            yield row


def _version_labels() -> dict[int, str]:
    from rubrics.models import RubricVersion

    return {pk: f"{slug}@v{number}" for pk, slug, number in
            RubricVersion.objects.values_list("id", "rubric_set__slug", "number")}


def _versions_label(ids: Iterable[int | None], labels: dict[int, str]) -> str:
    distinct = sorted({labels.get(i, str(i)) for i in ids if i is not None})
    return ",".join(distinct)


def _scores_for(scores: list[tuple], response_pk: int) -> list[dict]:
    return [{"scorer": s[S.scorer], "model_revision": s[S.model_revision], "value": s[S.value]}
            for s in scores if s[S.response_id] == response_pk]


def _passes_item_filters(n_judgments: int, agreement: float | None, params: ExportParams) -> bool:
    if n_judgments < params.min_judgments:
        return False
    if params.min_agreement is None:
        return True
    return agreement is not None and agreement >= params.min_agreement - 1e-12


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# --- Rows of each format ----------------------------------------------------------------------

def _item_metadata_columns() -> dict:
    """The item's import metadata as SQL columns: the JSON text of its metadata, and its `subset`."""
    return {"metadata": _text("metadata"), "subset": KT("metadata__subset")}


def _item_import_metadata(item: tuple, columns: Columns) -> tuple[str, str]:
    """(subset, metadata) of an item read with _item_metadata_columns: "" and "{}" when there are none."""
    return item[columns.subset] or "", item[columns.metadata] or "{}"


def _item_subset() -> Coalesce:
    return Coalesce(KT("metadata__subset"), Value(""))  # as _item_import_metadata, in SQL


def _item_metadata() -> Coalesce:
    return Coalesce(_text("metadata"), Value("{}"))


def _tombstone(params: ExportParams, external_id: str) -> Tombstone:
    columns = export_column_names(params)
    row = [None] * len(columns)
    row[columns.index("item_id")] = external_id
    row[-1] = True
    return Tombstone(row)


def _hs2_ratings(item_ids: QuerySet) -> Iterator[tuple]:
    """The HelpSteer2 attributes its import stored (the judgments of HELPSTEER2_ANNOTATOR):
    (item id, response id, attribute, Likert value 1–5), ordered by item."""
    return CriterionJudgment.objects.filter(
        judgment__item_id__in=item_ids, judgment__annotator__username=HELPSTEER2_ANNOTATOR,
        criterion__key__in=HS2_ATTRIBUTES,
    ).order_by("judgment__item_id").values_list("judgment__item_id", "response_id", "criterion__key", "value").iterator(
        chunk_size=CHUNK_ROWS)


_NO_ATTRIBUTES = (None,) * len(_HS2_ATTRIBUTE_COLUMNS)


def _hs2_attribute_values(ratings: list[tuple], first: int, second: int) -> tuple:
    """The ten attribute columns (response 1's five, then response 2's), 0–4, None where unrated."""
    if not ratings:
        return _NO_ATTRIBUTES
    values = {(r[1], r[2]): int(r[3]) - 1 for r in ratings}
    return tuple(values.get((pk, name)) for pk in (first, second) for name in HS2_ATTRIBUTES)


def _item_format_rows(project: Project, params: ExportParams, *, light: bool, lines: bool = False) -> Iterator:
    """trl and helpsteer2: one row per item with a decided preference (helpsteer2: also every item
    with HelpSteer2 attributes); in an increment, a tombstone for a changed item without one.
    `lines` (trl): JSON Lines text (JsonLine)."""
    fmt = params.export_format
    item_ids = _item_ids(project, params)
    incremental = params.submitted_after is not None
    line = None
    if lines:
        line = JsonLine(export_columns(params), {"item_id": "external_id", "subset": _item_subset(),
                                                 "metadata": _item_metadata()},
                        per_item=("margin", "tie", "n_judgments", "agreement", "adjudicated"))
    # JSON comes as text, parsed here only when there is something in it.
    IT = Columns(id="id", external_id="external_id", adjudication_id="adjudication__id",
                 adjudication_preference="adjudication__preference", adjudication_both_bad="adjudication__both_bad",
                 adjudication_rationale="adjudication__rationale", adjudication_ranking=_text("adjudication__ranking"),
                 **({} if light else {"prompt": _text("prompt"), **_item_metadata_columns()}),
                 **(line.sql_columns() if line else {}))
    if line is not None:
        line.bind(IT)
    # The responses' text is escaped by Python (encode_string) even in lines: to_json() of the contents
    # costs PostgreSQL twice what it costs Python, and PostgreSQL is the slower side of trl.
    R = _response_columns(content=not light)
    J = Columns(item_id="item_id", id="id", annotator="annotator__username", rubric_version_id="rubric_version_id",
                preference="preference", both_bad="both_bad", rationale="rationale", ranking=_text("ranking"))
    items = IT.read(Item.objects.filter(id__in=item_ids).order_by("id"))
    responses = ByItem(_responses(item_ids, R))
    judgments = ByItem(J.read(Judgment.objects.filter(_judgment_scope(project, params, item_ids))
                               .order_by("item_id", "submitted_at", "id")))
    scores = ByItem(_model_scores(item_ids)) if params.include_model_scores and not light else None
    ratings = ByItem(_hs2_ratings(item_ids)) if fmt == "helpsteer2" else None
    versions = _version_labels()
    keep_ties = params.tie_policy == "keep"
    # trl, two responses: the label depends only on the (preference, both_bad) of each judgment and the
    # adjudication's, a handful of distinct answers, so each is decided once (item_label, the one rule).
    labels: dict | None = {} if fmt == "trl" else None
    version_texts: dict[tuple, str] = {}

    for item in items:
        item_id = item[IT.id]
        resp = responses.take(item_id)
        group = judgments.take(item_id)
        item_scores = scores.take(item_id) if scores is not None else []
        item_ratings = ratings.take(item_id) if ratings is not None else []
        adjudicated = item[IT.adjudication_id] is not None
        key = None
        if labels is not None and len(resp) == 2:
            key = ((item[IT.adjudication_preference], item[IT.adjudication_both_bad]) if adjudicated else None,
                   tuple([(j[J.preference], j[J.both_bad]) for j in group]))
            known = labels.get(key)
        if key is None or known is None:
            votes = [JudgmentRow(j[J.id], j[J.annotator], j[J.rubric_version_id], j[J.preference], j[J.both_bad],
                                 id_list(j[J.ranking]), j[J.rationale]) for j in group]
            positions = {r[R.id]: i for i, r in enumerate(resp)}
            adjudication = (AdjudicationRow(item[IT.adjudication_preference], item[IT.adjudication_both_bad],
                                            id_list(item[IT.adjudication_ranking])) if adjudicated else None)
            label = item_label(judgments=votes, adjudication=adjudication, positions=positions)
            known = [label, None]  # the label, and its JSON text once written
            if key is not None:
                labels[key] = known
        label = known[0]
        passes = _passes_item_filters(label.n_judgments, label.agreement, params)
        preferred = passes and not label.both_bad and label.decided and (keep_ties or not label.tie)
        if fmt == "helpsteer2":
            # HelpSteer2 is pairwise: items ranked among more responses are trl-only. Its attributes are
            # written whatever the preference (preference_strength null when there is none).
            preferred = preferred and len(resp) == 2 and label.strength is not None
            has_row = passes and len(resp) == 2 and (preferred or bool(item_ratings))
        else:
            has_row = preferred
        if not has_row:
            if incremental:
                yield () if light else tombstone_json(item[IT.external_id]) if lines else _tombstone(
                    params, item[IT.external_id])
            continue
        if label.tie and preferred:
            # Kept ties: response 1 (stored order) as chosen, marked by `tie`.
            label.chosen, label.rejected, label.margin, label.strength = 0, 1, 0.0, 0
        if light:
            yield ()
            continue
        version_ids = tuple([j[J.rubric_version_id] for j in group])
        version = version_texts.get(version_ids)
        if version is None:
            version = version_texts[version_ids] = _versions_label(version_ids, versions)
        if fmt == "trl":
            chosen, rejected = resp[label.chosen], resp[label.rejected]
            chosen_scores = rejected_scores = None
            if params.include_model_scores:
                chosen_scores = _scores_for(item_scores, chosen[R.id])
                rejected_scores = _scores_for(item_scores, rejected[R.id])
            if line is not None:
                yield _trl_line(line, item, item[IT.prompt], chosen, rejected, R, known, version, chosen_scores,
                                rejected_scores)
                continue
            # The stored message list goes out as the database wrote it (valid JSON, not re-parsed).
            prompt = RawJson(item[IT.prompt]) if item[IT.prompt] else _EMPTY_LIST
            row = (prompt, assistant_message(encode_string(chosen[R.content])),
                   assistant_message(encode_string(rejected[R.content])), round(label.margin, 6), label.tie,
                   item[IT.external_id], chosen[R.external_id], rejected[R.external_id], version,
                   label.n_judgments, _r(label.agreement), label.adjudicated, chosen[R.model_name],
                   rejected[R.model_name], *_item_import_metadata(item, IT))
            if params.include_model_scores:
                row += (chosen_scores, rejected_scores)
        else:
            why = (justification(votes, label, adjudication_rationale=item[IT.adjudication_rationale]
                                 if adjudicated else "") if preferred else "")
            prompt = json.loads(item[IT.prompt]) if item[IT.prompt] else []
            first, second = resp
            row = (helpsteer2_prompt(prompt), first[R.content], second[R.content],
                   label.strength if preferred else None, label.tie and preferred, why, item[IT.external_id],
                   first[R.external_id], second[R.external_id], first[R.model_name], second[R.model_name],
                   version, label.n_judgments, _r(label.agreement), label.adjudicated,
                   [v.preference for v in votes if v.preference is not None and not v.both_bad],
                   *_item_import_metadata(item, IT), *_hs2_attribute_values(item_ratings, first[R.id], second[R.id]))
            if params.include_model_scores:
                row += (_scores_for(item_scores, first[R.id]), _scores_for(item_scores, second[R.id]))
        yield row + (False,) if incremental else row


def assistant_message(content_json: str) -> RawJson:
    """A response as TRL's `chosen`/`rejected`: one assistant message, from its content's JSON text."""
    return RawJson('[{"role":"assistant","content":' + content_json + "}]")


def _trl_line(line: JsonLine, item: tuple, prompt: str | None, chosen: tuple, rejected: tuple, R: Columns,
              known: list, version: str, chosen_scores: list | None, rejected_scores: list | None) -> str:
    """A trl row as JSON Lines text: the item's columns from the database, the label's written once."""
    label, texts = known
    if texts is None:
        values = {"margin": round(label.margin, 6), "tie": label.tie, "n_judgments": label.n_judgments,
                  "agreement": _r(label.agreement), "adjudicated": label.adjudicated}
        texts = known[1] = {name: line.item_text(name, values) for name in line.item_groups}
    slots, v = line.slots, line.new_slots()
    for name, text in texts.items():
        v[slots[name]] = text
    v[slots["prompt"]] = prompt if prompt else _EMPTY_LIST
    v[slots["chosen"]] = assistant_message(encode_string(chosen[R.content]))
    v[slots["rejected"]] = assistant_message(encode_string(rejected[R.content]))
    v[slots["chosen_id"]] = encode_string(chosen[R.external_id])
    v[slots["rejected_id"]] = encode_string(rejected[R.external_id])
    v[slots["rubric_version"]] = encode_string(version)
    v[slots["chosen_model"]] = encode_string(chosen[R.model_name])
    v[slots["rejected_model"]] = encode_string(rejected[R.model_name])
    if chosen_scores is not None:
        v[slots["chosen_scores"]] = encode_json(chosen_scores)
        v[slots["rejected_scores"]] = encode_json(rejected_scores)
    if "deleted" in slots:
        v[slots["deleted"]] = "false"
    return line.render(item, v)


# A judgment's winner from (preference, both_bad, top position): a handful of distinct answers, looked
# up instead of decided again for each of millions of rows.
_winner = functools.cache(lambda preference, both_bad, top_position: judgment_winner(
    preference=preference, both_bad=both_bad, top_position=top_position))


def _judgment_rows(project: Project, params: ExportParams, *, light: bool, lines: bool = False) -> Iterator:
    """judgments: every counted judgment of the items that pass the filters; in an increment, every
    one of each changed item (a tombstone for one without any). `lines`: JSON Lines text (JsonLine)."""
    item_ids = _item_ids(project, params)
    incremental = params.submitted_after is not None
    adjudicated = Exists(Adjudication.objects.filter(item=OuterRef("pk")))
    R = _response_columns(content=False)
    versions = _version_labels()
    line = None
    if lines:
        line = JsonLine(export_columns(params), {
            "judgment_id": "id", "annotator": "annotator__username",
            "rubric_version": Func(Value(json.dumps(versions)), _text("rubric_version_id"),
                                   template="COALESCE(%(expressions)s, '')", arg_joiner="::jsonb ->> ",
                                   output_field=TextField()),
            "preference": "preference", "both_bad": "both_bad", "rationale": "rationale",
            "time_spent_ms": "time_spent_ms", "submitted_at": "submitted_at"},
            item_sql={"item_id": "external_id", "adjudicated": adjudicated, "subset": _item_subset(),
                      "metadata": _item_metadata()},
            per_item=("response_ids", "response_models", "n_judgments", "agreement", "model_scores", "deleted"))
        IT = Columns(id="id", external_id="external_id", **line.item_sql_columns())
        # The columns Python needs (the winner, the agreement, positions), then the database's text.
        J = Columns(item_id="item_id", preference="preference", both_bad="both_bad", ranking=_text("ranking"),
                    shown_order=_text("assignment__shown_order"), **line.sql_columns())
        line.bind(J)
    else:
        IT = Columns(id="id", external_id="external_id", adjudicated=adjudicated, **_item_metadata_columns())
        # JSON and time columns come as text (parsing them here is cheaper than the ORM's converters).
        J = Columns(item_id="item_id", id="id", annotator="annotator__username",
                    rubric_version_id="rubric_version_id", preference="preference", both_bad="both_bad",
                    rationale="rationale", time_spent_ms="time_spent_ms", ranking=_text("ranking"),
                    submitted_at=_text("submitted_at"), shown_order=_text("assignment__shown_order"))
    items = IT.read(Item.objects.filter(id__in=item_ids).order_by("id"), read_ahead=False)
    responses = ByItem(_responses(item_ids, R))
    judgments = ByItem(J.read(Judgment.objects.filter(_judgment_scope(project, params, item_ids))
                               .order_by("item_id", "submitted_at", "id")))
    scores = ByItem(_model_scores(item_ids)) if params.include_model_scores and not light else None

    for item in items:
        item_id = item[IT.id]
        resp = responses.take(item_id)
        group = judgments.take(item_id)
        positions = {r[R.id]: i for i, r in enumerate(resp)}
        many = len(resp) > 2
        winners = [_winner(j[J.preference], j[J.both_bad],
                           top_index(id_list(j[J.ranking]), positions) if many and j[J.ranking] != "[]" else None)
                   for j in group]
        agreement = pairwise_agreement([w for w in winners if w is not None])
        if not group or not _passes_item_filters(len(group), agreement, params):
            if incremental:
                yield () if light else tombstone_json(item[IT.external_id]) if lines else _tombstone(
                    params, item[IT.external_id])
            continue
        if light:
            for _j in group:
                yield ()
            continue
        item_scores = None
        if scores is not None:
            item_scores = [{"response": positions[s[S.response_id]] + 1, "scorer": s[S.scorer],
                            "model_revision": s[S.model_revision], "value": s[S.value]}
                           for s in scores.take(item_id) if s[S.response_id] in positions]
        # The item's columns: the same on each of its rows.
        values = {"response_ids": [r[R.external_id] for r in resp], "response_models": [r[R.model_name] for r in resp],
                  "n_judgments": len(group), "agreement": _r(agreement), "model_scores": item_scores,
                  "deleted": False}
        # Shown orders as PostgreSQL prints them for the usual two responses; anything else is parsed
        # (and each distinct order of the item is mapped and encoded once).
        mapped: dict[str, RawJson] = {}
        if len(resp) == 2:
            first, second = resp[0][R.id], resp[1][R.id]
            mapped = {f"[{first}, {second}]": _SHOWN_12, f"[{second}, {first}]": _SHOWN_21}
        if line is not None:
            slots, v = line.slots, line.new_slots()
            for name in line.item_groups:
                v[slots[name]] = line.item_text(name, values)
            for name, slot in line.item_runs.items():
                v[slot] = item[getattr(IT, name)]
            winner_slot, ranking_slot, shown_slot = slots["winner"], slots["ranking"], slots["shown_order"]
            render = line.render
        else:
            response_ids = RawJson(encode_json(values["response_ids"]))
            response_models = RawJson(encode_json(values["response_models"]))
            external_id, n_group, agreement = item[IT.external_id], values["n_judgments"], values["agreement"]
            adjudicated = item[IT.adjudicated]
            subset, metadata = _item_import_metadata(item, IT)
        for j, winner in zip(group, winners, strict=True):
            shown_text, ranking_text = j[J.shown_order], j[J.ranking]
            shown = mapped.get(shown_text)
            if shown is None:
                shown = mapped[shown_text] = RawJson(encode_json(
                    [positions[pk] + 1 for pk in id_list(shown_text) if pk in positions]))
            ranking = (_EMPTY_LIST if ranking_text == "[]"
                       else [positions[pk] + 1 for pk in id_list(ranking_text) if pk in positions])
            if line is not None:
                v[winner_slot] = _winner_json(winner)
                v[ranking_slot] = ranking if ranking is _EMPTY_LIST else encode_json(ranking)
                v[shown_slot] = shown
                yield render(j, v)
                continue
            row = (j[J.id], external_id, j[J.annotator], versions.get(j[J.rubric_version_id], ""), j[J.preference],
                   j[J.both_bad], winner or "", ranking, j[J.rationale], j[J.time_spent_ms],
                   db_time(j[J.submitted_at]), shown, response_ids, response_models, n_group, agreement, adjudicated,
                   subset, metadata)
            if item_scores is not None:
                row += (item_scores,)
            yield row + (False,) if incremental else row


@functools.cache
def _winner_json(winner: str | None) -> str:
    return encode_string(winner or "")


_CRITERION_LOOKUPS = {"criterion": "criterion__key", "criterion_title": "criterion__title",
                      "scale": "criterion__scale", "points": "criterion__points",
                      "importance": "criterion__importance", "rubric_version_id": "criterion__version_id"}
# A person's criterion scores, and a scorer's (no read-ahead: fetched through the ORM's iterator).
H = Columns(item_id="judgment__item_id", response_external_id="response__external_id", model="response__model_name",
            **_CRITERION_LOOKUPS, annotator="judgment__annotator__username", judgment_id="judgment_id",
            value="value", submitted_at=_text("judgment__submitted_at"), response_id="response_id")
M = Columns(item_id="response__item_id", response_external_id="response__external_id", model="response__model_name",
            **_CRITERION_LOOKUPS, scorer="scorer__name", met="met", score="score", explanation="explanation",
            parse_status="parse_status", model_revision="scorer__revision", created_at=_text("created_at"),
            response_id="response_id")


def _rubric_score_rows(project: Project, params: ExportParams, *, light: bool) -> Iterator[tuple]:
    """rubric_scores: one row per response × criterion × judge (annotators, and scorers when asked);
    in an increment, every row of each changed item (a tombstone for one without any)."""
    from scoring.models import CriterionScore

    item_ids = _item_ids(project, params)
    incremental = params.submitted_after is not None
    # An increment's items are not filtered in SQL (the ones left out become tombstones).
    need_stats = (params.min_judgments > 1 or params.min_agreement is not None
                  or (incremental and params.min_judgments > 0))
    IT = Columns(id="id", external_id="external_id", **_item_metadata_columns())
    R = Columns(item_id="item_id", id="id")
    items = IT.read(Item.objects.filter(id__in=item_ids).order_by("id"), read_ahead=False)
    stats = None
    if need_stats:
        V = Columns(item_id="item_id", preference="preference", both_bad="both_bad", ranking="ranking")
        stats = ByItem(V.read(Judgment.objects.filter(_judgment_scope(project, params, item_ids))
                               .order_by("item_id", "submitted_at", "id"), read_ahead=False))
        stat_responses = ByItem(_responses(item_ids, R, read_ahead=False))
    human = CriterionJudgment.objects.filter(judgment__item_id__in=item_ids)
    if params.rubric_version_id is not None:
        human = human.filter(judgment__rubric_version_id=params.rubric_version_id)
    human_rows = ByItem(H.read(human.order_by("judgment__item_id", "judgment__submitted_at", "judgment_id",
                                               "response__position", "response_id", "criterion__position",
                                               "criterion_id"), read_ahead=False))
    model_rows = None
    if params.include_model_scores:
        model = CriterionScore.objects.filter(response__item_id__in=item_ids)
        if params.rubric_version_id is not None:
            model = model.filter(criterion__version_id=params.rubric_version_id)
        model_rows = ByItem(M.read(model.order_by("response__item_id", "response__position", "response_id",
                                                   "criterion__position", "criterion_id", "scorer__name"),
                                    read_ahead=False))
    versions = _version_labels()
    responses = ByItem(_responses(item_ids, R, read_ahead=False))

    for item in items:
        item_id, external_id = item[IT.id], item[IT.external_id]
        subset, metadata = item[IT.subset] or "", item[IT.metadata] or "{}"
        emitted = 0
        if stats is not None:
            group = stats.take(item_id)
            positions = {r[R.id]: i for i, r in enumerate(stat_responses.take(item_id))}
            many = len(positions) > 2
            labels = [judgment_label(preference=v[V.preference], both_bad=v[V.both_bad],
                                     top_position=top_index(v[V.ranking], positions) if many else None)
                      for v in group]
            if not _passes_item_filters(len(group), pairwise_agreement([x for x in labels if x is not None]),
                                        params):
                if incremental:
                    yield () if light else _tombstone(params, external_id)
                continue
        order = {r[R.id]: i + 1 for i, r in enumerate(responses.take(item_id))}
        for h in human_rows.take(item_id):
            emitted += 1
            if light:
                yield ()
                continue
            # One unit per column (scoring.definitions.criterion_row): value = points earned.
            cell = criterion_row(points=h[H.points], scale=h[H.scale], human_value=h[H.value])
            row = (external_id, h[H.response_external_id], order.get(h[H.response_id]), h[H.model], h[H.criterion],
                   h[H.criterion_title], h[H.scale], h[H.points], h[H.importance],
                   versions.get(h[H.rubric_version_id], ""), "human", h[H.annotator], h[H.judgment_id],
                   _r(cell["value"]), cell["met"], cell["grade"], "", "", "", db_time(h[H.submitted_at]), subset,
                   metadata)
            yield row + (False,) if incremental else row
        if model_rows is not None:
            for m in model_rows.take(item_id):
                emitted += 1
                if light:
                    yield ()
                    continue
                cell = criterion_row(points=m[M.points], met=m[M.met], grade=m[M.score])
                row = (external_id, m[M.response_external_id], order.get(m[M.response_id]), m[M.model],
                       m[M.criterion], m[M.criterion_title], m[M.scale], m[M.points], m[M.importance],
                       versions.get(m[M.rubric_version_id], ""), "model", m[M.scorer], None, _r(cell["value"]),
                       cell["met"], cell["grade"], m[M.explanation] or "", m[M.parse_status] or "",
                       m[M.model_revision] or "", db_time(m[M.created_at]), subset, metadata)
                yield row + (False,) if incremental else row
        if incremental and not emitted:
            yield () if light else _tombstone(params, external_id)


_ROW_BUILDERS = {"trl": _item_format_rows, "helpsteer2": _item_format_rows,
                 "judgments": _judgment_rows, "rubric_scores": _rubric_score_rows}


def export_rows(*, project: Project, params: ExportParams, light: bool = False) -> Iterator[tuple]:
    """The rows of an export as tuples in column order, read in one consistent snapshot.

    `light` skips the heavy columns (prompts, response texts) and yields empty tuples: counting.
    """
    builder = _ROW_BUILDERS[params.export_format]
    with read_snapshot():
        yield from builder(project, params, light=light)


_LINE_BUILDERS = {"trl": _item_format_rows, "judgments": _judgment_rows}


def export_lines(*, project: Project, params: ExportParams) -> Iterator[str] | None:
    """The export as JSON Lines text, mostly written by the database (see JsonLine), read in one
    consistent snapshot; None where only rows are made (other formats, other databases)."""
    builder = _LINE_BUILDERS.get(params.export_format)
    if builder is None or connection.vendor != "postgresql":
        return None
    return _lines(builder, project, params)


def _lines(builder, project: Project, params: ExportParams) -> Iterator[str]:
    with read_snapshot():
        yield from builder(project, params, light=False, lines=True)


def export_count(*, project: Project, params: ExportParams) -> int:
    """How many rows the export would have."""
    if (params.export_format == "judgments" and params.min_judgments <= 1 and params.min_agreement is None
            and params.submitted_after is None):
        return Judgment.objects.filter(_judgment_filter(params), item__project=project).count()
    return sum(1 for _ in export_rows(project=project, params=params, light=True))
