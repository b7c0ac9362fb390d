"""Rubric documents: parse JSON/YAML, recognise the accepted forms, and write exports.

Accepted forms (docs/rubrics.md has the full schema):

- `rubricate`: the native `rubricate.rubric/v1` object, the same shape as rubrics/demo/rubric.json
  and as every export; round-trips exactly (same content hash).
- `healthbench`: HealthBench's rubric list `[{"criterion", "points", "tags"}]`, or one HealthBench
  record with such a list under "rubrics".
- `openrubrics`: the OpenRubrics split into `{"hard_rules": [...], "principles": [...]}`, or the
  generated text form, one criterion a line ending in `[Hard Rule]` or `[Principle]`.

Everything is pure (no database): `document_parse` → `document_convert` → ImportedRubric, and
`version_document` → `document_dump` for exports. Errors are ApplicationErrors whose `fields`
name the path of each bad field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.conf import settings

from config import jsonsafe
from config.errors import ApplicationError, PayloadTooLargeError

from .models import Criterion
from .validation import (
    TITLE_MAX,
    Errors,
    canonical_points,
    clean_points,
    clean_string,
    clean_tags,
    criteria_clean,
    join,
    rubric_set_meta_clean,
    slug_from_text,
    type_name,
    unique_key,
)

SCHEMA = "rubricate.rubric/v1"
FORMS = ("rubricate", "healthbench", "openrubrics")
SYNTAXES = ("json", "yaml")
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
# Version fields an export carries for provenance; an import reads them and ignores them.
VERSION_INFO_KEYS = ("number", "status", "content_hash", "published_at", "based_on")
# Defaults for criteria from forms that carry no points or importance. Rubrics as Rewards weighs
# essential criteria 5 and important ones 3–4; OpenRubrics hard rules are the essentials.
OPENRUBRICS_DEFAULTS = {
    "hard_rules": {"kind": "hard_rule", "importance": "essential", "points": 5},
    "principles": {"kind": "principle", "importance": "important", "points": 3},
}
OPENRUBRICS_LINE = re.compile(
    r"^\s*(?:(?:\d+|[A-Za-z])[.)]|[-*•])?\s*(?P<text>.+?)\s*\[(?P<label>hard[ _-]?rule|principle)\]\s*[.:]?\s*$",
    re.IGNORECASE,
)


@dataclass
class ImportedRubric:
    """A validated rubric read from a document, ready for the import service."""

    form: str
    notes: str
    criteria: list[dict]
    rubric_set: dict | None = None  # name/slug/description when the document carries them
    source_hash: str = ""  # content_hash an export carried, to report whether it still matches
    warnings: list[str] = field(default_factory=list)


# --- Parsing ---------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases (no expansion bombs) and without implicit timestamps
    (a title such as 2024-01-01 stays a string)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "YAML aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def looks_like_openrubrics_text(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and sum(bool(OPENRUBRICS_LINE.match(line)) for line in lines) >= max(1, len(lines) // 2)


def document_parse(content: str | bytes, *, syntax: str = "auto") -> Any:
    """Text → a JSON-like value. syntax: auto | json | yaml | text (OpenRubrics lines)."""
    if isinstance(content, bytes):
        if len(content) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLargeError(f"The document is larger than {MAX_DOCUMENT_BYTES // 1024} KiB.")
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApplicationError(f"The document is not UTF-8 text (byte {exc.start}).",
                                   fields={"document": "not UTF-8"}) from exc
    if len(content.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLargeError(f"The document is larger than {MAX_DOCUMENT_BYTES // 1024} KiB.")
    content = content.lstrip("\ufeff")
    if not content.strip():
        raise ApplicationError("The document is empty.", fields={"document": "empty"})
    if syntax not in ("auto", "json", "yaml", "text"):
        raise ApplicationError(f'Unknown syntax "{syntax}".', fields={"syntax": "must be auto, json, yaml or text"})
    if syntax == "text" or (syntax == "auto" and looks_like_openrubrics_text(content)
                            and content.lstrip()[:1] not in "{["):
        return content
    if syntax in ("auto", "json"):
        try:
            value = jsonsafe.loads(content, max_depth=settings.IMPORT_MAX_JSON_DEPTH)
        except jsonsafe.JSONValueError as exc:
            raise _value_error(exc) from None
        except json.JSONDecodeError as exc:
            if syntax == "json" or content.lstrip()[:1] in "{[":
                # It meant to be JSON; YAML would only blur the error.
                message = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
                if syntax == "json" or not _parses_as_yaml(content):
                    raise ApplicationError(f"Invalid JSON at {message}.", fields={"document": message}) from exc
            value = None
        else:
            return value
    try:
        value = yaml.load(content, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError as exc:
        raise ApplicationError("The document is nested too deeply.", fields={"document": "too deep"}) from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ApplicationError(f"Invalid YAML: {exc}.", fields={"document": str(exc)}) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ApplicationError(f"Invalid YAML at {where}{problem}.", fields={"document": f"{where}{problem}"}) from exc
    return _checked_depth(value)


def _parses_as_yaml(content: str) -> bool:
    try:
        yaml.load(content, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except (yaml.YAMLError, RecursionError, ValueError):
        return False
    return True


def _value_error(exc: jsonsafe.JSONValueError) -> ApplicationError:
    where = "document" + ("" if not exc.path else exc.path if exc.path.startswith("[") else f".{exc.path}")
    return ApplicationError(f"{where}: {exc.message}.", fields={where: exc.message})


def _checked_depth(value: Any) -> Any:
    """A YAML document gets the same checks as JSON (depth, NUL, lone surrogates, finite numbers)."""
    try:
        jsonsafe.check(value, max_depth=settings.IMPORT_MAX_JSON_DEPTH)
    except jsonsafe.JSONValueError as exc:
        raise _value_error(exc) from None
    return value


# --- Recognising and converting ---------------------------------------------------------------

def detect_form(document: Any) -> str:
    if isinstance(document, str):
        return "openrubrics"
    if isinstance(document, list):
        return "healthbench"
    if isinstance(document, Mapping):
        if "schema" in document or "version" in document:
            return "rubricate"
        if "rubrics" in document:
            return "healthbench"
        if "hard_rules" in document or "principles" in document or "rubric" in document:
            return "openrubrics"
    raise ApplicationError(
        "Unrecognised rubric document: expected a rubricate.rubric/v1 object, a HealthBench list of "
        '{"criterion", "points", "tags"}, or OpenRubrics hard_rules/principles.',
        fields={"document": f"unrecognised {type_name(document)}"},
    )


def document_convert(document: Any, *, form: str = "auto") -> ImportedRubric:
    """A parsed document → ImportedRubric; raises ApplicationError naming every bad path."""
    if form == "auto":
        form = detect_form(document)
    if form == "rubricate":
        return _from_rubricate(document)
    if form == "healthbench":
        return _from_healthbench(document)
    if form == "openrubrics":
        return _from_openrubrics(document)
    raise ApplicationError(f'Unknown form "{form}".', fields={"form": f"must be auto or one of {', '.join(FORMS)}"})


def _from_rubricate(document: Any) -> ImportedRubric:
    errors = Errors()
    if not isinstance(document, Mapping):
        errors.add("document", f"must be an object, not {type_name(document)}")
        errors.raise_if_any()
    for name in document:
        if name not in ("schema", "rubric_set", "version"):
            errors.add(str(name), "unknown field (expected schema, rubric_set, version)")
    schema = document.get("schema")
    if schema != SCHEMA:
        errors.add("schema", f'must be "{SCHEMA}"' + (f' (got "{schema}")' if isinstance(schema, str) else ""))
    meta = None
    if "rubric_set" in document:
        meta = rubric_set_meta_clean(document["rubric_set"], errors=errors, require_slug=False)
    version = document.get("version")
    notes, criteria, source_hash = "", [], ""
    if not isinstance(version, Mapping):
        errors.add("version", "is required" if version is None else f"must be an object, not {type_name(version)}")
    else:
        for name in version:
            if name not in ("notes", "criteria", *VERSION_INFO_KEYS):
                errors.add(join("version", str(name)),
                           f"unknown field (expected notes, criteria, {', '.join(VERSION_INFO_KEYS)})")
        notes = clean_string(version.get("notes"), path="version.notes", errors=errors, max_length=20_000)
        if "criteria" not in version:
            errors.add("version.criteria", "is required")
        else:
            criteria = criteria_clean(version["criteria"], path="version.criteria", errors=errors)
        if isinstance(version.get("content_hash"), str):
            source_hash = version["content_hash"]
    errors.raise_if_any()
    return ImportedRubric(form="rubricate", notes=notes or "", criteria=criteria, rubric_set=meta,
                          source_hash=source_hash)


def _title_and_guidance(text: str) -> tuple[str, str]:
    """Long or multi-line criterion text → a one-line title (ending in …) and the full text as guidance."""
    text = text.strip()
    if len(text) <= TITLE_MAX and "\n" not in text:
        return text, ""
    first = text.split("\n", 1)[0].strip()
    if len(first) > TITLE_MAX - 1:
        first = first[: TITLE_MAX - 1].rsplit(" ", 1)[0] or first[: TITLE_MAX - 1]
    return first.rstrip() + "…", text


def combined_text(title: str, guidance: str) -> str:
    """Inverse of _title_and_guidance, for exports to forms with a single text per criterion."""
    if not guidance:
        return title
    if title.endswith("…") and guidance.startswith(title[:-1]):
        return guidance
    return f"{title}\n\n{guidance}"


def _from_healthbench(document: Any) -> ImportedRubric:
    errors = Errors()
    prefix = ""
    items = document
    if isinstance(document, Mapping):
        prefix = "rubrics"
        items = document.get("rubrics")
        if not isinstance(items, list):
            errors.add("rubrics", "must be a list of {criterion, points, tags}")
            errors.raise_if_any()
    if not isinstance(items, list):
        errors.add("document", f"must be a list of {{criterion, points, tags}}, not {type_name(items)}")
        errors.raise_if_any()
    raw_criteria: list[dict] = []
    taken: set[str] = set()
    for i, item in enumerate(items):
        path = join(prefix, i)
        if not isinstance(item, Mapping):
            errors.add(path, f"must be an object with criterion, points and tags, not {type_name(item)}")
            continue
        for name in item:
            if name not in ("criterion", "points", "tags"):
                errors.add(join(path, str(name)), "unknown field (expected criterion, points, tags)")
        text = clean_string(item.get("criterion"), path=join(path, "criterion"), errors=errors,
                            max_length=20_000, required=True)
        if "points" in item:
            points = clean_points(item["points"], path=join(path, "points"), errors=errors)
        else:
            points = None
            errors.add(join(path, "points"), "is required")
        tags = _healthbench_tags(item.get("tags"), path=join(path, "tags"), errors=errors)
        if text is None or points is None or tags is None:
            continue
        title, guidance = _title_and_guidance(text)
        raw_criteria.append({
            "key": unique_key(slug_from_text(title), taken), "title": title, "guidance": guidance,
            "kind": "principle", "importance": "pitfall" if points < 0 else "important",
            "points": canonical_points(points), "scale": "binary", "tags": tags,
        })
    errors.raise_if_any()
    criteria = criteria_clean(raw_criteria, path=prefix or "criteria", errors=errors)
    errors.raise_if_any()
    return ImportedRubric(form="healthbench", notes="", criteria=criteria)


def _healthbench_tags(value: Any, *, path: str, errors: Errors) -> list[str] | None:
    # Some HealthBench-style datasets (RubricHub) store tags as an object; keep its non-empty
    # entries as "name:value", the way HealthBench writes "axis:accuracy".
    if isinstance(value, Mapping):
        value = [f"{k}:{v}" for k, v in value.items() if v not in (None, "")]
    return clean_tags(value, path=path, errors=errors)


def _from_openrubrics(document: Any) -> ImportedRubric:
    errors = Errors()
    entries: list[tuple[str, str, Any]] = []  # (group, path, raw entry)
    if isinstance(document, Mapping) and "rubric" in document and not (
        "hard_rules" in document or "principles" in document
    ):
        if not isinstance(document["rubric"], str):
            errors.add("rubric", f"must be a string of rubric lines, not {type_name(document['rubric'])}")
            errors.raise_if_any()
        document = document["rubric"]
    if isinstance(document, str):
        for number, line in enumerate(document.splitlines(), start=1):
            if not line.strip():
                continue
            match = OPENRUBRICS_LINE.match(line)
            if not match:
                errors.add(f"line {number}", "does not end in [Hard Rule] or [Principle]")
                continue
            group = "hard_rules" if match["label"].lower().startswith("hard") else "principles"
            entries.append((group, f"line {number}", match["text"]))
    elif isinstance(document, Mapping):
        for name in document:
            if name not in ("hard_rules", "principles"):
                errors.add(str(name), "unknown field (expected hard_rules, principles)")
        for group in ("hard_rules", "principles"):
            items = document.get(group, [])
            if not isinstance(items, list):
                errors.add(group, f"must be a list, not {type_name(items)}")
                continue
            entries.extend((group, join(group, i), item) for i, item in enumerate(items))
    else:
        errors.add("document", f"must be an object with hard_rules and principles, not {type_name(document)}")
    raw_criteria: list[dict] = []
    taken: set[str] = set()
    for group, path, entry in entries:
        defaults = OPENRUBRICS_DEFAULTS[group]
        points, tags = defaults["points"], []
        if isinstance(entry, Mapping):
            for name in entry:
                if name not in ("text", "criterion", "points", "tags"):
                    errors.add(join(path, str(name)), "unknown field (expected text, points, tags)")
            text = entry.get("text", entry.get("criterion"))
            text_path = join(path, "text" if "text" in entry else "criterion")
            if "points" in entry:
                points = clean_points(entry["points"], path=join(path, "points"), errors=errors)
            tags = clean_tags(entry.get("tags"), path=join(path, "tags"), errors=errors)
        else:
            text, text_path = entry, path
        text = clean_string(text, path=text_path, errors=errors, max_length=20_000, required=True)
        if text is None or points is None or tags is None:
            continue
        title, guidance = _title_and_guidance(text)
        raw_criteria.append({
            "key": unique_key(slug_from_text(title), taken), "title": title, "guidance": guidance,
            "kind": defaults["kind"], "importance": "pitfall" if points < 0 else defaults["importance"],
            "points": canonical_points(points), "scale": "binary", "tags": tags,
        })
    if not entries and not errors:
        errors.add("document", "has no hard rules and no principles")
    errors.raise_if_any()
    criteria = criteria_clean(raw_criteria, path="criteria", errors=errors)
    errors.raise_if_any()
    return ImportedRubric(form="openrubrics", notes="", criteria=criteria)


# --- Writing ---------------------------------------------------------------------------------

def version_document(*, rubric_set: Mapping, version: Mapping, content: Mapping, form: str = "rubricate") -> Any:
    """The export document of a version in `form`.

    `rubric_set`: name/slug/description; `version`: number/status/content_hash/published_at/based_on
    (provenance; None values are left out); `content`: {"notes", "criteria"} as rubric_version_content
    returns it. Deterministic: the same version exports byte-identical files.
    """
    criteria = content["criteria"]
    if form == "rubricate":
        info = {k: version[k] for k in VERSION_INFO_KEYS if version.get(k) not in (None, "")}
        return {
            "schema": SCHEMA,
            "rubric_set": {"name": rubric_set["name"], "slug": rubric_set["slug"],
                           "description": rubric_set.get("description", "")},
            "version": {**info, "notes": content["notes"],
                        "criteria": [{k: c[k] for k in ("key", "title", "guidance", "kind", "importance",
                                                        "points", "scale", "tags")} for c in criteria]},
        }
    if form == "healthbench":
        return [{"criterion": combined_text(c["title"], c["guidance"]), "points": c["points"],
                 "tags": list(c["tags"])} for c in criteria]
    if form == "openrubrics":
        out: dict[str, list] = {"hard_rules": [], "principles": []}
        for c in criteria:
            group = "hard_rules" if c["kind"] == Criterion.Kind.HARD_RULE else "principles"
            default = OPENRUBRICS_DEFAULTS[group]["points"]
            text = combined_text(c["title"], c["guidance"])
            # Plain strings where nothing would be lost; objects where points or tags differ.
            out[group].append(text if c["points"] == default and not c["tags"]
                              else {"text": text, "points": c["points"], "tags": list(c["tags"])})
        return out
    raise ApplicationError(f'Unknown export form "{form}".', fields={"form": f"must be one of {', '.join(FORMS)}"})


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str):
    # Multi-line text (guidance in markdown) as a literal block; PyYAML falls back to quoting
    # where a block could not represent the string exactly. str() turns TextChoices into text.
    value = str(value)
    style = "|" if "\n" in value else None
    if any(ch in value for ch in "\x85\u2028\u2029"):
        # YAML-only line breaks would be folded by plain, quoted or block styles: escape them.
        style = '"'

    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_multi_representer(str, _represent_str)


def document_dump(document: Any, *, syntax: str) -> str:
    if syntax == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if syntax == "yaml":
        return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    raise ApplicationError(f'Unknown syntax "{syntax}".', fields={"syntax": "must be json or yaml"})
