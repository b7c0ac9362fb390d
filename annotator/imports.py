"""Item import: JSONL, one item a line, all-or-nothing per file.

Formats (DESIGN.md), detected from the first item line or named explicitly:

- ``native``: ``{"id", "prompt" | "messages", "responses": [{"id", "model", "content", "metadata"}],
  "metadata", "gold"}``
- ``trl``: TRL preference, ``prompt``/``chosen``/``rejected`` as strings or message lists, including
  the implicit-prompt form (only ``chosen``/``rejected`` conversations sharing a prefix)
- ``helpsteer2``: ``prompt``, ``response_1``, ``response_2``, ``preference_strength`` (−3..3); also the
  HelpSteer3 spelling (``context``, ``response1``, ``response2``, ``overall_preference``)
- ``rewardbench``: ``prompt``, ``chosen``, ``rejected``, ``subset`` (+ ``chosen_model``/``rejected_model``)
- ``rewardbench2``: ``prompt``, ``chosen``/``rejected`` lists of completions, ``models``, ``subset``

Every line is read within the size limits, parsed and validated before anything is written; the
first bad line raises an ApplicationError naming the line number and the field. Re-importing the
same external ids updates changed items in place and reports new / updated / unchanged counts.
Writes are bulk (COPY on PostgreSQL) inside one transaction, so a 100k-item file takes seconds.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, PayloadTooLargeError

from .models import Item, Project, Response

ROLES = {"system", "user", "assistant", "developer", "tool"}
FORMATS = ("native", "trl", "helpsteer2", "rewardbench", "rewardbench2")
FORMAT_CHOICES = [
    ("auto", "Detect from the file"),
    ("native", "Native (id, prompt/messages, responses)"),
    ("trl", "TRL preference (prompt, chosen, rejected)"),
    ("helpsteer2", "HelpSteer2-Preference (prompt, response_1, response_2, preference_strength)"),
    ("rewardbench", "RewardBench (prompt, chosen, rejected, subset)"),
    ("rewardbench2", "RewardBench 2 (prompt, chosen[], rejected[], models)"),
]
# HelpSteer2 writes earlier turns of a multi-turn prompt inline: "<first user turn>\n<extra_id_1>Assistant\n…".
_HS2_TURN = re.compile(r"\n?<extra_id_1>(User|Assistant)\n")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
_WRITE_BATCH = 5000


@dataclass
class ParsedResponse:
    external_id: str
    model_name: str
    content: str
    metadata: dict = field(default_factory=dict)


@dataclass
class Gold:
    """A known answer: preference (−3..3, by stored position) and/or a ranking of external ids."""

    preference: int | None = None
    both_bad: bool = False
    ranking: list[str] = field(default_factory=list)


@dataclass
class ParsedItem:
    line: int
    external_id: str
    prompt: list[dict]
    responses: list[ParsedResponse]
    metadata: dict = field(default_factory=dict)
    gold: Gold | None = None

    @cached_property
    def content_hash(self) -> str:
        data = json.dumps(
            [self.prompt, [(r.external_id, r.model_name, r.content, r.metadata) for r in self.responses],
             self.metadata],
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return hashlib.sha256(data.encode()).hexdigest()

    @property
    def conversation_hash(self) -> str:
        """The part annotators judge (prompt and response texts): judged items may not change it."""
        data = json.dumps([self.prompt, [(r.external_id, r.content) for r in self.responses]],
                          separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class ParsedFile:
    format: str
    items: list[ParsedItem]


@dataclass
class ImportReport:
    format: str = ""
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict:
        return {"format": self.format, "total": self.total, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged}


# --- Errors ---------------------------------------------------------------------------------


def _fail(line: int, path: str, message: str, error=ApplicationError):
    raise error(f"line {line}: {path}: {message}", fields={f"line {line}.{path}": message},
                extra={"line": line, "field": path})


# --- Reading within the limits --------------------------------------------------------------


def _human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def import_check_size(size: int | None) -> None:
    """Refuse a file whose declared size is over IMPORT_MAX_FILE_BYTES (413) before reading it."""
    limit = settings.IMPORT_MAX_FILE_BYTES
    if size is not None and size > limit:
        raise PayloadTooLargeError(
            f"The file is {_human_bytes(size)}; the limit is {_human_bytes(limit)} "
            "(IMPORT_MAX_FILE_BYTES). Split it into smaller files.",
            fields={"file": "too large"},
        )


def _check_depth(text: str, line: int, limit: int) -> None:
    """Refuse JSON nested deeper than `limit` before json.loads recurses into it."""
    if text.count("[") + text.count("{") <= limit:  # cheap and common: cannot be deeper
        return
    depth = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                _fail(line, "(line)", f"JSON nested deeper than {limit} levels (IMPORT_MAX_JSON_DEPTH)")
        else:
            depth -= 1


def _read_lines(stream: IO) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line, enforcing the size and depth limits."""
    max_file = settings.IMPORT_MAX_FILE_BYTES
    max_line = settings.IMPORT_MAX_LINE_BYTES
    max_depth = settings.IMPORT_MAX_JSON_DEPTH
    total, number = 0, 0
    while True:
        raw = stream.readline(max_line + 2)  # + room for "\r\n", so a full-length line still fits
        if not raw:
            return
        number += 1
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        total += len(raw)
        if total > max_file:
            raise PayloadTooLargeError(
                f"The file is larger than {_human_bytes(max_file)} (IMPORT_MAX_FILE_BYTES); "
                f"stopped reading at line {number}. Split it into smaller files.",
                fields={"file": "too large"}, extra={"line": number},
            )
        body = raw.rstrip(b"\r\n")
        if len(body) > max_line:
            _fail(number, "(line)", f"longer than {_human_bytes(max_line)} (IMPORT_MAX_LINE_BYTES)",
                  error=PayloadTooLargeError)
        if number == 1 and body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        if not body.strip():
            continue
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            _fail(number, "(line)", f"not valid UTF-8 (byte {exc.start + 1})")
        _check_depth(text, number, max_depth)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            _fail(number, "(line)", f"invalid JSON: {exc.msg} at column {exc.colno}")
        except RecursionError:
            _fail(number, "(line)", "JSON nested too deeply")
        if not isinstance(obj, dict):
            _fail(number, "(line)", "must be a JSON object")
        yield number, obj


# --- Field parsers shared by the formats -----------------------------------------------------


def _text_content(value, line: int, path: str) -> str:
    """Message content: a string, or OpenAI-style parts [{"type": "text", "text": …}] joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        texts = []
        for i, part in enumerate(value):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                _fail(line, f"{path}[{i}]", 'only text parts are supported ({"type": "text", "text": …})')
        return "\n\n".join(texts)
    _fail(line, path, "must be a string")


def parse_messages(value, line: int, path: str) -> list[dict]:
    """A prompt as a plain string or a chat message list → a validated message list."""
    if isinstance(value, str):
        if not value.strip():
            _fail(line, path, "must not be empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        _fail(line, path, "must be a string or a non-empty list of messages")
    messages = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            _fail(line, f"{path}[{i}]", "must be an object with role and content")
        if m.get("role") not in ROLES:
            _fail(line, f"{path}[{i}].role", f"must be one of {', '.join(sorted(ROLES))}")
        if "content" not in m:
            _fail(line, f"{path}[{i}].content", "required")
        messages.append({"role": m["role"], "content": _text_content(m["content"], line, f"{path}[{i}].content")})
    return messages


def _completion(value, line: int, path: str) -> str:
    """A response: a non-empty string, or assistant messages (TRL conversational) joined."""
    if isinstance(value, list):
        messages = parse_messages(value, line, path)
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                _fail(line, f"{path}[{i}].role", "a completion holds assistant messages only")
        value = "\n\n".join(m["content"] for m in messages)
    if not isinstance(value, str) or not value.strip():
        _fail(line, path, "required: a non-empty string")
    return value


def _external_id(obj: dict, line: int, keys=("id",), required=False, fallback: object = None) -> str:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            _fail(line, key, "must be a non-empty string or integer")
        if len(str(value)) > 255:
            _fail(line, key, "longer than 255 characters")
        return str(value)
    if required:
        _fail(line, keys[0], "required: a non-empty string")
    # No id in the file: a stable id from the content, so re-importing the same file is a no-op.
    digest = hashlib.sha256(json.dumps(fallback, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"sha256:{digest[:24]}"


def _strength(value, line: int, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not -3 <= value <= 3:
        _fail(line, path, "must be an integer from -3 to 3")
    return int(value)


def _model_name(value, line: int, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        _fail(line, path, "must be a string")
    return value[:255]


def _rest(obj: dict, used: set[str]) -> dict:
    """Keys a format does not interpret are kept as item metadata."""
    return {k: v for k, v in obj.items() if k not in used}


# --- Formats ----------------------------------------------------------------------------------


def _parse_native(obj: dict, line: int) -> ParsedItem:
    ext = _external_id(obj, line, required=True)
    if "messages" in obj:
        prompt = parse_messages(obj["messages"], line, "messages")
    elif "prompt" in obj:
        prompt = parse_messages(obj["prompt"], line, "prompt")
    else:
        _fail(line, "prompt", "required (or messages)")
    responses = obj.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        _fail(line, "responses", "must be a list of at least 2 responses")
    parsed, seen = [], set()
    for i, r in enumerate(responses):
        if not isinstance(r, dict):
            _fail(line, f"responses[{i}]", "must be an object")
        if not isinstance(r.get("content"), str) or not r["content"].strip():
            _fail(line, f"responses[{i}].content", "required: a non-empty string")
        rid = r.get("id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == ""):
            _fail(line, f"responses[{i}].id", "must be a non-empty string or integer")
        rid = str(rid) if rid is not None else f"{ext}-{i}"
        if len(rid) > 255:
            _fail(line, f"responses[{i}].id", "longer than 255 characters")
        if rid in seen:
            _fail(line, f"responses[{i}].id", f"duplicate response id {rid!r}")
        seen.add(rid)
        meta = r.get("metadata", {})
        if not isinstance(meta, dict):
            _fail(line, f"responses[{i}].metadata", "must be an object")
        parsed.append(ParsedResponse(rid, _model_name(r.get("model"), line, f"responses[{i}].model"),
                                     r["content"], meta))
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        _fail(line, "metadata", "must be an object")
    gold = _native_gold(obj.get("gold"), line, [r.external_id for r in parsed])
    return ParsedItem(line, ext, prompt, parsed, metadata, gold)


def _native_gold(value, line: int, response_ids: list[str]) -> Gold | None:
    """`"gold": {"preference": -2}` / `{"both_bad": true}` / `{"ranking": [response ids]}`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        _fail(line, "gold", "must be an object with preference, both_bad or ranking")
    gold = Gold()
    if value.get("preference") is not None:
        if len(response_ids) != 2:
            _fail(line, "gold.preference", "only for items with exactly 2 responses (use gold.ranking)")
        gold.preference = _strength(value["preference"], line, "gold.preference")
    if "both_bad" in value:
        if not isinstance(value["both_bad"], bool):
            _fail(line, "gold.both_bad", "must be true or false")
        gold.both_bad = value["both_bad"]
    if value.get("ranking") is not None:
        ranking = value["ranking"]
        if not isinstance(ranking, list) or sorted(map(str, ranking)) != sorted(response_ids):
            _fail(line, "gold.ranking", "must list every response id of the item exactly once")
        gold.ranking = [str(r) for r in ranking]
    if gold.preference is None and not gold.both_bad and not gold.ranking:
        _fail(line, "gold", "needs preference, both_bad or ranking")
    return gold


def _split_implicit_prompt(chosen: list, rejected: list, line: int) -> tuple[list, list, list]:
    """TRL implicit prompt: both conversations share the prompt as a prefix."""
    chosen_msgs = parse_messages(chosen, line, "chosen")
    rejected_msgs = parse_messages(rejected, line, "rejected")
    n = 0
    while n < min(len(chosen_msgs), len(rejected_msgs)) and chosen_msgs[n] == rejected_msgs[n]:
        n += 1
    # The completion starts at the first assistant message after the shared prefix.
    while n > 0 and chosen_msgs[n - 1]["role"] == "assistant":
        n -= 1
    if n == 0:
        _fail(line, "prompt", "required (chosen and rejected share no prompt prefix)")
    return chosen_msgs[:n], chosen[n:], rejected[n:]


def _labelled_pair(line: int, chosen, rejected, models=("", "")) -> list[ParsedResponse]:
    """chosen first, rejected second; the label stays in the response metadata."""
    return [
        ParsedResponse("chosen", models[0], _completion(chosen, line, "chosen"), {"label": "chosen"}),
        ParsedResponse("rejected", models[1], _completion(rejected, line, "rejected"), {"label": "rejected"}),
    ]


def _parse_trl(obj: dict, line: int) -> ParsedItem:
    for key in ("chosen", "rejected"):
        if key not in obj:
            _fail(line, key, "required")
    chosen, rejected = obj["chosen"], obj["rejected"]
    if "prompt" in obj:
        prompt = parse_messages(obj["prompt"], line, "prompt")
    elif isinstance(chosen, list) and isinstance(rejected, list):
        prompt, chosen, rejected = _split_implicit_prompt(chosen, rejected, line)
    else:
        _fail(line, "prompt", "required (or chosen/rejected conversations that share the prompt)")
    responses = _labelled_pair(line, chosen, rejected)
    ext = _external_id(obj, line, keys=("id", "prompt_id"), fallback=[prompt, obj["chosen"], obj["rejected"]])
    metadata = _rest(obj, {"id", "prompt_id", "prompt", "chosen", "rejected"})
    return ParsedItem(line, ext, prompt, responses, metadata, Gold(preference=-1))


def _hs2_prompt(value, line: int, path: str) -> list[dict]:
    if isinstance(value, str) and "<extra_id_1>" in value:
        parts = _HS2_TURN.split(value)
        messages = [{"role": "user", "content": parts[0]}]
        for role, content in zip(parts[1::2], parts[2::2], strict=False):
            messages.append({"role": role.lower(), "content": content})
        return parse_messages(messages, line, path)
    return parse_messages(value, line, path)


def _parse_helpsteer2(obj: dict, line: int) -> ParsedItem:
    v3 = "response1" in obj and "response_1" not in obj
    r1_key, r2_key = ("response1", "response2") if v3 else ("response_1", "response_2")
    prompt_key = "context" if "context" in obj and "prompt" not in obj else "prompt"
    strength_key = "overall_preference" if "overall_preference" in obj else "preference_strength"
    if prompt_key not in obj:
        _fail(line, "prompt", "required")
    prompt = _hs2_prompt(obj[prompt_key], line, prompt_key)
    for key in (r1_key, r2_key):
        if key not in obj:
            _fail(line, key, "required")
    responses = [
        ParsedResponse("response_1", "", _completion(obj[r1_key], line, r1_key)),
        ParsedResponse("response_2", "", _completion(obj[r2_key], line, r2_key)),
    ]
    gold = None
    if obj.get(strength_key) is not None:
        gold = Gold(preference=_strength(obj[strength_key], line, strength_key))
    ext = _external_id(obj, line, fallback=[prompt, responses[0].content, responses[1].content])
    metadata = _rest(obj, {"id", prompt_key, r1_key, r2_key})
    return ParsedItem(line, ext, prompt, responses, metadata, gold)


def _parse_rewardbench(obj: dict, line: int) -> ParsedItem:
    if "prompt" not in obj:
        _fail(line, "prompt", "required")
    prompt = parse_messages(obj["prompt"], line, "prompt")
    for key in ("chosen", "rejected"):
        if key not in obj:
            _fail(line, key, "required")
        if not isinstance(obj[key], str):
            _fail(line, key, "must be a string (lists of completions are RewardBench 2)")
    models = (_model_name(obj.get("chosen_model"), line, "chosen_model"),
              _model_name(obj.get("rejected_model"), line, "rejected_model"))
    responses = _labelled_pair(line, obj["chosen"], obj["rejected"], models)
    ext = _external_id(obj, line, fallback=[prompt, obj["chosen"], obj["rejected"]])
    metadata = _rest(obj, {"id", "prompt", "chosen", "rejected", "chosen_model", "rejected_model"})
    return ParsedItem(line, ext, prompt, responses, metadata, Gold(preference=-1))


def _parse_rewardbench2(obj: dict, line: int) -> ParsedItem:
    if "prompt" not in obj:
        _fail(line, "prompt", "required")
    prompt = parse_messages(obj["prompt"], line, "prompt")
    lists = {}
    for key in ("chosen", "rejected"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            _fail(line, key, "required: a non-empty list of completions")
        lists[key] = [_completion(v, line, f"{key}[{i}]") for i, v in enumerate(value)]
    models = obj.get("models") or []
    if not isinstance(models, list):
        _fail(line, "models", "must be a list of model names")
    n = len(lists["chosen"]) + len(lists["rejected"])
    names = [_model_name(m, line, f"models[{i}]") for i, m in enumerate(models)] if len(models) == n else [""] * n
    responses = [
        ParsedResponse(f"{label}-{i}", names.pop(0), content, {"label": label})
        for label in ("chosen", "rejected") for i, content in enumerate(lists[label])
    ]
    # A pair is a preference; more candidates are a ranking with the (first) chosen on top.
    gold = Gold(preference=-1) if len(responses) == 2 else Gold(ranking=[r.external_id for r in responses])
    ext = _external_id(obj, line, fallback=[prompt, lists["chosen"], lists["rejected"]])
    metadata = _rest(obj, {"id", "prompt", "chosen", "rejected", "models"})
    return ParsedItem(line, ext, prompt, responses, metadata, gold)


PARSERS = {
    "native": _parse_native,
    "trl": _parse_trl,
    "helpsteer2": _parse_helpsteer2,
    "rewardbench": _parse_rewardbench,
    "rewardbench2": _parse_rewardbench2,
}
# Labelled formats carry a known answer; it becomes gold only when the import asks for it.
LABELLED = {"trl", "helpsteer2", "rewardbench", "rewardbench2"}


def detect_format(obj: dict) -> str | None:
    """The format of one item line, or None when it fits none."""
    if "responses" in obj:
        return "native"
    if ("response_1" in obj and "response_2" in obj) or ("response1" in obj and "response2" in obj):
        return "helpsteer2"
    if "chosen" in obj and "rejected" in obj:
        chosen = obj["chosen"]
        if isinstance(chosen, list) and chosen and all(isinstance(c, str) for c in chosen):
            return "rewardbench2"
        if isinstance(chosen, str) and ("subset" in obj or "chosen_model" in obj):
            return "rewardbench"
        return "trl"
    return None


# --- Parse a whole file -------------------------------------------------------------------------


def items_parse(stream: IO, file_format: str = "auto", *, gold: bool = False) -> ParsedFile:
    """Parse and validate a whole file; raises on the first bad line.

    `file_format` is one of FORMATS or "auto" (detected from the first item line). With `gold`,
    labelled formats mark their items as gold using the label they carry; native lines carry their
    own optional `gold` object.
    """
    if file_format not in (*FORMATS, "auto"):
        raise ApplicationError(
            f"Unknown format {file_format!r}; use one of auto, {', '.join(FORMATS)}.", fields={"format": "unknown"}
        )
    items: list[ParsedItem] = []
    seen: dict[str, int] = {}
    parser = None if file_format == "auto" else PARSERS[file_format]
    for number, obj in _read_lines(stream):
        if parser is None:
            file_format = detect_format(obj)
            if file_format is None:
                _fail(number, "(line)", "unrecognised format: expected responses (native), chosen/rejected "
                      "(TRL, RewardBench, RewardBench 2) or response_1/response_2 (HelpSteer2)")
            parser = PARSERS[file_format]
        item = parser(obj, number)
        if file_format in LABELLED and not gold:
            item.gold = None
        if item.external_id in seen:
            _fail(number, "id", f"duplicate id {item.external_id!r} (first on line {seen[item.external_id]})")
        seen[item.external_id] = number
        items.append(item)
    if not items:
        raise ApplicationError("The file holds no items.", fields={"file": "empty"})
    return ParsedFile(file_format if file_format != "auto" else "native", items)


# --- Write ------------------------------------------------------------------------------------


def _gold_fields(parsed: ParsedItem, response_ids: dict[str, int] | None) -> dict:
    g = parsed.gold
    if g is None:
        return {"is_gold": False, "gold_preference": None, "gold_both_bad": False, "gold_ranking": []}
    ranking = [response_ids[r] for r in g.ranking] if (g.ranking and response_ids is not None) else []
    return {"is_gold": True, "gold_preference": g.preference, "gold_both_bad": g.both_bad, "gold_ranking": ranking}


def _converters(model, attnames: list[str]):
    """Per column: how to turn a row value into what COPY takes (JSON as text, timestamps as now)."""
    now = timezone.now()
    out = []
    for name in attnames:
        f = model._meta.get_field(name) if name != "id" else model._meta.pk
        default = f.get_default
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            out.append((name, lambda row, now=now: now))
        elif isinstance(f, models.JSONField):
            out.append((name, lambda row, name=name, default=default: json.dumps(
                row[name] if name in row else default(), ensure_ascii=False)))
        else:
            out.append((name, lambda row, name=name, default=default: row[name] if name in row else default()))
    return out


def _bulk_insert(model, rows: list[dict]) -> list[int]:
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
    convert = _converters(model, attnames)
    columns = ", ".join(connection.ops.quote_name(c) for c in [pk.column, *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, pk.column, len(rows)])
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for new_id, row in zip(ids, rows, strict=True):
                copy.write_row([new_id, *(fn(row) for _, fn in convert)])
    return ids


def _bulk_update(model, rows: list[dict], attnames: list[str]) -> None:
    """Set `attnames` on many rows by id. PostgreSQL: COPY into a temporary table, then one
    UPDATE … FROM (bulk_update's CASE per row grows quadratically). Elsewhere: bulk_update."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objs = [model(pk=row["id"], **{a: row[a] for a in attnames}) for row in rows]
        model.objects.bulk_update(objs, attnames, batch_size=500)
        return
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = [model._meta.get_field(a).column for a in attnames]
    tmp = q(f"import_{uuid.uuid4().hex[:16]}")
    convert = _converters(model, attnames)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS "
                       f"SELECT id, {', '.join(q(c) for c in columns)} FROM {table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {tmp} (id, {', '.join(q(c) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row["id"], *(fn(row) for _, fn in convert)])
        assignments = ", ".join(f"{q(c)} = u.{q(c)}" for c in columns)
        cursor.execute(f"UPDATE {table} AS t SET {assignments} FROM {tmp} AS u WHERE t.id = u.id")
        cursor.execute(f"DROP TABLE {tmp}")


@transaction.atomic
def items_write(*, project: Project, items: list[ParsedItem]) -> ImportReport:
    """Upsert parsed items by external id (bulk); responses are matched by their external id.

    An item that annotators already worked on keeps its conversation: changing its prompt or a
    response text is refused (the file names the line); its metadata and gold label may change.
    """
    # One import per project at a time: a second waits here instead of failing on the unique key.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    report = ImportReport(total=len(items))
    existing: dict[str, tuple] = {}
    ids = [p.external_id for p in items]
    for start in range(0, len(ids), _WRITE_BATCH):
        rows = Item.objects.filter(project=project, external_id__in=ids[start:start + _WRITE_BATCH]).values_list(
            "external_id", "id", "content_hash", "is_gold", "gold_preference", "gold_both_bad", "gold_ranking")
        for ext, *rest in rows:
            existing[ext] = tuple(rest)

    new: list[ParsedItem] = []
    changed: list[tuple[ParsedItem, int]] = []
    gold_only: list[tuple[ParsedItem, int]] = []
    for parsed in items:
        current = existing.get(parsed.external_id)
        if current is None:
            new.append(parsed)
        elif current[1] != parsed.content_hash:
            changed.append((parsed, current[0]))
        elif parsed.gold is not None and _gold_differs(parsed, current):
            gold_only.append((parsed, current[0]))
        else:
            report.unchanged += 1

    _create_items(project, new)
    report.created = len(new)
    _update_items(changed)
    if gold_only:
        response_ids: dict[int, dict[str, int]] = {}
        for item_id, ext, rid in Response.objects.filter(item_id__in=[pk for _, pk in gold_only]).values_list(
                "item_id", "external_id", "id"):
            response_ids.setdefault(item_id, {})[ext] = rid
        _bulk_update(Item, [{"id": pk, "updated_at": None, **_gold_fields(p, response_ids.get(pk, {}))}
                            for p, pk in gold_only], [*GOLD_FIELDS, "updated_at"])
    report.updated = len(changed) + len(gold_only)
    return report


GOLD_FIELDS = ["is_gold", "gold_preference", "gold_both_bad", "gold_ranking"]


def _gold_differs(parsed: ParsedItem, current: tuple) -> bool:
    _, _, is_gold, preference, both_bad, ranking = current
    wanted = _gold_fields(parsed, None)
    return (not is_gold or preference != wanted["gold_preference"] or both_bad != wanted["gold_both_bad"]
            or bool(parsed.gold.ranking) != bool(ranking))


def _response_row(item_id: int, position: int, r: ParsedResponse) -> dict:
    return {"item_id": item_id, "external_id": r.external_id, "model_name": r.model_name, "content": r.content,
            "position": position, "metadata": r.metadata}


def _create_items(project: Project, new: list[ParsedItem]) -> None:
    for start in range(0, len(new), 4 * _WRITE_BATCH):
        batch = new[start:start + 4 * _WRITE_BATCH]
        try:
            item_ids = _bulk_insert(Item, [
                {"project_id": project.pk, "external_id": p.external_id, "prompt": p.prompt, "metadata": p.metadata,
                 "content_hash": p.content_hash, **_gold_fields(p, None)}
                for p in batch
            ])
        except IntegrityError:
            raise ConflictError("Some of these items were added at the same time by someone else; import again.")
        response_rows = [_response_row(item_id, pos, r) for item_id, p in zip(item_ids, batch, strict=True)
                         for pos, r in enumerate(p.responses)]
        response_ids = _bulk_insert(Response, response_rows)
        ranked = [(item_id, p) for item_id, p in zip(item_ids, batch, strict=True) if p.gold and p.gold.ranking]
        if ranked:
            by_item: dict[int, dict[str, int]] = {}
            for row, rid in zip(response_rows, response_ids, strict=True):
                by_item.setdefault(row["item_id"], {})[row["external_id"]] = rid
            _bulk_update(Item, [{"id": item_id, "gold_ranking": [by_item[item_id][e] for e in p.gold.ranking]}
                                for item_id, p in ranked], ["gold_ranking"])


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
                _fail(parsed.line, "id", f"item {parsed.external_id!r} has already been annotated; its prompt "
                      "and responses can no longer change (import it under a new id)", error=ConflictError)
        item_rows.append({"id": pk, "prompt": parsed.prompt, "metadata": parsed.metadata,
                          "content_hash": parsed.content_hash, "updated_at": None})
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
    _bulk_update(Response, resp_update, ["model_name", "content", "position", "metadata", "updated_at"])
    _bulk_insert(Response, resp_create)
    _bulk_update(Item, item_rows, ["prompt", "metadata", "content_hash", "updated_at"])
    with_gold = [(p, pk) for p, pk in changed if p.gold is not None]
    if with_gold:
        response_ids: dict[int, dict[str, int]] = {}
        for item_id, ext, rid in Response.objects.filter(item_id__in=[pk for _, pk in with_gold]).values_list(
                "item_id", "external_id", "id"):
            response_ids.setdefault(item_id, {})[ext] = rid
        _bulk_update(Item, [{"id": pk, **_gold_fields(p, response_ids.get(pk, {}))} for p, pk in with_gold],
                     GOLD_FIELDS)


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


def items_import(
    *, project: Project, stream: IO, file_format: str = "auto", gold: bool = False
) -> ImportReport:
    """Parse the whole file, then write it in one transaction: nothing is stored if a line is bad."""
    with _gc_paused():
        parsed = items_parse(stream, file_format, gold=gold)
        report = items_write(project=project, items=parsed.items)
    report.format = parsed.format
    return report


def items_import_text(*, project: Project, text: str, file_format: str = "auto", gold: bool = False) -> ImportReport:
    """items_import for a string (tests, small API bodies)."""
    return items_import(project=project, stream=io.BytesIO(text.encode("utf-8")), file_format=file_format, gold=gold)
