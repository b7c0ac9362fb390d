"""Hypothesis strategies for hostile input, and the one check every attempt passes: 4xx or success,
never 5xx, and a refused request writes nothing. Attempts are counted per category for the table
printed at the end of the run (tests/security/conftest.py).

Values are produced as raw JSON *text*, so that what `json.dumps` cannot write still reaches the
server: `NaN`, `Infinity`, `1e999999`, 5,000-digit integers, lone surrogates (`"\\ud800"`), nesting
thousands deep.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from urllib.parse import quote

from django.apps import apps
from django.db import transaction
from hypothesis import strategies as st

from .conftest import HOSTILE

# --- values -------------------------------------------------------------------------------------

ODD_DATES = [
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2024-06-01T12:00:00-23:59", "9999-12-31",
    "0001-01-01", "2024-02-30", "2024-02-30T00:00:00", "2024-01-01T24:00:00", "2024-13-01", "2024-01-01T25:00:00",
    "+275760-09-13T00:00:00Z", "99999-01-01", "1970-01-01T00:00:00Z", "2024-01-01T00:00:00+99:99",
    "2024-06-01T12:00:00.9999999999Z", "-0001-01-01", "2024-W01", "now", "",
]
GIANT = "x" * 300_000

numbers = st.one_of(
    st.sampled_from(["NaN", "-NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "9" * 5000, "-" + "9" * 4400,
                     "1e-999999", "0.0000000000000000000000001", str(2**63), str(-(2**63) - 1), str(2**64), "-0"]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
texts = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff", "x\udc00y", "\ufeff", "\u202e", "' OR 1=1 --",
                     "<script>alert(1)</script>", "../../etc/passwd", "%00", "\\u0000", "=HYPERLINK(\"x\")"]),
    st.builds(lambda: GIANT),  # (built, not sampled: Hypothesis would print all 300 kB in its repr)
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None), max_size=40),
)
dates = st.sampled_from(ODD_DATES)


def as_json_string(text: str) -> str:
    """A JSON string literal for any Python string, lone surrogates included (escaped as \\udXXX)."""
    return json.dumps(text)  # ensure_ascii: surrogates come out as \\ud800 escapes


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


json_atoms = st.one_of(numbers, texts.map(as_json_string), dates.map(as_json_string),
                       st.sampled_from(["null", "true", "false", "[]", "{}", deep(5000), '{"a":' * 3000 + "1"
                                        + "}" * 3000]))
json_values = st.recursive(
    json_atoms,
    lambda kids: st.one_of(st.lists(kids, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
                           st.dictionaries(texts.map(as_json_string), kids, max_size=3).map(
                               lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")),
    max_leaves=6,
)

# A query-string value: anything, as bytes, percent-encoded (lone surrogates become invalid UTF-8).
query_values = st.one_of(texts, numbers, dates, st.sampled_from(["", "true", "1", "-1", "0", "[]", "{}", deep(100),
                                                                "²", "٣", "1_000", " 1", "0x10", "9" * 5000]))


# Every query parameter takes each of these, every run (Hypothesis samples the rest).
EDGE_VALUES = ["", "0", "-1", "²", "9" * 5000, "99999999999999999999", "NaN", "\ud800", deep(100)]


PAGE_EDGE_VALUES = ["²", "9" * 5000, "\ud800"]


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params.items())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def cursor_of(part: str, value: str) -> str:
    """DRF's cursor: base64 of a query string o=<offset>&r=<reverse>&p=<position>; one part set."""
    return _b64(f"{part}={quote(value.encode('utf-8', 'surrogatepass'))}")


cursors = st.one_of(
    st.tuples(st.sampled_from(["o", "r", "p"]), query_values).map(lambda kv: cursor_of(*kv)),
    st.sampled_from(["cD1hYmM=", "not base64!", "====", _b64("p=" + "9" * 5000), _b64("o=-1&p=1"),
                     _b64("o=99999999999999999999&p=1"), _b64("p=2024-01-01T00:00:00%2B99:00"), _b64("p=\x00")]),
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
)


def for_schema(prop: dict) -> st.SearchStrategy[str]:
    """A JSON text for one property of a request body: often hostile, sometimes plausible, so that
    hostile values also reach the layers behind the first field check."""
    plausible = {"integer": st.integers(-3, 3).map(str), "number": st.floats(0, 1).map(repr),
                 "boolean": st.sampled_from(["true", "false"]), "array": st.just("[]"), "object": st.just("{}")}
    kind = prop.get("type")
    options = [json_values]
    if "enum" in prop:
        options.append(st.sampled_from([json.dumps(v) for v in prop["enum"]]))
    elif prop.get("format") in ("date-time", "date"):
        options.append(dates.map(as_json_string))
    elif kind in plausible:
        options.append(plausible[kind])
    elif kind == "string":
        options.append(st.just('"x"'))
    return st.one_of(options)


# --- the check ----------------------------------------------------------------------------------

WATCHED = ["auth.User", "accounts.ApiToken", "rubrics.RubricSet", "rubrics.RubricVersion", "rubrics.Criterion",
           "annotator.Project", "annotator.ProjectMembership", "annotator.Item", "annotator.Response",
           "annotator.Assignment", "annotator.Judgment", "annotator.CriterionJudgment", "annotator.Adjudication",
           "scoring.Scorer", "scoring.ScoringRun", "exports.ExportJob"]


def row_counts() -> dict[str, int]:
    return {name: apps.get_model(name).objects.count() for name in WATCHED}


def attempt(category: str, send) -> None:
    """Send one hostile request (`send()` returns the response) in a savepoint that is rolled back;
    count it under `category`; fail on a 5xx, or on a 4xx after which any watched table changed."""
    counts = HOSTILE.setdefault(category, Counter())
    with transaction.atomic():
        before = row_counts()
        response = send()
        body = b"".join(response.streaming_content) if response.streaming else response.content
        after = row_counts() if 400 <= response.status_code < 500 else before
        transaction.set_rollback(True)
    counts["attempts"] += 1
    if response.status_code >= 500:
        counts["server_errors"] += 1
    elif response.status_code >= 400:
        counts["refused"] += 1
    else:
        counts["accepted"] += 1
    assert response.status_code < 500, f"{response.status_code}: {body[:300]!r}"
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"refused with {response.status_code}, yet rows changed: {changed}"
