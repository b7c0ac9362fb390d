"""Edits of a draft: criteria added, changed, deleted, duplicated, reordered; notes; the whole content.

Concurrency in the draft editor is optimistic and never silent:

- every edit of a draft bumps `RubricVersion.revision` and records an "edited" RubricEvent whose
  detail carries the new revision and what changed;
- editing or deleting a criterion carries the criterion's own `revision`; if someone changed (or
  deleted) that criterion since, the write is refused with a ConflictError that lists the other
  change, field by field, and the caller keeps its input;
- reordering carries the order the client saw; publishing and whole-content replacement (API)
  carry the version revision;
- all of them lock the version row (SELECT … FOR UPDATE), so two simultaneous saves are serialised:
  one wins, the other sees the new revision and gets the conflict.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError

from ..diff import _stable_keys, field_changes, rubric_content_diff
from ..history import field_change_text
from ..models import Criterion, RubricEvent, RubricVersion
from ..selectors import changes_since, criterion_as_dict, rubric_version_content
from ..validation import (
    CRITERION_KEYS,
    TITLE_MAX,
    Errors,
    canonical_points,
    clean_string,
    content_clean,
    criterion_clean,
    normalise_text,
    slug_from_text,
    unique_key,
)
from .versions import rubric_event_record, rubric_version_lock

Status = RubricVersion.Status
Action = RubricEvent.Action


@dataclass
class DraftEdit:
    """The result of one edit of a draft.

    `others`: changes by other users after the revision the client had seen (the client's page is
    stale and should say so); empty when the client is up to date.
    """

    version: RubricVersion
    criterion: Criterion | None = None
    event: RubricEvent | None = None
    others: list[dict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.event is not None


def _open_draft(version: RubricVersion, *, actor: AbstractBaseUser | None) -> RubricVersion:
    """Lock the version; refuse if it is no longer a draft (published or archived meanwhile)."""
    version = rubric_version_lock(version)
    if version.status != Status.DRAFT:
        who = version.published_by.get_username() if version.published_by_id else "someone"
        raise ConflictError(
            f"v{version.number} was published by {who} at {timezone.localtime(version.published_at):%H:%M:%S} "
            "and can no longer change. Your change was not saved; create a new draft from it to continue.",
            extra={"status": version.status},
        )
    return version


def _bump(version: RubricVersion, *, actor, client_revision: int | None, detail: dict) -> tuple[RubricEvent, list]:
    """Bump the version revision, record the edit, and report others' changes the client has not seen."""
    version.revision = F("revision") + 1
    version.save(update_fields=["revision", "updated_at"])
    version.refresh_from_db(fields=["revision", "updated_at"])
    event = rubric_event_record(rubric_set=version.rubric_set, version=version, actor=actor, action=Action.EDITED,
                                detail={"number": version.number, "revision": version.revision, **detail})
    others = []
    if client_revision is not None and version.revision != client_revision + 1:
        others = changes_since(version=version, revision=client_revision, exclude_actor=actor)
    return event, others


def _criterion_in(version: RubricVersion, criterion_id: int) -> Criterion | None:
    return version.criteria.select_for_update().filter(pk=criterion_id).first()


def _criterion_conflict(version: RubricVersion, *, criterion_id: int, expected: int, current: Criterion | None,
                        submitted: dict | None) -> ConflictError:
    others = changes_since(version=version, revision=0, criterion_id=criterion_id, criterion_revision=expected)
    what = "; ".join(o["text"] for o in others) or "someone else changed it"
    if current is None:
        message = f"This criterion was deleted after you opened it ({what}). Your edit was not saved."
    else:
        message = f"This criterion changed after you opened it: {what}. Your edit was not saved."
    theirs = criterion_as_dict(current) if current is not None else None
    fields = []
    if theirs is not None and submitted is not None:
        for name in CRITERION_KEYS:
            mine = submitted.get(name)
            if mine is not None and mine != theirs[name]:
                fields.append({"field": name, "theirs": theirs[name], "yours": mine})
    return ConflictError(message, extra={
        "criterion_id": criterion_id, "deleted": current is None, "current_revision": current.revision if current
        else None, "theirs": theirs, "differences": fields, "changes": others,
    })


def _clean_for_draft(version: RubricVersion, data: Mapping, *, exclude_id: int | None = None,
                     derive_key: bool = False) -> dict:
    """Validate one criterion posted to a draft (paths are field names) and check its key is free."""
    data = dict(data)
    taken = set(version.criteria.exclude(pk=exclude_id).values_list("key", flat=True))
    if derive_key and not str(data.get("key") or "").strip() and isinstance(data.get("title"), str) \
            and data["title"].strip():
        data["key"] = unique_key(slug_from_text(data["title"]), set(taken))
    errors = Errors()
    clean = criterion_clean(data, errors=errors)
    if clean is not None and clean["key"] in taken:
        other = version.criteria.filter(key=clean["key"]).exclude(pk=exclude_id).first()
        errors.add("key", f'"{clean["key"]}" is already used by “{other.title if other else "another criterion"}”')
    errors.raise_if_any()
    return clean


def _repack(version: RubricVersion, ordered: list[Criterion]) -> None:
    for i, c in enumerate(ordered):
        c.position = i
    Criterion.objects.bulk_update(ordered, ["position"])


@transaction.atomic
def criterion_add(
    *, version: RubricVersion, data: Mapping, actor: AbstractBaseUser | None, client_revision: int | None = None,
) -> DraftEdit:
    """Append a criterion to a draft. A blank key is derived from the title."""
    version = _open_draft(version, actor=actor)
    clean = _clean_for_draft(version, data, derive_key=True)
    position = version.criteria.count()
    criterion = Criterion.objects.create(version=version, position=position, **clean)
    event, others = _bump(version, actor=actor, client_revision=client_revision, detail={
        "op": "criterion_added", "criterion_id": criterion.id, "criterion_revision": criterion.revision,
        "key": criterion.key, "title": criterion.title,
    })
    return DraftEdit(version=version, criterion=criterion, event=event, others=others)


@transaction.atomic
def criterion_update(
    *, version: RubricVersion, criterion_id: int, data: Mapping, expected_criterion_revision: int,
    actor: AbstractBaseUser | None, client_revision: int | None = None,
) -> DraftEdit:
    """Save a criterion of a draft if nobody changed it since `expected_criterion_revision`."""
    version = _open_draft(version, actor=actor)
    criterion = _criterion_in(version, criterion_id)
    if criterion is None or criterion.revision != expected_criterion_revision:
        raise _criterion_conflict(version, criterion_id=criterion_id, expected=expected_criterion_revision,
                                  current=criterion, submitted=_loosely(data))
    clean = _clean_for_draft(version, data, exclude_id=criterion.id)
    before = criterion_as_dict(criterion)
    changes = {c.field: ([c.old, c.new] if c.field not in ("guidance",) else True)
               for c in field_changes(before, clean, ("key", *CRITERION_KEYS[1:]))}
    if not changes:
        return DraftEdit(version=version, criterion=criterion)
    for name in CRITERION_KEYS:
        setattr(criterion, name, clean[name])
    criterion.revision += 1
    criterion.save()
    event, others = _bump(version, actor=actor, client_revision=client_revision, detail={
        "op": "criterion_updated", "criterion_id": criterion.id, "criterion_revision": criterion.revision,
        "key": criterion.key, "changes": changes,
        # Full before/after of short fields, so a conflict can show exactly what the other user did.
        "before": {k: before[k] for k in changes if k != "guidance"},
    })
    return DraftEdit(version=version, criterion=criterion, event=event, others=others)


def _loosely(data: Mapping) -> dict:
    """Submitted values, typed where they parse, for showing "yours" next to "theirs" in a conflict."""
    out = {}
    for name in CRITERION_KEYS:
        if name in data:
            value = data[name]
            if name == "points":
                with contextlib.suppress(TypeError, ValueError):
                    value = canonical_points(float(value))
            out[name] = value
    return out


@transaction.atomic
def criterion_delete(
    *, version: RubricVersion, criterion_id: int, expected_criterion_revision: int | None,
    actor: AbstractBaseUser | None, client_revision: int | None = None,
) -> DraftEdit:
    """Delete a criterion of a draft, unless someone changed it after you saw it."""
    version = _open_draft(version, actor=actor)
    criterion = _criterion_in(version, criterion_id)
    if criterion is None:
        # Already gone: the outcome the user wanted; report who did it.
        return DraftEdit(version=version, others=changes_since(
            version=version, revision=0, criterion_id=criterion_id, criterion_revision=0))
    if expected_criterion_revision is not None and criterion.revision != expected_criterion_revision:
        raise _criterion_conflict(version, criterion_id=criterion_id, expected=expected_criterion_revision,
                                  current=criterion, submitted=None)
    key, title, revision = criterion.key, criterion.title, criterion.revision
    criterion.delete()
    _repack(version, list(version.criteria.order_by("position", "id")))
    event, others = _bump(version, actor=actor, client_revision=client_revision, detail={
        "op": "criterion_deleted", "criterion_id": criterion_id, "criterion_revision": revision + 1,
        "key": key, "title": title,
    })
    return DraftEdit(version=version, event=event, others=others)


@transaction.atomic
def criterion_duplicate(
    *, version: RubricVersion, criterion_id: int, actor: AbstractBaseUser | None, client_revision: int | None = None,
) -> DraftEdit:
    """Copy a criterion right below itself, with a fresh key (`<key>_copy`)."""
    version = _open_draft(version, actor=actor)
    source = _criterion_in(version, criterion_id)
    if source is None:
        raise NotFoundError("This criterion no longer exists (someone deleted it).")
    ordered = list(version.criteria.order_by("position", "id"))
    taken = {c.key for c in ordered}
    title = source.title if len(source.title) + 7 > TITLE_MAX else f"{source.title} (copy)"
    copy = Criterion(version=version, **{**criterion_as_dict(source), "title": title,
                                         "key": unique_key(f"{source.key}_copy", taken)})
    index = next(i for i, c in enumerate(ordered) if c.id == source.id) + 1
    # Make room below the source first; positions are not unique, but dense order reads simply.
    Criterion.objects.filter(version=version, position__gte=index).update(position=F("position") + 1)
    copy.position = index
    copy.save()
    event, others = _bump(version, actor=actor, client_revision=client_revision, detail={
        "op": "criterion_duplicated", "criterion_id": copy.id, "criterion_revision": copy.revision,
        "key": copy.key, "source_key": source.key,
    })
    return DraftEdit(version=version, criterion=copy, event=event, others=others)


@transaction.atomic
def criteria_reorder(
    *, version: RubricVersion, order: list[int], base_order: list[int] | None, actor: AbstractBaseUser | None,
    client_revision: int | None = None,
) -> DraftEdit:
    """Put the draft's criteria in `order` (criterion ids), if the order is still `base_order`.

    `base_order` is the order the client saw before the move; if someone else reordered, added or
    deleted meanwhile the move is refused with a ConflictError rather than undoing their change.
    """
    version = _open_draft(version, actor=actor)
    current = list(version.criteria.select_for_update().order_by("position", "id"))
    current_ids = [c.id for c in current]
    if base_order is not None and list(base_order) != current_ids:
        others = changes_since(version=version, revision=client_revision or 0, exclude_actor=actor) \
            if client_revision is not None else []
        what = "; ".join(o["text"] for o in others) or "the criteria changed meanwhile"
        raise ConflictError(f"The criteria changed after you loaded them ({what}). Your move was not saved; "
                            "the list now shows the current order.", extra={"changes": others})
    if sorted(order) != sorted(current_ids) or len(set(order)) != len(order):
        raise ApplicationError("The new order must list every criterion of the draft exactly once.",
                               fields={"order": "must be a permutation of the criterion ids"})
    if list(order) == current_ids:
        return DraftEdit(version=version)
    by_id = {c.id: c for c in current}
    old_keys = [c.key for c in current]
    new_keys = [by_id[i].key for i in order]
    stable = _stable_keys(old_keys, new_keys)
    moved = [{"key": k, "from": old_keys.index(k), "to": new_keys.index(k)} for k in new_keys if k not in stable]
    _repack(version, [by_id[i] for i in order])
    event, others = _bump(version, actor=actor, client_revision=client_revision,
                          detail={"op": "criteria_reordered", "moved": moved})
    return DraftEdit(version=version, event=event, others=others)


@transaction.atomic
def rubric_draft_notes_update(
    *, version: RubricVersion, notes: Any, base_notes: str | None, actor: AbstractBaseUser | None,
    client_revision: int | None = None,
) -> DraftEdit:
    """Save the draft's notes, unless someone else changed them after the client loaded `base_notes`."""
    version = _open_draft(version, actor=actor)
    errors = Errors()
    clean = clean_string(notes, path="notes", errors=errors, max_length=20_000)
    errors.raise_if_any()
    if base_notes is not None and normalise_text(base_notes) != version.notes:
        raise ConflictError(
            "Someone else changed the notes after you opened them. Your text was not saved; it is still in "
            "the box, and their text is shown below.", extra={"theirs": version.notes},
        )
    if clean == version.notes:
        return DraftEdit(version=version)
    version.notes = clean
    version.save(update_fields=["notes", "updated_at"])
    event, others = _bump(version, actor=actor, client_revision=client_revision, detail={"op": "notes_updated"})
    return DraftEdit(version=version, event=event, others=others)


@transaction.atomic
def rubric_draft_replace(
    *, version: RubricVersion, notes: Any, criteria: Any, expected_revision: int, actor: AbstractBaseUser | None,
) -> DraftEdit:
    """Replace a draft's whole content (the API's PUT), if its revision is still `expected_revision`.

    Criteria are matched by key: matching rows are updated in place (their ids and revisions carry
    on), others created or deleted.
    """
    version = _open_draft(version, actor=actor)
    if version.revision != expected_revision:
        others = changes_since(version=version, revision=expected_revision)
        raise ConflictError(
            f"The draft is at revision {version.revision}, not {expected_revision}: "
            + ("; ".join(o["text"] for o in others) or "it changed") + ". Nothing was saved; fetch it and retry.",
            extra={"current_revision": version.revision, "your_revision": expected_revision, "changes": others},
        )
    content = content_clean(notes=notes, criteria=criteria)
    before = rubric_version_content(version=version)
    diff = rubric_content_diff(before, content)
    if diff.identical:
        return DraftEdit(version=version)
    existing = {c.key: c for c in version.criteria.select_for_update()}
    keep = {c["key"] for c in content["criteria"]}
    version.criteria.exclude(key__in=keep).delete()
    rows = []
    for i, data in enumerate(content["criteria"]):
        row = existing.get(data["key"])
        if row is None:
            row = Criterion(version=version, **data)
        elif criterion_as_dict(row) != data:
            for name in CRITERION_KEYS:
                setattr(row, name, data[name])
            row.revision += 1
        row.position = i
        rows.append(row)
    # Positions may collide transiently while rows move; nothing is unique on position.
    for row in rows:
        row.save()
    version.notes = content["notes"]
    version.save(update_fields=["notes", "updated_at"])
    event, _ = _bump(version, actor=actor, client_revision=None, detail={
        "op": "content_replaced", "summary": diff.summary(),
        "added": [c["key"] for c in diff.added], "removed": [c["key"] for c in diff.removed],
        "changed": {c.key: field_change_text({f.field: [f.old, f.new] for f in c.fields})
                    for c in diff.changed if c.fields},
        "moved": [c.key for c in diff.changed if c.moved], "notes_changed": diff.notes is not None,
    })
    return DraftEdit(version=version, event=event)
