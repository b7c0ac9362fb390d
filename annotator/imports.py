"""Item import: JSONL, one item a line, all-or-nothing per file.

Every line is parsed and validated before anything is written; the first bad line raises an
ApplicationError naming the line number and the field. Re-importing the same external ids updates
changed items in place and reports new / updated / unchanged counts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.db import transaction

from config.errors import ApplicationError

from .models import Item, Project, Response

ROLES = {"system", "user", "assistant"}


@dataclass
class ParsedResponse:
    external_id: str
    model_name: str
    content: str


@dataclass
class ParsedItem:
    line: int
    external_id: str
    prompt: list[dict]
    responses: list[ParsedResponse]
    metadata: dict = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        data = json.dumps(
            [self.prompt, [(r.external_id, r.model_name, r.content) for r in self.responses], self.metadata],
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return hashlib.sha256(data.encode()).hexdigest()


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


def _fail(line: int, path: str, message: str):
    raise ApplicationError(f"line {line}: {path}: {message}", fields={f"line {line}.{path}": message},
                           extra={"line": line, "field": path})


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
        if not isinstance(m.get("content"), str):
            _fail(line, f"{path}[{i}].content", "must be a string")
        messages.append({"role": m["role"], "content": m["content"]})
    return messages


def _parse_native(obj: dict, line: int) -> ParsedItem:
    ext = obj.get("id")
    if not isinstance(ext, (str, int)) or isinstance(ext, bool) or str(ext) == "":
        _fail(line, "id", "required: a non-empty string")
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
        rid = str(r.get("id") or f"{ext}-{i}")
        if rid in seen:
            _fail(line, f"responses[{i}].id", f"duplicate response id {rid!r}")
        seen.add(rid)
        model = r.get("model", "")
        if not isinstance(model, str):
            _fail(line, f"responses[{i}].model", "must be a string")
        parsed.append(ParsedResponse(rid, model, r["content"]))
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        _fail(line, "metadata", "must be an object")
    return ParsedItem(line, str(ext), prompt, parsed, metadata)


PARSERS = {"native": _parse_native}


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, dict]]:
    for number, raw in enumerate(stream, start=1):
        text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            _fail(number, "(line)", f"invalid JSON: {exc.msg} at column {exc.colno}")
        if not isinstance(obj, dict):
            _fail(number, "(line)", "must be a JSON object")
        yield number, obj


def items_parse(stream: IO[bytes], file_format: str = "native") -> list[ParsedItem]:
    """Parse and validate a whole file; raises on the first bad line."""
    if file_format not in PARSERS:
        raise ApplicationError(f"Unknown format {file_format!r}.", fields={"format": "unknown"})
    parser = PARSERS[file_format]
    items, seen = [], {}
    for number, obj in _lines(stream):
        item = parser(obj, number)
        if item.external_id in seen:
            _fail(number, "id", f"duplicate id {item.external_id!r} (first on line {seen[item.external_id]})")
        seen[item.external_id] = number
        items.append(item)
    if not items:
        raise ApplicationError("The file holds no items.", fields={"file": "empty"})
    return items


@transaction.atomic
def items_write(*, project: Project, items: Iterable[ParsedItem]) -> ImportReport:
    """Upsert parsed items by external id; responses are matched by their external id."""
    report = ImportReport()
    items = list(items)
    existing = {i.external_id: i for i in Item.objects.filter(
        project=project, external_id__in=[p.external_id for p in items])}
    for parsed in items:
        report.total += 1
        current = existing.get(parsed.external_id)
        if current is not None and current.content_hash == parsed.content_hash:
            report.unchanged += 1
            continue
        if current is None:
            item = Item.objects.create(project=project, external_id=parsed.external_id, prompt=parsed.prompt,
                                       metadata=parsed.metadata, content_hash=parsed.content_hash)
            Response.objects.bulk_create(
                Response(item=item, external_id=r.external_id, model_name=r.model_name, content=r.content,
                         position=pos) for pos, r in enumerate(parsed.responses))
            report.created += 1
        else:
            current.prompt, current.metadata, current.content_hash = parsed.prompt, parsed.metadata, parsed.content_hash
            current.save(update_fields=["prompt", "metadata", "content_hash", "updated_at"])
            for pos, r in enumerate(parsed.responses):
                Response.objects.update_or_create(
                    item=current, external_id=r.external_id,
                    defaults={"model_name": r.model_name, "content": r.content, "position": pos})
            report.updated += 1
    return report


def items_import(*, project: Project, stream: IO[bytes], file_format: str = "native") -> ImportReport:
    """Parse the whole file, then write it in one transaction: nothing is stored if a line is bad."""
    parsed = items_parse(stream, file_format)
    report = items_write(project=project, items=parsed)
    report.format = file_format
    return report
