"""Exports in the formats reward-model trainers read: trl, helpsteer2, rubric_scores, judgments.

Rows are produced by merging a few ordered streams (items, responses, judgments, model scores, all
sorted by item id) read through server-side cursors (`iterator(chunk_size=…)`), inside one
REPEATABLE READ transaction so that every stream sees the same snapshot. No model instances are
built; memory holds one item at a time whatever the size of the project. JSONL and CSV are
streamed in ~64 KB chunks; Parquet is written in record batches by a background job.

How several judgments of an item become one label (trl, helpsteer2):

- counted judgments: the item's human judgments, restricted to `rubric_version` when given;
- an item whose reviewer adjudicated it takes the adjudication as its label (strength, both-bad,
  ranking); `n_judgments` and `agreement` still describe the annotators' judgments;
- both-bad: a strict majority of the counted judgments flagged both responses as bad → the item
  has no preference and is left out of trl and helpsteer2;
- two responses: the mean of the −3..3 preferences (both-bad judgments left out) decides: < 0 →
  response 1 chosen, > 0 → response 2 chosen, = 0 → tie. `margin` = |mean| (0..3);
- more than two responses (rankings): mean Borda score per response (best = 1, worst = 0 within
  each ranking); the best mean is chosen and the worst rejected; margin = 3 × the difference;
- ties: `tie_policy=drop` leaves them out; `keep` exports them with margin 0 (response 1 as
  chosen, response 2 as rejected; helpsteer2 strength 0);
- per-item agreement: the share of pairs of judgments that agree on the winner label (response k,
  tie or both-bad), Σ n_c (n_c − 1) / (n (n − 1)); undefined (null) below two judgments, and
  such items are left out when a minimum agreement is asked for.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from config.errors import ApplicationError

from .agreement import judgment_label, pairwise_agreement
from .models import Adjudication, CriterionJudgment, Item, Judgment, Project, Response

FORMATS = ("trl", "helpsteer2", "rubric_scores", "judgments")
FILE_FORMATS = ("jsonl", "csv", "parquet")
STREAMED_FILE_FORMATS = ("jsonl", "csv")
TIE_POLICIES = ("drop", "keep")
PARAM_NAMES = ("format", "rubric_version", "min_judgments", "min_agreement", "tie_policy",
               "include_model_scores", "submitted_after")
CONTENT_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8",
                 "parquet": "application/vnd.apache.parquet"}
logger = logging.getLogger(__name__)

CHUNK_ROWS = 2000
STREAM_CHUNK_BYTES = 64 * 1024
PARQUET_BATCH_ROWS = 5000


# --- Parameters -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportParams:
    export_format: str
    rubric_version_id: int | None = None
    min_judgments: int = 1
    min_agreement: float | None = None
    tie_policy: str = "drop"
    include_model_scores: bool = False
    submitted_after: datetime | None = None

    def as_query(self) -> dict[str, str]:
        """The parameters as query-string values (what export_params_parse reads back)."""
        q = {"format": self.export_format, "min_judgments": str(self.min_judgments),
             "tie_policy": self.tie_policy}
        if self.rubric_version_id is not None:
            q["rubric_version"] = str(self.rubric_version_id)
        if self.min_agreement is not None:
            q["min_agreement"] = repr(self.min_agreement)
        if self.include_model_scores:
            q["include_model_scores"] = "true"
        if self.submitted_after is not None:
            q["submitted_after"] = self.submitted_after.isoformat()
        return q


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def export_params_parse(data: Mapping[str, Any], *, project: Project | None = None) -> ExportParams:
    """Validate export parameters from a query string, a form or the command line.

    Raises ApplicationError naming every field at fault. With `project`, a rubric version must be
    one the project pinned or its judgments used.
    """
    errors: dict[str, str] = {}

    def get(name):
        value = data.get(name)
        if isinstance(value, (list, tuple)):
            value = value[-1] if value else None
        return value.strip() if isinstance(value, str) else value

    export_format = get("format") or ""
    if export_format not in FORMATS:
        errors["format"] = f"must be one of {', '.join(FORMATS)}"

    rubric_version_id = None
    raw = get("rubric_version")
    if raw not in (None, ""):
        try:
            rubric_version_id = int(raw)
            if rubric_version_id < 1:
                raise ValueError
        except (TypeError, ValueError):
            errors["rubric_version"] = "must be a rubric version id (a positive integer)"

    min_judgments = 1
    raw = get("min_judgments")
    if raw not in (None, ""):
        try:
            min_judgments = int(raw)
            if not 0 <= min_judgments <= 1000:
                raise ValueError
        except (TypeError, ValueError):
            errors["min_judgments"] = "must be an integer from 0 to 1000"

    min_agreement = None
    raw = get("min_agreement")
    if raw not in (None, ""):
        try:
            min_agreement = float(raw)
            if not (math.isfinite(min_agreement) and 0 <= min_agreement <= 1):
                raise ValueError
        except (TypeError, ValueError):
            errors["min_agreement"] = "must be a number from 0 to 1"

    tie_policy = get("tie_policy") or "drop"
    if tie_policy not in TIE_POLICIES:
        errors["tie_policy"] = "must be drop or keep"

    include_model_scores = False
    raw = get("include_model_scores")
    if raw is not None:
        if isinstance(raw, bool):
            include_model_scores = raw
        elif str(raw).lower() in _TRUE:
            include_model_scores = True
        elif str(raw).lower() not in _FALSE:
            errors["include_model_scores"] = "must be true or false"

    submitted_after = None
    raw = get("submitted_after")
    if isinstance(raw, datetime):
        submitted_after = raw
    elif raw not in (None, ""):
        try:
            submitted_after = parse_datetime(str(raw))
            if submitted_after is None:
                day = parse_date(str(raw))
                submitted_after = datetime.combine(day, time.min) if day else None
        except ValueError:
            submitted_after = None
        if submitted_after is None:
            errors["submitted_after"] = "must be an ISO 8601 date or date-time"
    if submitted_after is not None and timezone.is_naive(submitted_after):
        submitted_after = timezone.make_aware(submitted_after, timezone.get_default_timezone())

    if rubric_version_id is not None and project is not None and "rubric_version" not in errors:
        used = (project.rubric_version_id == rubric_version_id
                or Judgment.objects.filter(item__project=project, rubric_version_id=rubric_version_id).exists())
        if not used:
            errors["rubric_version"] = "this project has no judgments with that rubric version"

    if errors:
        first = next(iter(errors.items()))
        raise ApplicationError(f"{first[0]}: {first[1]}", fields=errors)
    return ExportParams(
        export_format=export_format, rubric_version_id=rubric_version_id, min_judgments=min_judgments,
        min_agreement=min_agreement, tie_policy=tie_policy, include_model_scores=include_model_scores,
        submitted_after=submitted_after,
    )


# --- Columns ----------------------------------------------------------------------------------
# Column types are named here and turned into pyarrow types only for Parquet: JSONL and CSV never
# import pyarrow (tens of MB of resident memory for nothing).

_SCORES = "list<score>"
_COLUMNS = {
    "trl": [("prompt", "messages"), ("chosen", "messages"), ("rejected", "messages"), ("margin", "float64"),
            ("item_id", "string"), ("rubric_version", "string"), ("n_judgments", "int32"),
            ("agreement", "float64"), ("adjudicated", "bool"), ("chosen_model", "string"),
            ("rejected_model", "string")],
    "helpsteer2": [("prompt", "string"), ("response_1", "string"), ("response_2", "string"),
                   ("preference_strength", "int8"), ("justification", "string"), ("item_id", "string"),
                   ("rubric_version", "string"), ("n_judgments", "int32"), ("agreement", "float64"),
                   ("adjudicated", "bool"), ("all_preferences", "list<int8>")],
    "rubric_scores": [("item_id", "string"), ("response_id", "string"), ("response", "int16"), ("model", "string"),
                      ("criterion", "string"), ("criterion_title", "string"), ("scale", "string"),
                      ("points", "float64"), ("importance", "string"), ("rubric_version", "string"),
                      ("judge_type", "string"), ("judge", "string"), ("judgment_id", "int64"), ("value", "float64"),
                      ("met", "bool"), ("explanation", "string"), ("parse_status", "string"),
                      ("model_revision", "string"), ("scored_at", "timestamp")],
    "judgments": [("judgment_id", "int64"), ("item_id", "string"), ("annotator", "string"),
                  ("rubric_version", "string"), ("preference", "int8"), ("both_bad", "bool"), ("winner", "string"),
                  ("ranking", "list<int16>"), ("rationale", "string"), ("time_spent_ms", "int64"),
                  ("submitted_at", "timestamp"), ("shown_order", "list<int16>"), ("response_ids", "list<string>"),
                  ("response_models", "list<string>"), ("n_judgments", "int32"), ("agreement", "float64"),
                  ("adjudicated", "bool")],
}
_MODEL_SCORE_COLUMNS = {
    "trl": [("chosen_scores", _SCORES), ("rejected_scores", _SCORES)],
    "helpsteer2": [("response_1_scores", _SCORES), ("response_2_scores", _SCORES)],
    "judgments": [("model_scores", "list<response_score>")],
    "rubric_scores": [],
}


def export_columns(params: ExportParams) -> list[tuple[str, str]]:
    """(name, type name) of every column of the format, in order."""
    columns = list(_COLUMNS[params.export_format])
    if params.include_model_scores:
        columns += _MODEL_SCORE_COLUMNS[params.export_format]
    return columns


def export_column_names(params: ExportParams) -> list[str]:
    return [name for name, _type in export_columns(params)]


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


# --- Aggregation of an item's judgments -------------------------------------------------------

@dataclass
class JudgmentRow:
    judgment_id: int
    annotator: str
    rubric_version_id: int | None
    preference: int | None
    both_bad: bool
    ranking: list
    rationale: str = ""
    time_spent_ms: int = 0
    submitted_at: datetime | None = None
    shown_order: list = field(default_factory=list)


@dataclass
class ItemLabel:
    """The decided label of an item: `chosen`/`rejected` are indexes into its responses (by position)."""

    n_judgments: int
    agreement: float | None
    adjudicated: bool
    both_bad: bool = False
    tie: bool = False
    chosen: int | None = None
    rejected: int | None = None
    margin: float | None = None
    strength: int | None = None  # helpsteer2 −3..3 (two responses only)
    label: str | None = None  # the winner label the item was decided with ("1", "2", …, "tie")

    @property
    def decided(self) -> bool:
        return self.chosen is not None or self.tie


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _strength_from_mean(mean: float) -> int:
    """−3..3 from a mean preference, never 0 unless the mean is 0 (so it agrees with the winner)."""
    if mean == 0:
        return 0
    return max(1, min(3, abs(_round_half_away(mean)))) * (1 if mean > 0 else -1)


def _top_index(ranking: list, positions: dict[int, int]) -> int | None:
    for pk in ranking or ():
        if pk in positions:
            return positions[pk]
    return None


def item_label(*, judgments: list[JudgmentRow], adjudication: tuple | None,
               positions: dict[int, int]) -> ItemLabel:
    """Aggregate an item's judgments (see the module docstring). `positions` maps response pk → index."""
    n_responses = len(positions)
    labels = []
    for j in judgments:
        top = _top_index(j.ranking, positions) if n_responses > 2 else None
        label = judgment_label(preference=j.preference, both_bad=j.both_bad, top_position=top)
        if label is not None:
            labels.append(label)
    result = ItemLabel(n_judgments=len(judgments), agreement=pairwise_agreement(labels),
                       adjudicated=adjudication is not None)

    if adjudication is not None:
        preference, both_bad, ranking = adjudication
        if both_bad:
            result.both_bad, result.label = True, "both_bad"
            return result
        order = [positions[pk] for pk in (ranking or []) if pk in positions]
        if n_responses > 2 and len(order) >= 2:
            result.chosen, result.rejected, result.margin = order[0], order[-1], 3.0
            result.label = str(order[0] + 1)
            return result
        if preference is None or n_responses < 2:
            return result
        return _decide_pair(result, float(preference), exact_strength=int(preference))

    if judgments and sum(j.both_bad for j in judgments) * 2 > len(judgments):
        result.both_bad, result.label = True, "both_bad"
        return result
    valid = [j for j in judgments if not j.both_bad]
    if n_responses > 2 and any(j.ranking for j in valid):
        return _decide_ranking(result, valid, positions)
    prefs = [j.preference for j in valid if j.preference is not None]
    if not prefs or n_responses < 2:
        return result
    return _decide_pair(result, sum(prefs) / len(prefs))


def _decide_pair(result: ItemLabel, mean: float, exact_strength: int | None = None) -> ItemLabel:
    result.strength = exact_strength if exact_strength is not None else _strength_from_mean(mean)
    result.margin = abs(mean)
    if mean < 0:
        result.chosen, result.rejected, result.label = 0, 1, "1"
    elif mean > 0:
        result.chosen, result.rejected, result.label = 1, 0, "2"
    else:
        result.tie, result.label, result.margin = True, "tie", 0.0
    return result


def _decide_ranking(result: ItemLabel, judgments: list[JudgmentRow], positions: dict[int, int]) -> ItemLabel:
    totals: dict[int, float] = {}
    counts: dict[int, int] = {}
    for j in judgments:
        order = [positions[pk] for pk in j.ranking if pk in positions]
        if len(order) < 2:
            continue
        k = len(order)
        for rank, index in enumerate(order):
            totals[index] = totals.get(index, 0.0) + (k - 1 - rank) / (k - 1)
            counts[index] = counts.get(index, 0) + 1
    if len(totals) < 2:
        return result
    means = sorted(((totals[i] / counts[i], -i) for i in totals), reverse=True)
    best, worst = means[0], means[-1]
    if best[0] == worst[0]:
        result.tie, result.label, result.margin = True, "tie", 0.0
        return result
    result.chosen, result.rejected = -best[1], -worst[1]
    result.margin = 3 * (best[0] - worst[0])
    result.label = str(result.chosen + 1)
    return result


def _passes_item_filters(label_n: int, agreement: float | None, params: ExportParams) -> bool:
    if label_n < params.min_judgments:
        return False
    if params.min_agreement is None:
        return True
    return agreement is not None and agreement >= params.min_agreement - 1e-12


# --- Streams ----------------------------------------------------------------------------------

class RawJson(str):
    """JSON text, written as is by the JSON Lines and CSV writers (parsed again only for Parquet).

    Values that repeat on every row of an item (its response ids, a shown order) are encoded once."""

    __slots__ = ()


_EMPTY_LIST = RawJson("[]")


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


def _rows_of(queryset: QuerySet) -> Iterator[tuple]:
    """A values_list queryset's rows, read ahead on PostgreSQL, through the ORM elsewhere."""
    if connection.vendor == "postgresql":
        return iter(_ReadAhead(queryset))
    return queryset.iterator(chunk_size=CHUNK_ROWS)


class _ByItem:
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


def _id_list(text: str | None) -> list[int]:
    """A JSON list of ids as the database prints it ("[]", "[3, 4]", "[3,4]") → [3, 4]."""
    if not text or text == "[]":
        return []
    try:
        return [int(x) for x in text[1:-1].split(",")]
    except ValueError:
        return [x for x in json.loads(text) if isinstance(x, int)]


def _db_time(text: str | None) -> str | None:
    """A timestamp as the database prints it → ISO 8601 in UTC with a Z.

    PostgreSQL (session time zone UTC): "2025-01-02 03:04:05.123456+00"; SQLite: "2025-01-02 03:04:05.123456".
    """
    if text is None:
        return None
    if text.endswith("+00"):
        return text[:-3].replace(" ", "T", 1) + "Z"
    clock = text[19:]  # after "YYYY-MM-DD HH:MM:SS": fraction and offset, if any
    if "+" not in clock and "-" not in clock:  # no offset: SQLite keeps UTC
        return text.replace(" ", "T", 1) + "Z"
    return _iso(datetime.fromisoformat(text))


def _submitted_after(after: datetime | None):
    """A boolean column: the judgment is new since `after` (always true without it)."""
    if after is None:
        return Value(True)
    return ExpressionWrapper(Q(submitted_at__gt=after), output_field=BooleanField())


def _judgment_filter(params: ExportParams, prefix: str = "") -> Q:
    q = Q()
    if params.rubric_version_id is not None:
        q &= Q(**{f"{prefix}rubric_version_id": params.rubric_version_id})
    return q


def _items(project: Project, params: ExportParams) -> QuerySet[Item]:
    """The project's items that can produce rows: enough counted judgments, and for an incremental
    export (`submitted_after`) something new since then."""
    items = Item.objects.filter(project=project)
    counted = Judgment.objects.filter(_judgment_filter(params), item=OuterRef("pk"))
    if params.min_judgments == 1:
        items = items.filter(Exists(counted))
    elif params.min_judgments > 1:
        items = items.annotate(
            _counted=Count("judgments", filter=_judgment_filter(params, "judgments__"))
        ).filter(_counted__gte=params.min_judgments)
    if params.submitted_after is not None:
        after = params.submitted_after
        recent = Q(Exists(counted.filter(submitted_at__gt=after)))
        if params.export_format in ("trl", "helpsteer2"):
            recent |= Q(adjudication__updated_at__gt=after)
        if params.export_format == "rubric_scores" and params.include_model_scores:
            from scoring.models import CriterionScore

            recent |= Q(Exists(CriterionScore.objects.filter(response__item=OuterRef("pk"), created_at__gt=after)))
        items = items.filter(recent)
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


def _responses(item_ids: QuerySet, *, content: bool) -> Iterator[tuple]:
    fields = ["item_id", "id", "external_id", "model_name"] + (["content"] if content else [])
    return _rows_of(Response.objects.filter(item_id__in=item_ids).order_by("item_id", "position", "id")
                    .values_list(*fields))


def _judgments(item_ids: QuerySet, params: ExportParams, *fields: str, project: Project) -> Iterator[tuple]:
    return (Judgment.objects.filter(_judgment_scope(project, params, item_ids))
            .order_by("item_id", "submitted_at", "id")
            .values_list("item_id", *fields).iterator(chunk_size=CHUNK_ROWS))


def _model_scores(item_ids: QuerySet) -> Iterator[tuple]:
    """(item_id, response_id, scorer, model_revision, value): the newest score per response and scorer."""
    from scoring.models import ResponseScore

    rows = (ResponseScore.objects.filter(response__item_id__in=item_ids)
            .order_by("response__item_id", "response_id", "scorer__name", "-created_at", "-id")
            .values_list("response__item_id", "response_id", "scorer__name", "model_revision", "value")
            .iterator(chunk_size=CHUNK_ROWS))
    last = None
    for row in rows:
        key = (row[1], row[2])
        if key != last:
            last = key
            yield row


def _version_labels() -> dict[int, str]:
    from rubrics.models import RubricVersion

    return {pk: f"{slug}@v{number}" for pk, slug, number in
            RubricVersion.objects.values_list("id", "rubric_set__slug", "number")}


def _versions_label(ids: Iterable[int | None], labels: dict[int, str]) -> str | None:
    distinct = sorted({labels.get(i, str(i)) for i in ids if i is not None})
    return ",".join(distinct) if distinct else None


def _scores_for(scores: list[tuple], response_pk: int) -> list[dict]:
    return [{"scorer": s[2], "model_revision": s[3], "value": s[4]} for s in scores if s[1] == response_pk]


# --- Rows of each format ----------------------------------------------------------------------

def _item_format_rows(project: Project, params: ExportParams, *, light: bool) -> Iterator[tuple]:
    """trl and helpsteer2: one row per item with a decided preference."""
    fmt = params.export_format
    item_ids = _item_ids(project, params)
    # Plain columns first, then the text casts (the column order _ReadAhead needs): JSON comes as
    # text, parsed here only when there is something in it.
    item_fields = ["id", "external_id", "adjudication__id", "adjudication__preference", "adjudication__both_bad",
                   "adjudication__rationale", _text("adjudication__ranking")]
    if not light:
        item_fields.append(_text("prompt"))
    items = _rows_of(Item.objects.filter(id__in=item_ids).order_by("id").values_list(*item_fields))
    responses = _ByItem(_responses(item_ids, content=not light))
    judgments = _ByItem(_rows_of(
        Judgment.objects.filter(_judgment_scope(project, params, item_ids)).order_by("item_id", "submitted_at", "id")
        .values_list("item_id", "id", "annotator__username", "rubric_version_id", "preference", "both_bad",
                     "rationale", _text("ranking"))
    ))
    scores = _ByItem(_model_scores(item_ids)) if params.include_model_scores and not light else None
    versions = _version_labels()
    keep_ties = params.tie_policy == "keep"

    for item in items:
        item_id = item[0]
        resp = responses.take(item_id)
        rows = [JudgmentRow(r[1], r[2], r[3], r[4], r[5], _id_list(r[7]), r[6]) for r in judgments.take(item_id)]
        item_scores = scores.take(item_id) if scores is not None else []
        positions = {r[1]: i for i, r in enumerate(resp)}
        adjudication = (item[3], item[4], _id_list(item[6])) if item[2] is not None else None
        label = item_label(judgments=rows, adjudication=adjudication, positions=positions)
        if not _passes_item_filters(label.n_judgments, label.agreement, params):
            continue
        if label.both_bad or not label.decided:
            continue
        if label.tie and not keep_ties:
            continue
        if label.tie:
            label.chosen, label.rejected, label.margin, label.strength = 0, 1, 0.0, 0
        if fmt == "helpsteer2" and (len(resp) != 2 or label.strength is None):
            continue  # HelpSteer2 is pairwise: items ranked among more responses are trl-only
        if light:
            yield ()
            continue
        version = _versions_label((r.rubric_version_id for r in rows), versions)
        if fmt == "trl":
            chosen, rejected = resp[label.chosen], resp[label.rejected]
            # The stored message list goes out as the database wrote it (valid JSON, not re-parsed).
            prompt = RawJson(item[7]) if item[7] else _EMPTY_LIST
            row = (prompt, [{"role": "assistant", "content": chosen[4]}],
                   [{"role": "assistant", "content": rejected[4]}], round(label.margin, 6), item[1], version,
                   label.n_judgments, _r(label.agreement), label.adjudicated, chosen[3], rejected[3])
            if params.include_model_scores:
                row += (_scores_for(item_scores, chosen[1]), _scores_for(item_scores, resp[label.rejected][1]))
            yield row
        else:
            justification = _justification(rows, label, adjudication_rationale=item[5] if item[2] else "",
                                           positions=positions)
            prompt = json.loads(item[7]) if item[7] else []
            row = (helpsteer2_prompt(prompt), resp[0][4], resp[1][4], label.strength, justification, item[1],
                   version, label.n_judgments, _r(label.agreement), label.adjudicated,
                   [r.preference for r in rows if r.preference is not None and not r.both_bad])
            if params.include_model_scores:
                row += (_scores_for(item_scores, resp[0][1]), _scores_for(item_scores, resp[1][1]))
            yield row


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _justification(rows: list[JudgmentRow], label: ItemLabel, *, adjudication_rationale: str,
                   positions: dict[int, int]) -> str:
    """The reviewer's rationale when adjudicated, else the rationales of the judgments that agree
    with the decided label."""
    if label.adjudicated and adjudication_rationale.strip():
        return adjudication_rationale.strip()
    agreeing = []
    for r in rows:
        mine = judgment_label(preference=r.preference, both_bad=r.both_bad, top_position=None)
        if mine == label.label and r.rationale.strip():
            agreeing.append(r.rationale.strip())
    return "\n\n".join(agreeing)


def helpsteer2_prompt(messages: list[dict]) -> str:
    """A chat prompt as one HelpSteer2 string: the first user turn as is, every later turn after an
    `<extra_id_1>Role` line; a system message goes first as `<extra_id_0>System`."""
    parts = []
    first_turn = True
    for m in messages or []:
        role = str(m.get("role", "user"))
        content = str(m.get("content", ""))
        if role == "system":
            parts.append(f"<extra_id_0>System\n{content}\n")
        elif first_turn and role == "user":
            parts.append(content)
            first_turn = False
        else:
            parts.append(f"<extra_id_1>{role.capitalize()}\n{content}")
            first_turn = False
    return "".join(parts)


def _judgment_rows(project: Project, params: ExportParams, *, light: bool) -> Iterator[tuple]:
    """judgments: every counted judgment of the items that pass the filters."""
    item_ids = _item_ids(project, params)
    items = (Item.objects.filter(id__in=item_ids).order_by("id")
             .values_list("id", "external_id", Exists(Adjudication.objects.filter(item=OuterRef("pk"))))
             .iterator(chunk_size=CHUNK_ROWS))
    responses = _ByItem(_responses(item_ids, content=False))
    # JSON and time columns come as text (parsing them here is cheaper than the ORM's converters),
    # after the plain columns: the order _ReadAhead needs.
    judgments = _ByItem(_rows_of(
        Judgment.objects.filter(_judgment_scope(project, params, item_ids))
        .order_by("item_id", "submitted_at", "id")
        .values_list("item_id", "id", "annotator__username", "rubric_version_id", "preference", "both_bad",
                     "rationale", "time_spent_ms", _text("ranking"), _text("submitted_at"),
                     _text("assignment__shown_order"), _submitted_after(params.submitted_after))
    ))
    scores = _ByItem(_model_scores(item_ids)) if params.include_model_scores and not light else None
    versions = _version_labels()

    for item_id, external_id, adjudicated in items:
        resp = responses.take(item_id)
        group = judgments.take(item_id)
        positions = {r[1]: i for i, r in enumerate(resp)}
        many = len(resp) > 2
        # The winner of each judgment, as the column writes it; equal strings are agreeing judgments.
        winners = []
        for g in group:
            if g[5]:
                winners.append("both_bad")
            elif many and g[8] != "[]" and (top := _top_index(_id_list(g[8]), positions)) is not None:
                winners.append(f"response_{top + 1}")
            elif g[4] is None:
                winners.append(None)
            else:
                winners.append("response_1" if g[4] < 0 else "response_2" if g[4] > 0 else "tie")
        agreement = pairwise_agreement([x for x in winners if x is not None])
        if not _passes_item_filters(len(group), agreement, params):
            continue
        if light:
            for g in group:
                if g[11]:
                    yield ()
            continue
        response_ids = RawJson(_encode([r[2] for r in resp]))
        response_models = RawJson(_encode([r[3] for r in resp]))
        item_scores = None
        if scores is not None:
            item_scores = [{"response": positions[s[1]] + 1, "scorer": s[2], "model_revision": s[3],
                            "value": s[4]} for s in scores.take(item_id) if s[1] in positions]
        agreement = _r(agreement)
        n_group = len(group)
        # Shown orders as PostgreSQL prints them for the usual two responses; anything else is parsed
        # (and each distinct order of the item is mapped and encoded once).
        mapped: dict[str, RawJson] = {}
        if len(resp) == 2:
            first, second = resp[0][1], resp[1][1]
            mapped = {f"[{first}, {second}]": _SHOWN_12, f"[{second}, {first}]": _SHOWN_21}
        for g, winner in zip(group, winners, strict=True):
            if not g[11]:
                continue
            shown = mapped.get(g[10])
            if shown is None:
                shown = mapped[g[10]] = RawJson(_encode([positions[pk] + 1 for pk in _id_list(g[10])
                                                         if pk in positions]))
            ranking = _EMPTY_LIST if g[8] == "[]" else [positions[pk] + 1 for pk in _id_list(g[8]) if pk in positions]
            row = (g[1], external_id, g[2], versions.get(g[3]), g[4], g[5], winner, ranking, g[6],
                   g[7], _db_time(g[9]), shown, response_ids, response_models, n_group, agreement, adjudicated)
            if item_scores is not None:
                row += (item_scores,)
            yield row


_SHOWN_12, _SHOWN_21 = RawJson("[1,2]"), RawJson("[2,1]")


def _rubric_score_rows(project: Project, params: ExportParams, *, light: bool) -> Iterator[tuple]:
    """rubric_scores: one row per response × criterion × judge (annotators, and scorers when asked)."""
    from scoring.models import CriterionScore

    item_ids = _item_ids(project, params)
    after = params.submitted_after
    need_stats = params.min_judgments > 1 or params.min_agreement is not None
    items = (Item.objects.filter(id__in=item_ids).order_by("id").values_list("id", "external_id")
             .iterator(chunk_size=CHUNK_ROWS))
    stats = None
    if need_stats:
        stats = _ByItem(_judgments(item_ids, params, "preference", "both_bad", "ranking", project=project))
        stat_responses = _ByItem(Response.objects.filter(item_id__in=item_ids).order_by("item_id", "position", "id")
                                 .values_list("item_id", "id").iterator(chunk_size=CHUNK_ROWS))
    criterion_fields = ["criterion__key", "criterion__title", "criterion__scale", "criterion__points",
                        "criterion__importance", "criterion__version_id"]
    human = CriterionJudgment.objects.filter(judgment__item_id__in=item_ids)
    if params.rubric_version_id is not None:
        human = human.filter(judgment__rubric_version_id=params.rubric_version_id)
    if after is not None:
        human = human.filter(judgment__submitted_at__gt=after)
    human_rows = _ByItem(
        human.order_by("judgment__item_id", "judgment__submitted_at", "judgment_id", "response__position",
                       "response_id", "criterion__position", "criterion_id")
        .values_list("judgment__item_id", "response__external_id", "response__position", "response__model_name",
                     *criterion_fields, "judgment__annotator__username", "judgment_id", "value",
                     _text("judgment__submitted_at"), "response_id")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    model_rows = None
    if params.include_model_scores:
        model = CriterionScore.objects.filter(response__item_id__in=item_ids)
        if params.rubric_version_id is not None:
            model = model.filter(criterion__version_id=params.rubric_version_id)
        if after is not None:
            model = model.filter(created_at__gt=after)
        model_rows = _ByItem(
            model.order_by("response__item_id", "response__position", "response_id", "criterion__position",
                           "criterion_id", "scorer__name")
            .values_list("response__item_id", "response__external_id", "response__position",
                         "response__model_name", *criterion_fields, "scorer__name", "met", "score", "explanation",
                         "parse_status", "scorer__revision", _text("created_at"), "response_id")
            .iterator(chunk_size=CHUNK_ROWS)
        )
    versions = _version_labels()
    responses = _ByItem(Response.objects.filter(item_id__in=item_ids).order_by("item_id", "position", "id")
                        .values_list("item_id", "id").iterator(chunk_size=CHUNK_ROWS))

    for item_id, external_id in items:
        if stats is not None:
            group = stats.take(item_id)
            positions = {r[1]: i for i, r in enumerate(stat_responses.take(item_id))}
            many = len(positions) > 2
            labels = [judgment_label(preference=g[1], both_bad=g[2],
                                     top_position=_top_index(g[3], positions) if many else None) for g in group]
            if not _passes_item_filters(len(group), pairwise_agreement([x for x in labels if x is not None]),
                                        params):
                continue
        order = {r[1]: i + 1 for i, r in enumerate(responses.take(item_id))}
        for h in human_rows.take(item_id):
            if light:
                yield ()
                continue
            scale = h[6]
            yield (external_id, h[1], order.get(h[14]), h[3], h[4], h[5], scale, h[7], h[8],
                   versions.get(h[9]), "human", h[10], h[11], h[12],
                   (h[12] >= 1) if scale == "binary" else None, "", None, None, _db_time(h[13]))
        if model_rows is not None:
            for m in model_rows.take(item_id):
                if light:
                    yield ()
                    continue
                met, score = m[11], m[12]
                value = score if score is not None else (None if met is None else float(met))
                yield (external_id, m[1], order.get(m[17]), m[3], m[4], m[5], m[6], m[7], m[8],
                       versions.get(m[9]), "model", m[10], None, value, met, m[13], m[14], m[15], _db_time(m[16]))


_ROW_BUILDERS = {"trl": _item_format_rows, "helpsteer2": _item_format_rows,
                 "judgments": _judgment_rows, "rubric_scores": _rubric_score_rows}


def export_rows(*, project: Project, params: ExportParams, light: bool = False) -> Iterator[tuple]:
    """The rows of an export as tuples in column order, read in one consistent snapshot.

    `light` skips the heavy columns (prompts, response texts) and yields empty tuples: counting.
    """
    builder = _ROW_BUILDERS[params.export_format]
    if connection.in_atomic_block:
        _tune_transaction(first=False)
        yield from builder(project, params, light=light)
        return
    with transaction.atomic():
        _tune_transaction(first=True)
        yield from builder(project, params, light=light)


def _tune_transaction(*, first: bool) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if first:
            # One snapshot for every stream of the export; read-only, so it never blocks writers.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # These are plain ordered scans: JIT compilation costs seconds and saves nothing.
        cursor.execute("SET LOCAL jit = off")


def export_count(*, project: Project, params: ExportParams) -> int:
    """How many rows the export would have."""
    if params.export_format == "judgments" and params.min_judgments <= 1 and params.min_agreement is None:
        qs = Judgment.objects.filter(_judgment_filter(params), item__project=project)
        if params.submitted_after is not None:
            qs = qs.filter(submitted_at__gt=params.submitted_after)
        return qs.count()
    return sum(1 for _ in export_rows(project=project, params=params, light=True))


# --- Writers ----------------------------------------------------------------------------------

def _json_default(value):
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


from json.encoder import encode_basestring as _encode_basestring  # noqa: E402 - C, with ensure_ascii=False

try:  # one C encoder for the whole export instead of one per row (json.dumps builds a new one each call)
    from json.encoder import c_make_encoder as _c_make_encoder

    _c_encoder = _c_make_encoder(None, _json_default, _encode_basestring, None, ":", ",", False, False, True)

    def _encode(value) -> str:
        return "".join(_c_encoder(value, 0))
except (ImportError, TypeError):  # pragma: no cover - non-CPython
    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode


def _iso(value: datetime) -> str:
    value = value.astimezone(UTC) if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


def _json_value(value) -> str:
    return value if value.__class__ is RawJson else _encode(value)


def _json_float(value) -> str:
    # JSON has no NaN or infinity: null, as a reader would have to treat them anyway.
    return repr(value) if math.isfinite(value) else "null"


def _json_time(value) -> str:
    return _encode_basestring(value if isinstance(value, str) else _iso(value))


_ENCODE_BY_TYPE = {
    "string": "_str({v})", "bool": '("true" if {v} else "false")', "float64": "_float({v})",
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
    namespace = {"_str": _encode_basestring, "_float": _json_float, "_time": _json_time, "_json": _json_value}
    exec(compile(source, f"<row encoder {columns[0][0]}…>", "exec"), namespace)  # noqa: S102 - fixed text
    return namespace["encode"]


def jsonl_chunks(columns: list[tuple[str, str]], rows: Iterable[tuple]) -> Iterator[bytes]:
    """JSON Lines, one object per row, in chunks of about STREAM_CHUNK_BYTES."""
    encode = row_encoder(columns)
    lines: list[str] = []
    size = 0
    for row in rows:
        line = encode(row)
        lines.append(line)
        size += len(line)
        if size >= STREAM_CHUNK_BYTES:
            lines.append("")
            yield "\n".join(lines).encode()
            lines, size = [], 0
    if lines:
        lines.append("")
        yield "\n".join(lines).encode()


def _csv_cell(value):
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, dict)):
        return _encode(value)
    if isinstance(value, datetime):
        return _iso(value)
    return value


def csv_chunks(names: list[str], rows: Iterable[tuple]) -> Iterator[bytes]:
    """CSV (RFC 4180, header row); nested values (messages, lists) as compact JSON in the cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        if buffer.tell() >= STREAM_CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def export_stream(*, project: Project, params: ExportParams, file_format: str) -> Iterator[bytes]:
    """The export as a byte stream (JSONL or CSV), for StreamingHttpResponse or a file."""
    rows = export_rows(project=project, params=params)
    if file_format == "jsonl":
        return jsonl_chunks(export_columns(params), rows)
    if file_format == "csv":
        return csv_chunks(export_column_names(params), rows)
    raise ApplicationError("Only jsonl and csv are streamed; parquet is written by an export job.",
                           fields={"as": "must be jsonl or csv"})


def export_write_parquet(*, project: Project, params: ExportParams, path: Path) -> int:
    """Write the export as Parquet (zstd) in record batches; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(name, _arrow_type(type_name)) for name, type_name in export_columns(params)])
    n = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        batch: list[tuple] = []
        for row in export_rows(project=project, params=params):
            batch.append(row)
            if len(batch) >= PARQUET_BATCH_ROWS:
                writer.write_batch(_record_batch(batch, schema))
                n += len(batch)
                batch = []
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


def export_filename(*, project: Project, params: ExportParams, file_format: str, when: datetime | None = None) -> str:
    """A safe download name: project-<id>-<format>-<UTC time>.<ext> (ASCII letters, digits, - and .)."""
    when = (when or timezone.now()).astimezone(UTC)
    return f"project-{project.pk}-{params.export_format}-{when:%Y%m%dT%H%M%SZ}.{file_format}"


def export_root() -> Path:
    from django.conf import settings

    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_path_is_safe(path: str | os.PathLike) -> bool:
    """True when `path` lies inside EXPORT_ROOT (a stored path is never trusted blindly)."""
    try:
        return Path(path).resolve().is_relative_to(export_root().resolve())
    except (OSError, ValueError):
        return False


# --- Export jobs (Parquet, written in the background) -----------------------------------------

def export_job_request(*, project: Project, user, params: ExportParams, file_format: str = "parquet"):
    """Queue a file export, or return the identical one already queued or running (so repeating the
    request, or a double click, never starts a second job). Returns (job, created)."""
    from .models import ExportJob
    from .tasks import export_job_run_task

    if file_format != "parquet":
        raise ApplicationError("Export jobs write parquet; jsonl and csv stream directly.",
                               fields={"as": "must be parquet"})
    stored = params.as_query()
    with transaction.atomic():
        existing = (ExportJob.objects.select_for_update()
                    .filter(project=project, requested_by=user, export_format=params.export_format,
                            file_format=file_format, params=stored,
                            status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING])
                    .order_by("-created_at").first())
        if existing is not None:
            return existing, False
        job = ExportJob.objects.create(project=project, requested_by=user, export_format=params.export_format,
                                       file_format=file_format, params=stored)
        transaction.on_commit(lambda: export_job_run_task.delay(job.pk))
    return job, True


def export_job_run(*, job_id: int) -> None:
    """Write the job's file. Idempotent: a job that is done or failed is left alone; a redelivered
    one (worker lost while running) is written again from the start into a fresh temporary file."""
    from .models import ExportJob

    claimed = ExportJob.objects.filter(
        pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]
    ).update(status=ExportJob.Status.RUNNING)
    if not claimed:
        return
    job = ExportJob.objects.select_related("project").get(pk=job_id)
    directory = export_root() / f"project-{job.project_id}"
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"job-{job.pk}-{job.export_format}.{job.file_format}"
    partial = directory / f".job-{job.pk}-{os.getpid()}.partial"
    try:
        params = export_params_parse(job.params)
        rows = export_write_parquet(project=job.project, params=params, path=partial)
        os.replace(partial, final)  # atomic: a download never sees a half-written file
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, ApplicationError):
            message = exc.message
        else:
            # The details (SQL, paths) stay in the worker log; the user learns what kind of failure.
            logger.exception("export job %s failed", job.pk)
            message = f"The export failed ({type(exc).__name__}); the worker log has the details."
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=message[:2000],
                                                   finished_at=timezone.now())
        if isinstance(exc, ApplicationError):
            return
        raise
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, file_path=str(final), row_count=rows,
                                               error="", finished_at=timezone.now())


def export_job_file(*, job) -> Path:
    """The finished job's file, checked to lie inside EXPORT_ROOT; ApplicationError otherwise."""
    from config.errors import ConflictError, NotFoundError

    from .models import ExportJob

    if job.status != ExportJob.Status.DONE:
        raise ConflictError(f"The export is {job.status}; download it once it is done.",
                            extra={"status": job.status})
    path = Path(job.file_path)
    if not job.file_path or not export_path_is_safe(path) or not path.is_file():
        raise NotFoundError("The export file is gone; start the export again.")
    return path


def export_job_download_name(*, job) -> str:
    return export_filename(project=job.project, params=ExportParams(export_format=job.export_format),
                           file_format=job.file_format, when=job.finished_at or job.created_at)
