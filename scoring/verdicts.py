"""Judge verdicts: what a generative judge's free text means. Pure Python, no ORM.

Pointwise (one response against one rubric criterion), `parse_criterion_verdict`:
- HealthBench: JSON `{"explanation", "criteria_met": true|false}`, fenced or not, single quotes
  tolerated, or a broken JSON's `"criteria_met": true`;
- a JSON grade `{"score": n}` (also `rating`, `grade`) and Prometheus `... [RESULT] n`: the judge's
  native grade, kept as `grade`; met when n ≥ the pass threshold (default 3 on Prometheus's 1–5);
- `<answer>yes</answer>`, `[RESULT] yes`.

Pairwise (which of two responses, as shown), `parse_pairwise_verdict` → "a" | "b" | "tie" | None:
- MT-Bench `[[A]]` / `[[B]]` / `[[C]]` (tie), RM-R1 `<answer>[[A]]</answer>`;
- JSON `{"winner": "A"}` (also `verdict`, `preference`, `better`, `choice`; "tie", "draw");
- JudgeLM's native first line: two scores `8 6` (A's, then B's; equal is a tie);
- `[RESULT] A`, and free text "final verdict: B", "the verdict is a tie".
The last mark wins (judges mention "[[A]]" while reasoning, then answer). A refusal, a hedge or
garbage is None: the caller keeps the raw output and counts the failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRUE = {"true", "yes", "1", "met", "pass", "y"}
_FALSE = {"false", "no", "0", "not met", "unmet", "fail", "n"}


def _as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().strip(".").lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


def _as_number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+(?:\.\d+)?)?\s*", value)
        if m:
            return float(m.group(1))
    return None


def json_objects(text: str) -> list[dict]:
    """Every JSON object embedded in `text` (fenced blocks first, then any {...} that decodes);
    single-quoted Python-style dicts are read too."""
    found: list[dict] = []
    decoder = json.JSONDecoder()
    for candidate in [*_FENCE.findall(text), text]:
        i = candidate.find("{")
        while i != -1:
            try:
                obj, end = decoder.raw_decode(candidate, i)
            except json.JSONDecodeError:
                obj, end = _python_dict(candidate, i)
                if obj is None:
                    i = candidate.find("{", i + 1)
                    continue
            if isinstance(obj, dict):
                found.append(obj)
            i = candidate.find("{", end)
    return found


def _python_dict(text: str, start: int) -> tuple[dict | None, int]:
    """A `{'key': 'value', 'met': True}` dict at `start` (judges trained on Python print these)."""
    import ast

    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                try:
                    value = ast.literal_eval(text[start:j + 1])
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    return None, start + 1
                return (value, j + 1) if isinstance(value, dict) else (None, start + 1)
    return None, start + 1


# --- pointwise ---------------------------------------------------------------------------------
@dataclass
class CriterionParse:
    """`met`: the verdict (None: nothing parsed). `score`: the judge's native grade when it gave
    one (Prometheus 1–5, a JSON `score`), None for a yes/no verdict. Never the criterion's points."""

    met: bool | None
    score: float | None = None
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return self.met is not None

    @property
    def grade(self) -> float | None:
        return self.score


_MET_KEYS = ("criteria_met", "criterion_met", "met", "verdict", "answer", "result")
_GRADE_KEYS = ("score", "rating", "grade")


def parse_criterion_verdict(text: str, *, result_pass_threshold: float = 3) -> CriterionParse:
    """The verdict of one response against one criterion (see the module docstring for the forms)."""
    text = text or ""
    for obj in reversed(json_objects(text)):
        explanation = str(obj.get("explanation", obj.get("reason", obj.get("feedback", ""))))
        for key in _MET_KEYS:
            if key in obj:
                met = _as_bool(obj[key])
                if met is not None:
                    grade = next((_as_number(obj[k]) for k in _GRADE_KEYS if _as_number(obj.get(k)) is not None),
                                 None)
                    return CriterionParse(met=met, score=grade, explanation=explanation)
        for key in _GRADE_KEYS:
            grade = _as_number(obj.get(key))
            if grade is not None:
                return CriterionParse(met=grade >= result_pass_threshold, score=grade, explanation=explanation)
    m = re.search(r"""["']?criteri(?:a|on)_met["']?\s*[:=]\s*["']?(true|false|yes|no)""", text, re.I)
    if m:
        expl = re.search(r"""["']?explanation["']?\s*:\s*["'](.*?)["']\s*[,}]""", text, re.S)
        return CriterionParse(met=_as_bool(m.group(1)), explanation=expl.group(1) if expl else "")
    m = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.S | re.I)
    if m and _as_bool(m.group(1).strip("[] ")) is not None:
        return CriterionParse(met=_as_bool(m.group(1).strip("[] ")), explanation=text[: m.start()].strip())
    m = list(re.finditer(r"\[RESULT\]\s*:?\s*\(?([A-Za-z]+|-?\d+(?:\.\d+)?)\)?", text))
    if m:
        token = m[-1].group(1)
        explanation = text[: m[-1].start()].strip()
        try:
            n = float(token)
        except ValueError:
            return CriterionParse(met=_as_bool(token), explanation=explanation)
        return CriterionParse(met=n >= result_pass_threshold, score=n, explanation=explanation)
    return CriterionParse(met=None)


# --- pairwise ----------------------------------------------------------------------------------
_PAIR_MARKS = {"a": "a", "b": "b", "c": "tie", "tie": "tie", "draw": "tie", "equal": "tie", "1": "a", "2": "b"}
_TIE_WORDS = r"(?:a\s+)?(?:tie|draw)|equal(?:ly good)?|neither|both(?: are)? equal(?:ly good)?"
# "Final verdict: B", "the winner is Assistant A", "my verdict is a tie". A lone letter must be a
# capital A/B standing alone, so the article in "is a tie" is never read as A.
_FREE_TEXT = re.compile(
    r"(?i:final\s+verdict|verdict|winner|better\s+(?:response|answer)\s+is)\s*(?i:is)?\s*[:\-]?\s*\**\s*"
    r"(?:(?P<tie>(?i:" + _TIE_WORDS + r"))\b"
    r"|(?i:assistant|response|answer|model|output)\s*\(?(?P<named>[ABab12])\b"
    r"|[\"'(\[]*(?P<letter>[AB])(?![\w'])"
    r")"
)
_JUDGELM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[ ,]\s*(\d+(?:\.\d+)?)\s*$")


def _pair_mark(value) -> str | None:
    if isinstance(value, str):
        v = re.sub(r"\b(assistant|response|answer|model|output)\b", "", value.strip().lower())
        v = v.strip(" .:[]()\"'*")
        v = re.sub(r"^(?:a\s+)", "", v) if v.endswith(("tie", "draw")) else v
        return _PAIR_MARKS.get(v)
    if isinstance(value, int) and not isinstance(value, bool):
        return _PAIR_MARKS.get(str(value))
    return None


def _compare(first: float, second: float) -> str:
    return "a" if first > second else "b" if second > first else "tie"


def parse_pairwise_verdict(text: str) -> str | None:
    """"a", "b" or "tie" (as shown to the judge), or None. The last verdict mark wins."""
    text = text or ""
    m = re.findall(r"<answer>\s*\[*\s*(A|B|C|tie)\s*\]*\s*</answer>", text, re.I)
    if m:
        return _PAIR_MARKS[m[-1].lower()]
    m = re.findall(r"\[\[\s*(A|B|C|tie)\s*\]\]", text, re.I)
    if m:
        return _PAIR_MARKS[m[-1].lower()]
    for obj in reversed(json_objects(text)):
        for key in ("winner", "verdict", "preference", "better", "choice", "answer", "result"):
            mark = _pair_mark(obj.get(key))
            if mark:
                return mark
        a = next((_as_number(obj.get(k)) for k in ("score_a", "score_1", "rating_a") if k in obj), None)
        b = next((_as_number(obj.get(k)) for k in ("score_b", "score_2", "rating_b") if k in obj), None)
        if a is None and isinstance(obj.get("scores"), list) and len(obj["scores"]) == 2:
            a, b = _as_number(obj["scores"][0]), _as_number(obj["scores"][1])
        if a is not None and b is not None:
            return _compare(a, b)
    m = re.findall(r"\[RESULT\]\s*:?\s*(A|B|C|tie)\b", text, re.I)
    if m:
        return _PAIR_MARKS[m[-1].lower()]
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    m = _JUDGELM.match(first_line)
    if m:
        return _compare(float(m.group(1)), float(m.group(2)))
    matches = list(_FREE_TEXT.finditer(text))
    if matches:
        last = matches[-1]
        if last.group("tie"):
            return "tie"
        return _PAIR_MARKS[(last.group("named") or last.group("letter")).lower()]
    return None
