"""Item files: JSONL, one item a line, read within the limits and parsed into ParsedItems.

Formats (DESIGN.md), detected from the first item line or named explicitly:

- ``native``: ``{"id", "prompt" | "messages", "responses": [{"id", "model", "content", "metadata"}],
  "metadata", "gold"}``
- ``trl``: TRL preference, ``prompt``/``chosen``/``rejected`` as strings or message lists, including
  the implicit-prompt form (only ``chosen``/``rejected`` conversations sharing a prefix)
- ``helpsteer2``: ``prompt``, ``response_1``, ``response_2``, ``preference_strength`` (−3..3); also the
  HelpSteer3 spelling (``context``, ``response1``, ``response2``, ``overall_preference``)
- ``helpsteer2_attributes``: HelpSteer2's own rows, ``prompt``, ``response`` and the five 0–4 attributes
  (``helpfulness``, ``correctness``, ``coherence``, ``complexity``, ``verbosity``); the rows of one
  prompt are one item, and the ratings one judgment by ``imported/helpsteer2`` against the shipped
  HelpSteer2 rubric (Likert 1–5 = attribute + 1)
- ``rewardbench``: ``prompt``, ``chosen``, ``rejected``, ``subset`` (+ ``chosen_model``/``rejected_model``)
- ``rewardbench2``: ``prompt``, ``chosen``/``rejected`` lists of completions, ``models``, ``subset``

Prompts are normalised to what TRL's trainers and chat templates accept (``parse_prompt``): roles
system, user and assistant (``developer`` is read as system, ``human`` as user, ``gpt``/``model`` as
assistant; tool turns are refused), a system message only first, and a user turn last. Every
format reads ``item_id`` as the id and a ``metadata`` object as the metadata, so the exports
re-import as the items they came from.

Every line is read within the size limits, parsed and validated before anything is written; the
first bad line raises an ApplicationError naming the line number and the field. Nothing here
writes: the import service (annotator/services/imports.py) stores a parsed file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import IO

import orjson
from django.conf import settings

from config import jsonsafe
from config.errors import ApplicationError, PayloadTooLargeError

# Prompts hold what TRL's trainers and chat templates accept: an optional system message first,
# then user and assistant turns, ending with the user turn the responses answer. Other spellings
# of those roles are mapped; tool turns are refused (their tool call cannot be stored here).
ROLES = ("system", "user", "assistant")
ROLE_ALIASES = {"developer": "system", "human": "user", "gpt": "assistant", "model": "assistant"}
FORMATS = ("native", "trl", "helpsteer2", "helpsteer2_attributes", "rewardbench", "rewardbench2")
FORMAT_CHOICES = [
    ("auto", "Detect from the file"),
    ("native", "Native (id, prompt/messages, responses)"),
    ("trl", "TRL preference (prompt, chosen, rejected)"),
    ("helpsteer2", "HelpSteer2-Preference (prompt, response_1, response_2, preference_strength)"),
    ("helpsteer2_attributes", "HelpSteer2 (prompt, response, helpfulness … verbosity 0–4; two rows a prompt)"),
    ("rewardbench", "RewardBench (prompt, chosen, rejected, subset)"),
    ("rewardbench2", "RewardBench 2 (prompt, chosen[], rejected[], models)"),
]
# HelpSteer2 writes earlier turns of a multi-turn prompt inline: "<first user turn>\n<extra_id_1>Assistant\n…",
# and a system prompt first as "<extra_id_0>System\n<system>\n<extra_id_1>User\n<first user turn>…"
# (helpsteer2_prompt below writes exactly this; the newline before a marker is optional when reading).
_HS2_TURN = re.compile(r"\n?<extra_id_1>(User|Assistant)\n")
_HS2_SYSTEM = "<extra_id_0>System\n"
# HelpSteer2's five attributes, each 0–4 per response; stored as Likert 1–5 scores (value + 1) of the
# shipped HelpSteer2 rubric (rubrics/builtin/helpsteer2.json) by the annotator HELPSTEER2_ANNOTATOR.
HS2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
HELPSTEER2_ANNOTATOR = "imported/helpsteer2"
# Ids that an item line may carry; `item_id` is what every export writes, so an export re-imports
# under the same ids.
ID_KEYS = ("id", "item_id")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


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
class ParsedJudgment:
    """A judgment brought in from a file, by an external annotator (services/judgment_imports.py).

    `preference` is −3..3 by stored position (negative = the first response better), `ranking`
    response external ids best first, `scores` (response external id, criterion key) → value on
    the criterion's scale, `rubric` "slug@vN", the builtin "helpsteer2", or None for the project's.
    """

    line: int
    annotator: str
    preference: int | None = None
    both_bad: bool = False
    ranking: list[str] = field(default_factory=list)
    scores: dict[tuple[str, str], float] = field(default_factory=dict)
    rationale: str = ""
    time_spent_ms: int = 0
    submitted_at: datetime | None = None
    rubric: str | None = None


_json_sorted = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_json_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# orjson writes what json writes except some floats (0.00001 for 1e-05) and refuses integers beyond
# 64 bits; where its text has a digit before an e or E, or "0.0000", json encodes instead. (Digits are
# mapped to 0 first: two substring searches are far faster than a regular expression here.)
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789E", b"000000000e")


def _orjson_exact(value, sort_keys: bool) -> bytes | None:
    """orjson's text of `value` where it is json.dumps' byte for byte (see `_encode`), else None."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits
        return None
    shape = data.translate(_DIGITS_TO_ZERO)
    return data if b"0e" not in shape and b"0.0000" not in shape else None


def _encode_bytes(value, sort_keys: bool) -> bytes:
    """`json.dumps(value, sort_keys=…, separators=(",", ":"), ensure_ascii=False)` in UTF-8, byte for
    byte (the stored content hashes stay valid), by orjson: 17 µs → 0.5 µs for an item of 2 KB, a
    third of an import's parsing time before."""
    data = _orjson_exact(value, sort_keys)
    if data is None:
        data = (_json_sorted(value) if sort_keys else _json_compact(value)).encode()
    return data


@dataclass
class ParsedItem:
    line: int
    external_id: str
    prompt: list[dict]
    responses: list[ParsedResponse]
    metadata: dict = field(default_factory=dict)
    gold: Gold | None = None
    # Judgments that come with the item (HelpSteer2's attribute ratings).
    judgments: list[ParsedJudgment] = field(default_factory=list)

    @cached_property
    def content_hash(self) -> str:
        value = [self.prompt, [(r.external_id, r.model_name, r.content, r.metadata) for r in self.responses],
                 self.metadata]
        # Only metadata holds numbers (prompts, ids, names and texts are strings, parse_messages): where
        # orjson writes each metadata object as json does, it writes the whole so. The check on the
        # whole text cost more than the encoding and the hash together (a 2 KB item: 4 µs).
        metadata = (self.metadata, *(r.metadata for r in self.responses))
        if all(not m or _orjson_exact(m, sort_keys=True) is not None for m in metadata):
            data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        else:
            data = _encode_bytes(value, sort_keys=True)
        return hashlib.sha256(data).hexdigest()

    @property
    def conversation_hash(self) -> str:
        """The part annotators judge (prompt and response texts): judged items may not change it."""
        data = _encode_bytes([self.prompt, [(r.external_id, r.content) for r in self.responses]], sort_keys=False)
        return hashlib.sha256(data).hexdigest()


@dataclass
class ParsedFile:
    format: str
    items: list[ParsedItem]


# --- Errors ---------------------------------------------------------------------------------


def fail_at_line(line: int, path: str, message: str, error=ApplicationError):
    """Raise `error` naming the line and the field path (`line 7: responses[1].content: required`)."""
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
                fail_at_line(line, "(line)", f"JSON nested deeper than {limit} levels (IMPORT_MAX_JSON_DEPTH)")
        else:
            depth -= 1


def _loads_line(body: bytes, line: int, max_depth: int):
    """A line that is not plainly safe JSON (jsonsafe.loads_plain): read with the checks that name
    what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail_at_line(line, "(line)", f"not valid UTF-8 (byte {exc.start + 1})")
    _check_depth(text, line, max_depth)
    try:
        return jsonsafe.loads_checked(text, max_depth=max_depth)
    except json.JSONDecodeError as exc:
        fail_at_line(line, "(line)", f"invalid JSON: {exc.msg} at column {exc.colno}")
    except jsonsafe.JSONValueError as exc:
        fail_at_line(line, exc.path or "(line)", exc.message)


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
            fail_at_line(number, "(line)", f"longer than {_human_bytes(max_line)} (IMPORT_MAX_LINE_BYTES)",
                  error=PayloadTooLargeError)
        if number == 1 and body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        if not body.strip():
            continue
        try:
            obj = jsonsafe.loads_plain(body, max_depth=max_depth)
        except jsonsafe.NotPlain:
            obj = _loads_line(body, number, max_depth)
        if not isinstance(obj, dict):
            fail_at_line(number, "(line)", "must be a JSON object")
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
                fail_at_line(line, f"{path}[{i}]", 'only text parts are supported ({"type": "text", "text": …})')
        return "\n\n".join(texts)
    fail_at_line(line, path, "must be a string")


def parse_messages(value, line: int, path: str) -> list[dict]:
    """A plain string or a chat message list → a message list, roles mapped (ROLE_ALIASES) and
    checked. The order of the turns is checked by parse_prompt (prompts) and _completion."""
    if isinstance(value, str):
        if not value.strip():
            fail_at_line(line, path, "must not be empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        fail_at_line(line, path, "must be a string or a non-empty list of messages")
    messages = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            fail_at_line(line, f"{path}[{i}]", "must be an object with role and content")
        role = m.get("role")
        role = ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
        if role in ("tool", "function", "ipython"):
            fail_at_line(line, f"{path}[{i}].role", "tool turns are not supported (the assistant tool call they "
                         "answer cannot be stored); put the tool output in the user turn")
        if role not in ROLES:
            fail_at_line(line, f"{path}[{i}].role", f"must be one of {', '.join(ROLES)} "
                         f"({', '.join(f'{a} is read as {b}' for a, b in ROLE_ALIASES.items())})")
        if "content" not in m:
            fail_at_line(line, f"{path}[{i}].content", "required")
        messages.append({"role": role, "content": _text_content(m["content"], line, f"{path}[{i}].content")})
    return messages


def check_prompt(messages: list[dict], line: int, path: str) -> list[dict]:
    """Refuse a prompt that TRL's trainers and chat templates cannot take: a system message only
    first, and the last turn the user's (the responses answer it)."""
    for i, m in enumerate(messages):
        if m["role"] == "system" and i > 0:
            fail_at_line(line, f"{path}[{i}].role", "a system message must come first (chat templates read it "
                         "only there)")
    if messages[-1]["role"] != "user":
        fail_at_line(line, f"{path}[{len(messages) - 1}].role",
                     f"the prompt must end with a user turn, not {messages[-1]['role']} (the responses answer it)")
    return messages


def parse_prompt(value, line: int, path: str) -> list[dict]:
    """A prompt (string or messages) → checked chat messages (parse_messages, then check_prompt)."""
    return check_prompt(parse_messages(value, line, path), line, path)


def _completion(value, line: int, path: str) -> str:
    """A response: a non-empty string, or assistant messages (TRL conversational) joined."""
    if isinstance(value, list):
        messages = parse_messages(value, line, path)
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                fail_at_line(line, f"{path}[{i}].role", "a completion holds assistant messages only")
        value = "\n\n".join(m["content"] for m in messages)
    if not isinstance(value, str) or not value.strip():
        fail_at_line(line, path, "required: a non-empty string")
    return value


# Items and responses imported without an id get this prefix and a hash of their content.
GENERATED_ID_PREFIX = "sha256:"


def prompt_short_name(prompt: list, *, words: int = 8, max_chars: int = 56) -> str:
    """A readable name for an item: the first words of its first user message, e.g.
    "Write a limerick about a cat who…" (whitespace collapsed; "" when there is no text)."""
    messages = prompt if isinstance(prompt, list) else []
    text = next((m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"
                 and isinstance(m.get("content"), str)), None)
    if text is None:
        text = next((m.get("content") for m in messages if isinstance(m, dict)
                     and isinstance(m.get("content"), str)), "")
    all_words = text.split()
    name = " ".join(all_words[:words])
    if len(name) > max_chars:
        name = name[:max_chars].rsplit(" ", 1)[0] if " " in name[:max_chars] else name[:max_chars]
    return name + ("…" if name != " ".join(all_words) else "")


def _external_id(obj: dict, line: int, keys=("id",), required=False, fallback: object = None) -> str:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            fail_at_line(line, key, "must be a non-empty string or integer")
        if len(str(value)) > 255:
            fail_at_line(line, key, "longer than 255 characters")
        return str(value)
    if required:
        fail_at_line(line, keys[0], "required: a non-empty string")
    # No id in the file: a stable id from the content, so re-importing the same file is a no-op.
    digest = hashlib.sha256(json.dumps(fallback, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"{GENERATED_ID_PREFIX}{digest[:24]}"


def _strength(value, line: int, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not -3 <= value <= 3:
        fail_at_line(line, path, "must be an integer from -3 to 3")
    return int(value)


def _model_name(value, line: int, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        fail_at_line(line, path, "must be a string")
    return value[:255]


# Columns the exports write that are not item content (label statistics, provenance, the columns
# that repeat the metadata): a line carrying a `metadata` object is read as an export, and these are
# left out of its metadata, so that an export re-imports as the items it came from.
EXPORT_COLUMNS = frozenset({
    "margin", "rubric_version", "n_judgments", "agreement", "adjudicated", "tie", "justification",
    "all_preferences", "chosen_scores", "rejected_scores", "response_1_scores", "response_2_scores",
    "chosen_id", "rejected_id", "response_1_id", "response_2_id", "response_1_model", "response_2_model",
    "subset", "source", "op", "updated_at", "n_ratings", "response_id", "model", "preference_strength",
    "deleted", *(f"response_{k}_{name}" for k in (1, 2) for name in HS2_ATTRIBUTES),
})


def _metadata_column(value):
    """The `metadata` column of an export: an object, or its JSON text (CSV, and JSONL's stable type)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _rest(obj: dict, used: set[str]) -> dict:
    """Keys a format does not interpret are kept as item metadata; a `metadata` object (what the
    exports write) is the metadata itself, and the export's own columns are not."""
    rest = {k: v for k, v in obj.items() if k not in used}
    if "metadata" in rest and (meta := _metadata_column(rest["metadata"])) is not None:
        del rest["metadata"]
        return {**{k: v for k, v in rest.items() if k not in EXPORT_COLUMNS}, **meta}
    return rest


# --- Formats ----------------------------------------------------------------------------------


def _parse_native(obj: dict, line: int) -> ParsedItem:
    ext = _external_id(obj, line, keys=ID_KEYS, required=True)
    if "messages" in obj:
        prompt = parse_prompt(obj["messages"], line, "messages")
    elif "prompt" in obj:
        prompt = parse_prompt(obj["prompt"], line, "prompt")
    else:
        fail_at_line(line, "prompt", "required (or messages)")
    responses = obj.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        fail_at_line(line, "responses", "must be a list of at least 2 responses")
    parsed, seen = [], set()
    for i, r in enumerate(responses):
        if not isinstance(r, dict):
            fail_at_line(line, f"responses[{i}]", "must be an object")
        if not isinstance(r.get("content"), str) or not r["content"].strip():
            fail_at_line(line, f"responses[{i}].content", "required: a non-empty string")
        rid = r.get("id")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == ""):
            fail_at_line(line, f"responses[{i}].id", "must be a non-empty string or integer")
        rid = str(rid) if rid is not None else f"{ext}-{i}"
        if len(rid) > 255:
            fail_at_line(line, f"responses[{i}].id", "longer than 255 characters")
        if rid in seen:
            fail_at_line(line, f"responses[{i}].id", f"duplicate response id {rid!r}")
        seen.add(rid)
        meta = r.get("metadata", {})
        if not isinstance(meta, dict):
            fail_at_line(line, f"responses[{i}].metadata", "must be an object")
        parsed.append(ParsedResponse(rid, _model_name(r.get("model"), line, f"responses[{i}].model"),
                                     r["content"], meta))
    metadata = _metadata_column(obj.get("metadata", {}))
    if metadata is None:
        fail_at_line(line, "metadata", "must be an object")
    gold = _native_gold(obj.get("gold"), line, [r.external_id for r in parsed])
    return ParsedItem(line, ext, prompt, parsed, metadata, gold)


def _native_gold(value, line: int, response_ids: list[str]) -> Gold | None:
    """`"gold": {"preference": -2}` / `{"both_bad": true}` / `{"ranking": [response ids]}`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        fail_at_line(line, "gold", "must be an object with preference, both_bad or ranking")
    gold = Gold()
    if value.get("preference") is not None:
        if len(response_ids) != 2:
            fail_at_line(line, "gold.preference", "only for items with exactly 2 responses (use gold.ranking)")
        gold.preference = _strength(value["preference"], line, "gold.preference")
    if "both_bad" in value:
        if not isinstance(value["both_bad"], bool):
            fail_at_line(line, "gold.both_bad", "must be true or false")
        gold.both_bad = value["both_bad"]
    if value.get("ranking") is not None:
        ranking = value["ranking"]
        if not isinstance(ranking, list) or sorted(map(str, ranking)) != sorted(response_ids):
            fail_at_line(line, "gold.ranking", "must list every response id of the item exactly once")
        gold.ranking = [str(r) for r in ranking]
    if gold.preference is None and not gold.both_bad and not gold.ranking:
        fail_at_line(line, "gold", "needs preference, both_bad or ranking")
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
        fail_at_line(line, "prompt", "required (chosen and rejected share no prompt prefix)")
    return check_prompt(chosen_msgs[:n], line, "chosen"), chosen[n:], rejected[n:]


def _response_ids(obj: dict, line: int, keys: tuple[str, str], defaults: tuple[str, str]) -> tuple[str, str]:
    """The two responses' ids, as the exports write them (`chosen_id`, `response_1_id`, …), or the defaults."""
    ids = tuple(_external_id(obj, line, keys=(key,)) if obj.get(key) is not None else default
                for key, default in zip(keys, defaults, strict=True))
    if ids[0] == ids[1]:
        fail_at_line(line, keys[1], f"the same response id as {keys[0]}")
    return ids


def _labelled_pair(line: int, chosen, rejected, models=("", ""), ids=("chosen", "rejected")) -> list[ParsedResponse]:
    """chosen first, rejected second; the label stays in the response metadata."""
    return [
        ParsedResponse(ids[0], models[0], _completion(chosen, line, "chosen"), {"label": "chosen"}),
        ParsedResponse(ids[1], models[1], _completion(rejected, line, "rejected"), {"label": "rejected"}),
    ]


def _parse_trl(obj: dict, line: int) -> ParsedItem:
    for key in ("chosen", "rejected"):
        if key not in obj:
            fail_at_line(line, key, "required")
    chosen, rejected = obj["chosen"], obj["rejected"]
    if "prompt" in obj:
        prompt = parse_prompt(obj["prompt"], line, "prompt")
    elif isinstance(chosen, list) and isinstance(rejected, list):
        prompt, chosen, rejected = _split_implicit_prompt(chosen, rejected, line)
    else:
        fail_at_line(line, "prompt", "required (or chosen/rejected conversations that share the prompt)")
    models = (_model_name(obj.get("chosen_model"), line, "chosen_model"),
              _model_name(obj.get("rejected_model"), line, "rejected_model"))
    ids = _response_ids(obj, line, ("chosen_id", "rejected_id"), ("chosen", "rejected"))
    responses = _labelled_pair(line, chosen, rejected, models, ids)
    ext = _external_id(obj, line, keys=(*ID_KEYS, "prompt_id"),
                       fallback=[prompt, obj["chosen"], obj["rejected"]])
    metadata = _rest(obj, {*ID_KEYS, "prompt_id", "prompt", "chosen", "rejected", "chosen_model", "rejected_model",
                           "chosen_id", "rejected_id"})
    return ParsedItem(line, ext, prompt, responses, metadata, Gold(preference=-1))


def helpsteer2_prompt(messages: list[dict]) -> str:
    """A chat prompt as one HelpSteer2 string, the inverse of reading one (_hs2_prompt).

    The first user turn as is and every later turn after "\\n<extra_id_1>User\\n" or
    "\\n<extra_id_1>Assistant\\n", as HelpSteer2 writes them; a system message first as
    "<extra_id_0>System\\n<system>", and then the first user turn gets its marker too. Prompts
    hold only system, user and assistant turns (check_prompt); an old row with another role is
    written as what the import maps it to (developer as system), anything else as a user turn.
    """
    parts: list[str] = []
    for i, m in enumerate(messages or []):
        role = str(m.get("role", "user"))
        role = ROLE_ALIASES.get(role, role)
        content = str(m.get("content", ""))
        if role == "system" and i == 0:
            parts.append(f"{_HS2_SYSTEM}{content}")
        elif not parts:
            parts.append(content)  # the first user turn needs no marker
        else:
            parts.append(f"\n<extra_id_1>{'Assistant' if role == 'assistant' else 'User'}\n{content}")
    return "".join(parts)


def _hs2_prompt(value, line: int, path: str) -> list[dict]:
    """A HelpSteer2 prompt string (or a message list, as HelpSteer3 has) → checked chat messages."""
    if isinstance(value, str) and ("<extra_id_1>" in value or value.startswith(_HS2_SYSTEM)):
        messages = []
        if value.startswith(_HS2_SYSTEM):
            value = value[len(_HS2_SYSTEM):]
            parts = _HS2_TURN.split(value)
            messages.append({"role": "system", "content": parts[0]})
            turns = list(zip(parts[1::2], parts[2::2], strict=False))
            if not turns or turns[0][0] != "User":
                fail_at_line(line, path, "after the <extra_id_0>System turn comes an <extra_id_1>User turn")
        else:
            parts = _HS2_TURN.split(value)
            messages.append({"role": "user", "content": parts[0]})
            turns = zip(parts[1::2], parts[2::2], strict=False)
        for role, content in turns:
            messages.append({"role": role.lower(), "content": content})
        return parse_prompt(messages, line, path)
    return parse_prompt(value, line, path)


def _parse_helpsteer2(obj: dict, line: int) -> ParsedItem:
    v3 = "response1" in obj and "response_1" not in obj
    r1_key, r2_key = ("response1", "response2") if v3 else ("response_1", "response_2")
    prompt_key = "context" if "context" in obj and "prompt" not in obj else "prompt"
    strength_key = "overall_preference" if "overall_preference" in obj else "preference_strength"
    if prompt_key not in obj:
        fail_at_line(line, "prompt", "required")
    prompt = _hs2_prompt(obj[prompt_key], line, prompt_key)
    for key in (r1_key, r2_key):
        if key not in obj:
            fail_at_line(line, key, "required")
    # The helpsteer2 export writes the responses' ids and models, and HelpSteer2's attributes of items
    # imported from its own format; they come back as they went out.
    ids = _response_ids(obj, line, ("response_1_id", "response_2_id"), ("response_1", "response_2"))
    responses = [
        ParsedResponse(ids[k], _model_name(obj.get(f"response_{k + 1}_model"), line, f"response_{k + 1}_model"),
                       _completion(obj[key], line, key))
        for k, key in enumerate((r1_key, r2_key))
    ]
    gold = None
    if obj.get(strength_key) is not None:
        gold = Gold(preference=_strength(obj[strength_key], line, strength_key))
    ext = _external_id(obj, line, keys=ID_KEYS, fallback=[prompt, responses[0].content, responses[1].content])
    metadata = _rest(obj, {*ID_KEYS, prompt_key, r1_key, r2_key, "response_1_id", "response_2_id", "response_1_model",
                           "response_2_model", *(f"response_{k}_{name}" for k in (1, 2) for name in HS2_ATTRIBUTES)})
    ratings = {(responses[k - 1].external_id, name): float(_attribute(obj[column], line, column) + 1)
               for k in (1, 2) for name in HS2_ATTRIBUTES
               if obj.get(column := f"response_{k}_{name}") is not None}
    judgments = [ParsedJudgment(line=line, annotator=HELPSTEER2_ANNOTATOR, rubric="helpsteer2", scores=ratings)]
    return ParsedItem(line, ext, prompt, responses, metadata, gold, judgments if ratings else [])


def _parse_rewardbench(obj: dict, line: int) -> ParsedItem:
    if "prompt" not in obj:
        fail_at_line(line, "prompt", "required")
    prompt = parse_prompt(obj["prompt"], line, "prompt")
    for key in ("chosen", "rejected"):
        if key not in obj:
            fail_at_line(line, key, "required")
        if not isinstance(obj[key], str):
            fail_at_line(line, key, "must be a string (lists of completions are RewardBench 2)")
    models = (_model_name(obj.get("chosen_model"), line, "chosen_model"),
              _model_name(obj.get("rejected_model"), line, "rejected_model"))
    responses = _labelled_pair(line, obj["chosen"], obj["rejected"], models)
    ext = _external_id(obj, line, keys=ID_KEYS, fallback=[prompt, obj["chosen"], obj["rejected"]])
    metadata = _rest(obj, {*ID_KEYS, "prompt", "chosen", "rejected", "chosen_model", "rejected_model"})
    return ParsedItem(line, ext, prompt, responses, metadata, Gold(preference=-1))


def _parse_rewardbench2(obj: dict, line: int) -> ParsedItem:
    if "prompt" not in obj:
        fail_at_line(line, "prompt", "required")
    prompt = parse_prompt(obj["prompt"], line, "prompt")
    lists = {}
    for key in ("chosen", "rejected"):
        value = obj.get(key)
        if not isinstance(value, list) or not value:
            fail_at_line(line, key, "required: a non-empty list of completions")
        lists[key] = [_completion(v, line, f"{key}[{i}]") for i, v in enumerate(value)]
    models = obj.get("models") or []
    if not isinstance(models, list):
        fail_at_line(line, "models", "must be a list of model names")
    n = len(lists["chosen"]) + len(lists["rejected"])
    names = [_model_name(m, line, f"models[{i}]") for i, m in enumerate(models)] if len(models) == n else [""] * n
    responses = [
        ParsedResponse(f"{label}-{i}", names.pop(0), content, {"label": label})
        for label in ("chosen", "rejected") for i, content in enumerate(lists[label])
    ]
    # A pair is a preference; more candidates are a ranking with the (first) chosen on top.
    gold = Gold(preference=-1) if len(responses) == 2 else Gold(ranking=[r.external_id for r in responses])
    ext = _external_id(obj, line, keys=ID_KEYS, fallback=[prompt, lists["chosen"], lists["rejected"]])
    metadata = _rest(obj, {*ID_KEYS, "prompt", "chosen", "rejected", "models"})
    return ParsedItem(line, ext, prompt, responses, metadata, gold)


@dataclass
class _RatedRow:
    """One line of HelpSteer2's own format: a response and its five attributes."""

    line: int
    key: str
    item_id: str | None
    prompt: list[dict]
    response: ParsedResponse
    ratings: dict[str, int]


def _attribute(value, line: int, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value <= 4:
        fail_at_line(line, path, "must be an integer from 0 to 4")
    return int(value)


def _parse_helpsteer2_attribute_row(obj: dict, line: int) -> _RatedRow:
    if "prompt" not in obj:
        fail_at_line(line, "prompt", "required")
    prompt = _hs2_prompt(obj["prompt"], line, "prompt")
    if "response" not in obj:
        fail_at_line(line, "response", "required")
    content = _completion(obj["response"], line, "response")
    ratings = {}
    for name in HS2_ATTRIBUTES:
        if obj.get(name) is None:
            fail_at_line(line, name, "required: an integer from 0 to 4")
        ratings[name] = _attribute(obj[name], line, name)
    item_id = _external_id(obj, line, keys=ID_KEYS) if any(obj.get(k) is not None for k in ID_KEYS) else None
    response_id = None
    if obj.get("response_id") is not None:
        response_id = _external_id(obj, line, keys=("response_id",))
    used = {*ID_KEYS, "prompt", "response", "response_id", "model", *HS2_ATTRIBUTES}
    metadata = _rest(obj, used)
    response = ParsedResponse(response_id or "", _model_name(obj.get("model"), line, "model"), content, metadata)
    key = item_id if item_id is not None else json.dumps(prompt, ensure_ascii=False, sort_keys=True)
    return _RatedRow(line, key, item_id, prompt, response, ratings)


def _group_helpsteer2_attribute_rows(rows: list[_RatedRow]) -> list[ParsedItem]:
    """HelpSteer2 rates each response on a line of its own; the lines of one prompt (or one
    item_id) are one item, its responses in file order, with one judgment holding every rating."""
    groups: dict[str, list[_RatedRow]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append(row)
    items = []
    for key, group in groups.items():
        first = group[0]
        if len(group) < 2:
            fail_at_line(first.line, "prompt", "only one response for this prompt: HelpSteer2 rates two responses "
                         "of each prompt, on two lines with the same prompt (or the same item_id)")
        for row in group[1:]:
            if row.prompt != first.prompt:
                fail_at_line(row.line, "prompt", f"differs from the prompt of item {key!r} on line {first.line}")
        ext = first.item_id or _external_id({}, first.line, fallback=["helpsteer2", first.prompt])
        seen: set[str] = set()
        for k, row in enumerate(group):
            row.response.external_id = row.response.external_id or f"response_{k + 1}"
            if row.response.external_id in seen:
                fail_at_line(row.line, "response_id", f"duplicate response id {row.response.external_id!r}")
            seen.add(row.response.external_id)
        judgment = ParsedJudgment(
            line=first.line, annotator=HELPSTEER2_ANNOTATOR, rubric="helpsteer2",
            scores={(row.response.external_id, name): float(value + 1)
                    for row in group for name, value in row.ratings.items()},
        )
        items.append(ParsedItem(first.line, ext, first.prompt, [row.response for row in group], {}, None,
                                [judgment]))
    return items


PARSERS = {
    "native": _parse_native,
    "trl": _parse_trl,
    "helpsteer2": _parse_helpsteer2,
    "helpsteer2_attributes": _parse_helpsteer2_attribute_row,
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
    if "prompt" in obj and "response" in obj and any(name in obj for name in HS2_ATTRIBUTES):
        return "helpsteer2_attributes"
    if "chosen" in obj and "rejected" in obj:
        chosen = obj["chosen"]
        if isinstance(chosen, list) and chosen and all(isinstance(c, str) for c in chosen):
            return "rewardbench2"
        if isinstance(chosen, str) and ("subset" in obj or "chosen_model" in obj):
            return "rewardbench"
        return "trl"
    return None


# --- Parse a whole file -------------------------------------------------------------------------


def _metadata_bytes(metadata: dict) -> int:
    return len(_encode_bytes(metadata, sort_keys=False)) if metadata else 0


@dataclass(frozen=True)
class SizeLimits:
    """The documented caps (IMPORT_MAX_*), read from the settings once per file."""

    responses: int
    turns: int
    message_chars: int
    metadata_bytes: int

    @classmethod
    def from_settings(cls) -> SizeLimits:
        return cls(settings.IMPORT_MAX_RESPONSES, settings.IMPORT_MAX_TURNS, settings.IMPORT_MAX_MESSAGE_CHARS,
                   settings.IMPORT_MAX_METADATA_BYTES)


def check_sizes(item: ParsedItem, limits: SizeLimits | None = None) -> None:
    """The documented caps (IMPORT_MAX_*): 413 naming the line and field of the first one exceeded."""
    line = item.line
    limits = limits or SizeLimits.from_settings()

    def too_large(path: str, message: str):
        fail_at_line(line, path, message, error=PayloadTooLargeError)

    if len(item.responses) > limits.responses:
        too_large("responses", f"{len(item.responses)} responses; at most {limits.responses} "
                               "per item (IMPORT_MAX_RESPONSES)")
    if len(item.prompt) > limits.turns:
        too_large("prompt", f"{len(item.prompt)} turns; at most {limits.turns} (IMPORT_MAX_TURNS)")
    max_chars = limits.message_chars
    for i, message in enumerate(item.prompt):
        if len(message.get("content", "")) > max_chars:
            too_large(f"prompt[{i}].content", f"longer than {max_chars:,} characters (IMPORT_MAX_MESSAGE_CHARS)")
    max_meta = limits.metadata_bytes
    if _metadata_bytes(item.metadata) > max_meta:
        too_large("metadata", f"more than {_human_bytes(max_meta)} of JSON (IMPORT_MAX_METADATA_BYTES)")
    for i, response in enumerate(item.responses):
        if len(response.content) > max_chars:
            too_large(f"responses[{i}].content", f"longer than {max_chars:,} characters (IMPORT_MAX_MESSAGE_CHARS)")
        if _metadata_bytes(response.metadata) > max_meta:
            too_large(f"responses[{i}].metadata",
                      f"more than {_human_bytes(max_meta)} of JSON (IMPORT_MAX_METADATA_BYTES)")


class ItemStream:
    """A file's items, each parsed and validated as its line is read, so that the import can store
    the first ones while it reads the rest (services/imports.py). Iterating raises on the first bad
    line, a duplicate id included, and on a file with no items at the end.

    `file_format` is one of FORMATS or "auto" (detected from the first item line; `format` holds the
    format read once iterating has begun). With `gold`, labelled formats mark their items as gold
    using the label they carry; native lines carry their own optional `gold` object. HelpSteer2's
    own rows (two lines a prompt) become items only at the end of the file.
    """

    def __init__(self, stream: IO, file_format: str = "auto", *, gold: bool = False):
        if file_format not in (*FORMATS, "auto"):
            raise ApplicationError(
                f"Unknown format {file_format!r}; use one of auto, {', '.join(FORMATS)}.",
                fields={"format": "unknown"},
            )
        self.stream, self.format, self.gold = stream, file_format, gold

    def __iter__(self) -> Iterator[ParsedItem]:
        limits = SizeLimits.from_settings()
        seen: dict[str, int] = {}
        for item in self._items(limits):
            check_sizes(item, limits)
            if self.format in LABELLED and not self.gold:
                item.gold = None
            if item.external_id in seen:
                fail_at_line(item.line, "id",
                             f"duplicate id {item.external_id!r} (first on line {seen[item.external_id]})")
            seen[item.external_id] = item.line
            yield item
        if not seen:
            raise ApplicationError("The file holds no items.", fields={"file": "empty"})
        if self.format == "auto":
            self.format = "native"

    def _items(self, limits: SizeLimits) -> Iterator[ParsedItem]:
        parser = None if self.format == "auto" else PARSERS[self.format]
        rows: list[_RatedRow] = []
        for number, obj in _read_lines(self.stream):
            if parser is None:
                self.format = detect_format(obj)
                if self.format is None:
                    fail_at_line(number, "(line)", "unrecognised format: expected responses (native), "
                                 "chosen/rejected (TRL, RewardBench, RewardBench 2), response_1/response_2 "
                                 "(HelpSteer2-Preference) or prompt/response/helpfulness… (HelpSteer2)")
                parser = PARSERS[self.format]
            if self.format == "helpsteer2_attributes":  # a row, not an item: grouped at the end
                rows.append(parser(obj, number))
            else:
                yield parser(obj, number)
        yield from _group_helpsteer2_attribute_rows(rows)


def items_parse(stream: IO, file_format: str = "auto", *, gold: bool = False) -> ParsedFile:
    """Parse and validate a whole file (ItemStream); raises on the first bad line."""
    items = ItemStream(stream, file_format, gold=gold)
    parsed = list(items)
    return ParsedFile(items.format, parsed)
