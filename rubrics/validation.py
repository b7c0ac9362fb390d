"""Validation of rubric content, shared by the editor, the API and every import form.

Input arrives loosely typed (parsed JSON/YAML, form posts). Every check collects an error under
the path of the bad field (`version.criteria[3].points: must be a number`), so the user sees all
problems at once and knows where each one is. Nothing here touches the database.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from config.errors import ApplicationError

from .models import Criterion

KEY_MAX = 100
TITLE_MAX = 300
GUIDANCE_MAX = 20_000
NOTES_MAX = 20_000
TAG_MAX = 100
TAGS_MAX = 50
CRITERIA_MAX = 500
POINTS_MIN = -100
POINTS_MAX = 100
SET_NAME_MAX = 200
SET_SLUG_MAX = 100
SET_DESCRIPTION_MAX = 20_000

KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# URL segments under /rubrics/ and /api/v1/rubric-sets/ that are not sets.
RESERVED_SLUGS = {"new", "import", "export", "compare"}

KINDS = tuple(Criterion.Kind.values)
IMPORTANCES = tuple(Criterion.Importance.values)
SCALES = tuple(Criterion.Scale.values)
CRITERION_KEYS = ("key", "title", "guidance", "kind", "importance", "points", "scale", "tags")


class Errors(dict):
    """path → message; keeps the first message for a path."""

    def add(self, path: str, message: str) -> None:
        self.setdefault(path or "document", message)

    def raise_if_any(self, message: str | None = None) -> None:
        if not self:
            return
        first_path, first_message = next(iter(self.items()))
        text = message or f"{first_path}: {first_message}"
        if message is None and len(self) > 1:
            text += f" (and {len(self) - 1} more)"
        raise ApplicationError(text, fields=dict(self), code="invalid")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def normalise_text(value: str) -> str:
    """Newlines as \\n (browsers post \\r\\n), NFC, no trailing whitespace at the end."""
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).rstrip()


def clean_string(value: Any, *, path: str, errors: Errors, max_length: int, required: bool = False,
                 single_line: bool = False) -> str | None:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        errors.add(path, f"must be a string, not {type_name(value)}")
        return None
    text = normalise_text(value)
    if single_line:
        text = text.strip()
        if "\n" in text:
            errors.add(path, "must be a single line")
            return None
    if required and not text.strip():
        errors.add(path, "is required")
        return None
    if len(text) > max_length:
        errors.add(path, f"is {len(text)} characters long; at most {max_length} are allowed")
        return None
    if "\x00" in text:
        errors.add(path, "must not contain NUL characters")
        return None
    return text


def clean_points(value: Any, *, path: str, errors: Errors) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.add(path, "must be a number")
        return None
    if not math.isfinite(value):
        errors.add(path, "must be a finite number")
        return None
    if not POINTS_MIN <= value <= POINTS_MAX:
        errors.add(path, f"must be between {POINTS_MIN} and {POINTS_MAX}")
        return None
    if value == 0:
        errors.add(path, "must not be 0: use positive points for wanted behaviour, negative for a pitfall")
        return None
    return float(value)


def canonical_points(value: float) -> int | float:
    """3.0 and 3 hash and export alike; fractional points keep their value."""
    value = float(value)
    return int(value) if value.is_integer() else value


def clean_tags(value: Any, *, path: str, errors: Errors) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        errors.add(path, f"must be a list of strings, not {type_name(value)}")
        return None
    if len(value) > TAGS_MAX:
        errors.add(path, f"has {len(value)} tags; at most {TAGS_MAX} are allowed")
        return None
    tags: list[str] = []
    ok = True
    for i, tag in enumerate(value):
        tag_path = join(path, i)
        if not isinstance(tag, str):
            errors.add(tag_path, f"must be a string, not {type_name(tag)}")
            ok = False
            continue
        tag = normalise_text(tag).strip()
        if not tag:
            errors.add(tag_path, "must not be empty")
            ok = False
        elif "\n" in tag or len(tag) > TAG_MAX:
            errors.add(tag_path, f"must be one line of at most {TAG_MAX} characters")
            ok = False
        elif tag in tags:
            errors.add(tag_path, f'duplicate tag "{tag}"')
            ok = False
        else:
            tags.append(tag)
    return tags if ok else None


def clean_choice(value: Any, *, path: str, errors: Errors, choices: tuple[str, ...]) -> str | None:
    if not isinstance(value, str) or value not in choices:
        shown = f'"{value}"' if isinstance(value, str) else type_name(value)
        errors.add(path, f"must be one of {', '.join(choices)} (got {shown})")
        return None
    return value


def clean_key(value: Any, *, path: str, errors: Errors) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "is required" if value in (None, "") else f"must be a string, not {type_name(value)}")
        return None
    value = value.strip()
    if len(value) > KEY_MAX:
        errors.add(path, f"must be at most {KEY_MAX} characters")
        return None
    if not KEY_RE.match(value):
        errors.add(path, "may contain only letters, digits, underscores and hyphens, starting with a letter or digit")
        return None
    return value


def criterion_clean(raw: Any, *, path: str = "", errors: Errors) -> dict | None:
    """One criterion → its canonical dict (the CRITERION_KEYS), or None with errors recorded.

    Missing optional fields take defaults: kind principle, points 1, scale binary, no tags, and
    importance "pitfall" for negative points, else "important".
    """
    if not isinstance(raw, Mapping):
        errors.add(path, f"must be an object, not {type_name(raw)}")
        return None
    before = len(errors)
    for name in raw:
        if name not in CRITERION_KEYS:
            errors.add(join(path, str(name)), f"unknown field (expected {', '.join(CRITERION_KEYS)})")
    key = clean_key(raw.get("key"), path=join(path, "key"), errors=errors)
    title = clean_string(raw.get("title"), path=join(path, "title"), errors=errors, max_length=TITLE_MAX,
                         required=True, single_line=True)
    guidance = clean_string(raw.get("guidance"), path=join(path, "guidance"), errors=errors,
                            max_length=GUIDANCE_MAX)
    kind = clean_choice(raw.get("kind", Criterion.Kind.PRINCIPLE), path=join(path, "kind"), errors=errors,
                        choices=KINDS)
    points = clean_points(raw.get("points", 1), path=join(path, "points"), errors=errors)
    default_importance = Criterion.Importance.PITFALL if points is not None and points < 0 else "important"
    importance = clean_choice(raw.get("importance", default_importance), path=join(path, "importance"),
                              errors=errors, choices=IMPORTANCES)
    scale = clean_choice(raw.get("scale", Criterion.Scale.BINARY), path=join(path, "scale"), errors=errors,
                         choices=SCALES)
    tags = clean_tags(raw.get("tags"), path=join(path, "tags"), errors=errors)
    # Pitfalls are the undesirable behaviours and they subtract (HealthBench, Rubrics as Rewards).
    if points is not None and importance is not None:
        if importance == Criterion.Importance.PITFALL and points > 0:
            errors.add(join(path, "points"), "a pitfall takes negative points (it subtracts when met)")
        elif importance != Criterion.Importance.PITFALL and points < 0:
            errors.add(join(path, "importance"), 'negative points mark a pitfall: set importance to "pitfall"')
    if len(errors) > before:
        return None
    return {"key": key, "title": title, "guidance": guidance, "kind": kind, "importance": importance,
            "points": canonical_points(points), "scale": scale, "tags": tags}


def criteria_clean(raw: Any, *, path: str, errors: Errors) -> list[dict]:
    """A list of criteria: each one cleaned, keys unique, at most CRITERIA_MAX."""
    if not isinstance(raw, (list, tuple)):
        errors.add(path, f"must be a list of criteria, not {type_name(raw)}")
        return []
    if len(raw) > CRITERIA_MAX:
        errors.add(path, f"has {len(raw)} criteria; at most {CRITERIA_MAX} are allowed")
        return []
    cleaned: list[dict] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        criterion = criterion_clean(item, path=join(path, i), errors=errors)
        if criterion is None:
            continue
        if criterion["key"] in seen:
            errors.add(join(join(path, i), "key"),
                       f'duplicate key "{criterion["key"]}" (also {join(path, seen[criterion["key"]])})')
            continue
        seen[criterion["key"]] = i
        cleaned.append(criterion)
    return cleaned


def content_clean(*, notes: Any, criteria: Any, path: str = "") -> dict:
    """Notes and criteria of a version → canonical content; raises ApplicationError naming paths."""
    errors = Errors()
    clean_notes = clean_string(notes, path=join(path, "notes"), errors=errors, max_length=NOTES_MAX)
    clean_criteria = criteria_clean(criteria, path=join(path, "criteria"), errors=errors)
    errors.raise_if_any()
    return {"notes": clean_notes, "criteria": clean_criteria}


def publishable_errors(criteria: list[dict] | list[Criterion]) -> dict[str, str]:
    """Rules that hold for a published version but not for every draft."""
    points = [c["points"] if isinstance(c, Mapping) else c.points for c in criteria]
    if not points:
        return {"criteria": "a rubric needs at least one criterion before it is published"}
    if not any(p > 0 for p in points):
        return {"criteria": "at least one criterion must have positive points before publishing"}
    return {}


def rubric_set_meta_clean(raw: Any, *, path: str = "rubric_set", errors: Errors,
                          require_slug: bool = True) -> dict | None:
    """{"name", "slug", "description"} of a set."""
    if not isinstance(raw, Mapping):
        errors.add(path, f"must be an object, not {type_name(raw)}")
        return None
    before = len(errors)
    for name in raw:
        if name not in ("name", "slug", "description"):
            errors.add(join(path, str(name)), "unknown field (expected name, slug, description)")
    name = clean_string(raw.get("name"), path=join(path, "name"), errors=errors, max_length=SET_NAME_MAX,
                        required=True, single_line=True)
    slug = raw.get("slug")
    if slug in (None, "") and not require_slug and name:
        slug = slug_from_text(name, separator="-", max_length=SET_SLUG_MAX)
    slug = clean_slug(slug, path=join(path, "slug"), errors=errors)
    description = clean_string(raw.get("description"), path=join(path, "description"), errors=errors,
                               max_length=SET_DESCRIPTION_MAX)
    if len(errors) > before:
        return None
    return {"name": name, "slug": slug, "description": description}


def clean_slug(value: Any, *, path: str, errors: Errors) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "is required" if value in (None, "") else f"must be a string, not {type_name(value)}")
        return None
    value = value.strip()
    if len(value) > SET_SLUG_MAX or not SLUG_RE.match(value):
        errors.add(path, f"must be lowercase letters, digits and hyphens (at most {SET_SLUG_MAX})")
        return None
    if value in RESERVED_SLUGS:
        errors.add(path, f'"{value}" is reserved; choose another slug')
        return None
    return value


def slug_from_text(text: str, *, separator: str = "_", max_length: int = 50) -> str:
    """"The response must cite sources." → "response_must_cite_sources" (ASCII, word-bounded)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    if len(words) > 1 and words[0] in {"the", "a", "an"}:
        words = words[1:]
    out = ""
    for word in words:
        candidate = f"{out}{separator}{word}" if out else word
        if len(candidate) > max_length:
            break
        out = candidate
    return out or (words[0][:max_length] if words else "criterion")


def unique_key(base: str, taken: set[str]) -> str:
    """base, or base_2, base_3 … whichever is free (and records it as taken)."""
    base = base[:KEY_MAX - 4] or "criterion"
    key, n = base, 2
    while key in taken:
        key = f"{base}_{n}"
        n += 1
    taken.add(key)
    return key
