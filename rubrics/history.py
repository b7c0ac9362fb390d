"""Readable history lines for RubricEvents (set page, conflict messages, API).

An event's `detail` is written by the services; this turns it into one sentence such as
"changed `accuracy`: points 3 → 5, guidance".
"""

from __future__ import annotations

from .models import RubricEvent

Action = RubricEvent.Action
SHORT_FIELDS = ("key", "title", "kind", "importance", "points", "scale", "tags")


def _value(value) -> str:
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def field_change_text(changes: dict) -> str:
    """{"points": [3, 5], "guidance": [..]} → "points 3 → 5, guidance"."""
    parts = []
    for name, pair in changes.items():
        if name in SHORT_FIELDS and isinstance(pair, list) and len(pair) == 2:
            parts.append(f"{name} {_value(pair[0])} → {_value(pair[1])}")
        else:
            parts.append(name)
    return ", ".join(parts)


def event_summary(event: RubricEvent) -> str:
    d = event.detail or {}
    number = d.get("number") or (event.version.number if event.version_id and event.version else None)
    v = f"v{number}" if number else "a version"
    action = event.action
    if action == Action.SET_CREATED:
        return "created the set"
    if action == Action.SET_EDITED:
        return "edited the set: " + field_change_text(d.get("changes", {})) if d.get("changes") else "edited the set"
    if action == Action.DRAFT_CREATED:
        return f"created draft {v}" + (f" from v{d['from']}" if d.get("from") else "")
    if action == Action.PUBLISHED:
        return f"published {v}" + (f" (content hash {d['content_hash'][:12]}…)" if d.get("content_hash") else "")
    if action == Action.ARCHIVED:
        return f"archived {v}"
    if action == Action.UNARCHIVED:
        return f"unarchived {v}"
    if action == Action.DISCARDED:
        return f"discarded draft {v}"
    if action == Action.IMPORTED:
        form = {"rubricate": "a Rubricate document", "healthbench": "a HealthBench rubric list",
                "openrubrics": "an OpenRubrics rubric"}.get(d.get("form", ""), "a document")
        count = d.get("criteria")
        return f"imported {v} from {form}" + (f" ({count} criteria)" if count is not None else "")
    if action == Action.EDITED:
        return f"{_edit_summary(d)} in {v}"
    return event.get_action_display()


def _edit_summary(d: dict) -> str:
    op, key = d.get("op", ""), d.get("key", "")
    if op == "criterion_added":
        return f"added criterion `{key}`"
    if op == "criterion_updated":
        return f"changed `{key}`: {field_change_text(d.get('changes', {}))}"
    if op == "criterion_deleted":
        return f"deleted criterion `{key}`"
    if op == "criterion_duplicated":
        return f"duplicated `{d.get('source_key', '')}` as `{key}`"
    if op == "criteria_reordered":
        moved = d.get("moved", [])
        if len(moved) == 1:
            m = moved[0]
            return f"moved `{m['key']}` from position {m['from'] + 1} to {m['to'] + 1}"
        return f"reordered {len(moved)} criteria" if moved else "reordered the criteria"
    if op == "notes_updated":
        return "edited the version notes"
    if op == "content_replaced":
        parts = [f"added `{k}`" for k in d.get("added", [])] + [f"removed `{k}`" for k in d.get("removed", [])]
        parts += [f"changed `{k}`: {text}" for k, text in (d.get("changed") or {}).items() if text]
        parts += [f"moved `{k}`" for k in d.get("moved", [])]
        if d.get("notes_changed"):
            parts.append("edited the notes")
        if len(parts) > 6:
            parts = [*parts[:6], f"and {len(parts) - 6} more"]
        return "replaced the content: " + "; ".join(parts) if parts else "replaced the content"
    return "edited"


def event_as_dict(event: RubricEvent) -> dict:
    return {
        "id": event.id,
        "action": event.action,
        "actor": event.actor.get_username() if event.actor_id and event.actor else None,
        "version": (event.detail or {}).get("number") or (event.version.number if event.version else None),
        "summary": event_summary(event),
        "detail": event.detail,
        "created_at": event.created_at.isoformat(),
    }
