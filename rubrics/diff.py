"""Compare two versions of a rubric: criteria lined up by key, changes field by field.

Works on content dicts (`rubric_version_content`), so it compares any two versions, a draft with
its base, or a document about to be imported. "Moved" means the criterion's order relative to the
other common criteria changed (criteria outside the longest common subsequence of keys), not that
its index shifted because something was added above it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

COMPARED_FIELDS = ("title", "guidance", "kind", "importance", "points", "scale", "tags")
TEXT_FIELDS = ("guidance",)


@dataclass
class FieldChange:
    field: str
    old: Any
    new: Any
    lines: list[tuple[str, str]] | None = None  # (" " | "-" | "+", line) for long text

    def as_dict(self) -> dict:
        data = {"field": self.field, "old": self.old, "new": self.new}
        if self.lines is not None:
            data["lines"] = [{"op": op, "text": text} for op, text in self.lines]
        return data


@dataclass
class CriterionChange:
    key: str
    old: dict
    new: dict
    old_position: int
    new_position: int
    fields: list[FieldChange] = field(default_factory=list)
    moved: bool = False

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.new["title"], "old_position": self.old_position,
                "new_position": self.new_position, "moved": self.moved,
                "fields": [f.as_dict() for f in self.fields]}


@dataclass
class RubricDiff:
    added: list[dict] = field(default_factory=list)  # criteria dicts with "position"
    removed: list[dict] = field(default_factory=list)
    changed: list[CriterionChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: FieldChange | None = None

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.notes)

    @property
    def moved_count(self) -> int:
        return sum(c.moved for c in self.changed)

    @property
    def edited_count(self) -> int:
        return sum(bool(c.fields) for c in self.changed)

    def summary(self) -> str:
        if self.identical:
            return "no changes"
        parts = []
        for count, word in ((len(self.added), "added"), (len(self.removed), "removed"),
                            (self.edited_count, "changed"), (self.moved_count, "moved")):
            if count:
                parts.append(f"{count} {word}")
        if self.notes:
            parts.append("notes changed")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "identical": self.identical,
            "summary": self.summary(),
            "added": self.added,
            "removed": self.removed,
            "changed": [c.as_dict() for c in self.changed],
            "unchanged": self.unchanged,
            "notes": self.notes.as_dict() if self.notes else None,
        }


def line_diff(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(), new.splitlines()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend((" ", line) for line in a[i1:i2])
        else:
            out.extend(("-", line) for line in a[i1:i2])
            out.extend(("+", line) for line in b[j1:j2])
    return out


def field_changes(old: dict, new: dict, fields: tuple[str, ...] = COMPARED_FIELDS) -> list[FieldChange]:
    changes = []
    for name in fields:
        o, n = old.get(name), new.get(name)
        if name == "points" and o is not None and n is not None and float(o) == float(n):
            continue
        if o != n:
            lines = line_diff(o or "", n or "") if name in TEXT_FIELDS else None
            changes.append(FieldChange(field=name, old=o, new=n, lines=lines))
    return changes


def _stable_keys(old_keys: list[str], new_keys: list[str]) -> set[str]:
    """Keys on the longest common subsequence: those that kept their relative order."""
    matcher = difflib.SequenceMatcher(a=old_keys, b=new_keys, autojunk=False)
    stable: set[str] = set()
    for block in matcher.get_matching_blocks():
        stable.update(old_keys[block.a:block.a + block.size])
    return stable


def rubric_content_diff(old: dict, new: dict) -> RubricDiff:
    """Diff of two contents ({"notes", "criteria": [...]})."""
    old_by_key = {c["key"]: (i, c) for i, c in enumerate(old["criteria"])}
    new_by_key = {c["key"]: (i, c) for i, c in enumerate(new["criteria"])}
    common_old = [c["key"] for c in old["criteria"] if c["key"] in new_by_key]
    common_new = [c["key"] for c in new["criteria"] if c["key"] in old_by_key]
    stable = _stable_keys(common_old, common_new)
    diff = RubricDiff()
    for i, c in enumerate(new["criteria"]):
        if c["key"] not in old_by_key:
            diff.added.append({**c, "position": i})
            continue
        old_position, old_c = old_by_key[c["key"]]
        change = CriterionChange(key=c["key"], old=old_c, new=c, old_position=old_position, new_position=i,
                                 fields=field_changes(old_c, c), moved=c["key"] not in stable)
        if change.fields or change.moved:
            diff.changed.append(change)
        else:
            diff.unchanged.append(c["key"])
    diff.removed = [{**c, "position": i} for i, c in enumerate(old["criteria"]) if c["key"] not in new_by_key]
    if (old.get("notes") or "") != (new.get("notes") or ""):
        diff.notes = FieldChange(field="notes", old=old.get("notes") or "", new=new.get("notes") or "",
                                 lines=line_diff(old.get("notes") or "", new.get("notes") or ""))
    return diff
