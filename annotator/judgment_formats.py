"""Judgment files: existing human labels as JSONL, parsed into ParsedJudgments of named items.

Formats, detected from the first line or named explicitly:

- ``judgments``: one judgment a line, the layout of the ``judgments`` export (so an export of one
  project imports into another): ``item_id`` (the item's id in this project), ``annotator`` (a name),
  ``preference`` (−3..3 by stored position, negative = response 1 better), ``both_bad``,
  ``ranking`` (1-based positions or response ids, best first), ``rationale``, ``time_spent_ms``,
  ``submitted_at`` (ISO 8601), ``rubric_version`` (``slug@vN``), ``scores`` (a list of
  ``{"response": position or "response_id": id, "criterion": key, "value": …}``). The export's
  other columns are read as a check (``response_ids`` must be the item's) or ignored.
- ``helpsteer2``: HelpSteer2-Preference lines (the same file the item import reads) with the
  individual annotators' preferences: ``all_preferences_unprocessed`` (or
  ``three_most_similar_preferences``), each ``{"strength", "statement", "elaboration"}``; HelpSteer3's
  ``individual_preference``, each ``{"score", "reasoning"}``. The item is the one the item import made
  of the line (same id); the k-th preference is by annotator ``helpsteer2-k`` (``helpsteer3-k``)
  unless the entry names its ``annotator``.

Annotator names become accounts ``imported/<name>`` that cannot log in
(services/judgment_imports.py); nothing in a file can speak for a real user. Every line is
parsed before anything is written, and the first bad one raises an error naming its line and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.dates import in_utc
from config.errors import ApplicationError

from .formats import ParsedJudgment, _parse_helpsteer2, _read_lines, _strength, fail_at_line

JUDGMENT_FORMATS = ("judgments", "helpsteer2")
IMPORTED_PREFIX = "imported/"
_MAX_NAME = 150 - len(IMPORTED_PREFIX)


@dataclass
class JudgmentLine:
    """A parsed judgment and the external id of the item it judges."""

    item_id: str
    judgment: ParsedJudgment
    # The item's response ids by position, when the line states them (a check, not a change).
    response_ids: list[str] | None = None


def _name(value, line: int, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        fail_at_line(line, path, "required: a non-empty name")
    name = str(value).strip()
    if name.startswith(IMPORTED_PREFIX):
        name = name[len(IMPORTED_PREFIX):]  # an export of imported judgments keeps its names
    if not name or len(name) > _MAX_NAME or any(c in name for c in "\n\r\t"):
        fail_at_line(line, path, f"a name of 1 to {_MAX_NAME} characters on one line")
    return name


def _time(value, line: int, path: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but no such time: 2024-02-30, 25:00
        parsed = None
    if parsed is None:
        fail_at_line(line, path, "must be an ISO 8601 date-time")
    try:
        return in_utc(parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC))
    except ValueError as exc:
        fail_at_line(line, path, f"must be an ISO 8601 date-time, {exc}")


def _text(value, line: int, path: str, limit: int = 20000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        fail_at_line(line, path, "must be a string")
    if len(value) > limit:
        fail_at_line(line, path, f"at most {limit:,} characters")
    return value


def _non_negative_int(value, line: int, path: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        fail_at_line(line, path, "must be a non-negative integer")
    return min(int(value), 2**31 - 1)


def _ranking(value, line: int) -> list:
    """1-based positions (ints) or response ids (strings), best first; resolved by the service."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        fail_at_line(line, "ranking", "must be a list of response positions (1, 2, …) or response ids")
    out = []
    for i, r in enumerate(value):
        if isinstance(r, bool) or not isinstance(r, (int, str)) or (isinstance(r, int) and r < 1):
            fail_at_line(line, f"ranking[{i}]", "must be a response position (1, 2, …) or a response id")
        out.append(r)
    if len(set(map(str, out))) != len(out):
        fail_at_line(line, "ranking", "lists a response twice")
    return out


def _scores(value, line: int) -> dict[tuple, float]:
    """[{"response": 1 | "response_id": "a", "criterion": "key", "value": 4}] → {(response, key): 4.0}."""
    if value in (None, ""):
        return {}
    if not isinstance(value, list):
        fail_at_line(line, "scores", 'must be a list of {"response", "criterion", "value"}')
    scores: dict[tuple, float] = {}
    for i, s in enumerate(value):
        path = f"scores[{i}]"
        if not isinstance(s, dict):
            fail_at_line(line, path, 'must be an object {"response", "criterion", "value"}')
        if s.get("response_id") is not None:
            response = str(s["response_id"])
        elif isinstance(s.get("response"), int) and not isinstance(s.get("response"), bool) and s["response"] >= 1:
            response = s["response"]
        else:
            fail_at_line(line, f"{path}.response", "required: a position (1, 2, …), or response_id")
        criterion = s.get("criterion")
        if not isinstance(criterion, str) or not criterion:
            fail_at_line(line, f"{path}.criterion", "required: a criterion key")
        v = s.get("value")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            fail_at_line(line, f"{path}.value", "required: a number")
        if (response, criterion) in scores:
            fail_at_line(line, path, f"a second score of {criterion!r} for response {response}")
        scores[(response, criterion)] = float(v)
    return scores


def _parse_judgment_line(obj: dict, line: int) -> Iterator[JudgmentLine]:
    item_id = obj.get("item_id", obj.get("id"))
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or not str(item_id).strip():
        fail_at_line(line, "item_id", "required: the id of an item of this project")
    annotator = _name(obj.get("annotator"), line, "annotator")
    preference = None if obj.get("preference") is None else _strength(obj["preference"], line, "preference")
    both_bad = obj.get("both_bad", False)
    if not isinstance(both_bad, bool):
        fail_at_line(line, "both_bad", "must be true or false")
    rubric = obj.get("rubric_version") or None
    if rubric is not None and not isinstance(rubric, str):
        fail_at_line(line, "rubric_version", 'must be "<rubric set slug>@v<number>"')
    if rubric is not None and "," in rubric:
        fail_at_line(line, "rubric_version", "one version per judgment")
    response_ids = obj.get("response_ids")
    if response_ids is not None and (not isinstance(response_ids, list)
                                     or not all(isinstance(r, (str, int)) for r in response_ids)):
        fail_at_line(line, "response_ids", "must be a list of response ids")
    judgment = ParsedJudgment(
        line=line, annotator=annotator, preference=preference, both_bad=both_bad,
        ranking=_ranking(obj.get("ranking"), line), scores=_scores(obj.get("scores"), line),
        rationale=_text(obj.get("rationale"), line, "rationale"),
        time_spent_ms=_non_negative_int(obj.get("time_spent_ms"), line, "time_spent_ms"),
        submitted_at=_time(obj.get("submitted_at"), line, "submitted_at"), rubric=rubric,
    )
    yield JudgmentLine(str(item_id), judgment, [str(r) for r in response_ids] if response_ids is not None else None)


def _parse_helpsteer2_line(obj: dict, line: int) -> Iterator[JudgmentLine]:
    item = _parse_helpsteer2(obj, line)
    if "individual_preference" in obj:
        key, source, strength_key = "individual_preference", "helpsteer3", "score"
    elif "all_preferences_unprocessed" in obj:
        key, source, strength_key = "all_preferences_unprocessed", "helpsteer2", "strength"
    elif "three_most_similar_preferences" in obj:
        key, source, strength_key = "three_most_similar_preferences", "helpsteer2", "strength"
    else:
        fail_at_line(line, "all_preferences_unprocessed", "required: the individual preferences "
                     "(or individual_preference, HelpSteer3)")
    entries = obj[key]
    if not isinstance(entries, list) or not entries:
        fail_at_line(line, key, "must be a non-empty list of preferences")
    for k, entry in enumerate(entries):
        path = f"{key}[{k}]"
        if not isinstance(entry, dict):
            fail_at_line(line, path, "must be an object")
        if entry.get(strength_key) is None:
            fail_at_line(line, f"{path}.{strength_key}", "required: an integer from -3 to 3")
        name = entry.get("annotator", entry.get("annotator_id"))
        annotator = _name(name, line, f"{path}.annotator") if name is not None else f"{source}-{k + 1}"
        if "reasoning" in entry:
            rationale = _text(entry.get("reasoning"), line, f"{path}.reasoning")
        else:
            parts = [_text(entry.get(f), line, f"{path}.{f}") for f in ("statement", "elaboration")]
            rationale = "\n\n".join(p for p in parts if p.strip())
        judgment = ParsedJudgment(line=line, annotator=annotator,
                                  preference=_strength(entry[strength_key], line, f"{path}.{strength_key}"),
                                  rationale=rationale[:20000])
        yield JudgmentLine(item.external_id, judgment)


PARSERS = {"judgments": _parse_judgment_line, "helpsteer2": _parse_helpsteer2_line}


def detect_judgment_format(obj: dict) -> str | None:
    if "annotator" in obj:
        return "judgments"
    if ("response_1" in obj or "response1" in obj) and (
            "individual_preference" in obj or "all_preferences_unprocessed" in obj
            or "three_most_similar_preferences" in obj):
        return "helpsteer2"
    return None


def judgments_parse(stream: IO, file_format: str = "auto") -> tuple[str, list[JudgmentLine]]:
    """Parse and validate a whole judgment file; raises on the first bad line."""
    if file_format not in (*JUDGMENT_FORMATS, "auto"):
        raise ApplicationError(f"Unknown format {file_format!r}; use one of auto, {', '.join(JUDGMENT_FORMATS)}.",
                               fields={"format": "unknown"})
    parser = None if file_format == "auto" else PARSERS[file_format]
    out: list[JudgmentLine] = []
    seen: dict[tuple[str, str], int] = {}
    for number, obj in _read_lines(stream):
        if parser is None:
            file_format = detect_judgment_format(obj)
            if file_format is None:
                fail_at_line(number, "(line)", "unrecognised format: expected item_id and annotator (judgments) or "
                             "a HelpSteer2-Preference line with its individual preferences")
            parser = PARSERS[file_format]
        for parsed in parser(obj, number):
            key = (parsed.item_id, parsed.judgment.annotator)
            if key in seen:
                fail_at_line(number, "annotator", f"{parsed.judgment.annotator!r} already judged item "
                             f"{parsed.item_id!r} on line {seen[key]}")
            seen[key] = number
            out.append(parsed)
    if not out:
        raise ApplicationError("The file holds no judgments.", fields={"file": "empty"})
    return file_format, out
