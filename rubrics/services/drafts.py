"""Writes for rubric sets and versions. Published versions are frozen (also by the database).

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
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError

from .. import formats
from ..diff import _stable_keys, field_changes, rubric_content_diff
from ..history import event_as_dict, event_summary, field_change_text
from ..models import Criterion, RubricEvent, RubricSet, RubricVersion
from ..validation import (
    TITLE_MAX,
    Errors,
    canonical_points,
    clean_string,
    content_clean,
    criterion_clean,
    normalise_text,
    publishable_errors,
    rubric_set_meta_clean,
    slug_from_text,
    unique_key,
)

CRITERION_FIELDS = ("key", "title", "guidance", "kind", "importance", "points", "scale", "tags")
Status = RubricVersion.Status
Action = RubricEvent.Action


def _user(actor: AbstractBaseUser | None):
    return actor if actor is not None and actor.is_authenticated else None


def _canonical_points(value: float) -> int | float:
    return canonical_points(value)


def criterion_as_dict(criterion: Criterion) -> dict:
    return {
        **{f: getattr(criterion, f) for f in CRITERION_FIELDS},
        "points": canonical_points(criterion.points),
        "tags": list(criterion.tags or []),
    }


def _ordered_criteria(version: RubricVersion) -> list[Criterion]:
    # Sorted in Python so a prefetched `criteria` costs no query.
    return sorted(version.criteria.all(), key=lambda c: (c.position, c.id))


def rubric_version_content(*, version: RubricVersion) -> dict:
    """The content that defines a version: its notes and its criteria in order."""
    return {"notes": version.notes, "criteria": [criterion_as_dict(c) for c in _ordered_criteria(version)]}


def rubric_content_hash(content: dict) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace, UTF-8)."""
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def rubric_event_record(
    *, rubric_set: RubricSet, action: str, actor: AbstractBaseUser | None,
    version: RubricVersion | None = None, detail: dict | None = None,
) -> RubricEvent:
    """Append one line to the set's history."""
    return RubricEvent.objects.create(
        rubric_set=rubric_set, version=version, actor=_user(actor), action=action, detail=detail or {},
    )


# --- Sets ------------------------------------------------------------------------------------

@transaction.atomic
def rubric_set_create(
    *, name: str, slug: str = "", description: str = "", actor: AbstractBaseUser | None,
    notes: str = "", criteria: list | None = None,
) -> RubricVersion:
    """Create a set and its first draft (v1), optionally with content; returns the draft."""
    errors = Errors()
    meta = rubric_set_meta_clean({"name": name, "slug": slug, "description": description}, path="",
                                 errors=errors, require_slug=False)
    content = {"notes": "", "criteria": []}
    if not errors:
        try:
            content = content_clean(notes=notes, criteria=criteria or [])
        except ApplicationError as exc:
            errors.update(exc.fields)
    if meta and RubricSet.objects.filter(slug=meta["slug"]).exists():
        errors.add("slug", f'"{meta["slug"]}" is already used by another rubric set')
    errors.raise_if_any()
    rubric_set = RubricSet.objects.create(**meta, created_by=_user(actor))
    rubric_event_record(rubric_set=rubric_set, action=Action.SET_CREATED, actor=actor,
                        detail={"name": rubric_set.name, "slug": rubric_set.slug})
    version = RubricVersion.objects.create(rubric_set=rubric_set, number=1, notes=content["notes"],
                                           created_by=_user(actor))
    _criteria_create(version, content["criteria"])
    rubric_event_record(rubric_set=rubric_set, version=version, actor=actor, action=Action.DRAFT_CREATED,
                        detail={"number": 1})
    return version


@transaction.atomic
def rubric_set_update(
    *, rubric_set: RubricSet, name: str, description: str, actor: AbstractBaseUser | None
) -> RubricSet:
    """Rename a set or edit its description (not versioned; the slug never changes)."""
    errors = Errors()
    meta = rubric_set_meta_clean({"name": name, "slug": rubric_set.slug, "description": description}, path="",
                                 errors=errors)
    errors.raise_if_any()
    rubric_set = RubricSet.objects.select_for_update().get(pk=rubric_set.pk)
    changes = {}
    if meta["name"] != rubric_set.name:
        changes["name"] = [rubric_set.name, meta["name"]]
    if meta["description"] != rubric_set.description:
        changes["description"] = True
    if changes:
        rubric_set.name, rubric_set.description = meta["name"], meta["description"]
        rubric_set.save(update_fields=["name", "description", "updated_at"])
        rubric_event_record(rubric_set=rubric_set, action=Action.SET_EDITED, actor=actor, detail={"changes": changes})
    return rubric_set


# --- Versions --------------------------------------------------------------------------------

def _next_number(rubric_set: RubricSet) -> int:
    last = rubric_set.versions.order_by("-number").values_list("number", flat=True).first()
    return (last or 0) + 1


def _existing_draft_conflict(rubric_set: RubricSet) -> None:
    draft = rubric_set.versions.filter(status=Status.DRAFT).first()
    if draft is not None:
        raise ConflictError(
            f"v{draft.number} of {rubric_set.name} is already a draft: edit it, or publish or discard it first.",
            extra={"draft": draft.number},
        )


def _criteria_create(version: RubricVersion, criteria: list[dict]) -> list[Criterion]:
    return Criterion.objects.bulk_create(
        Criterion(version=version, position=i, **{f: c[f] for f in CRITERION_FIELDS})
        for i, c in enumerate(criteria)
    )


@transaction.atomic
def rubric_draft_create(
    *, rubric_set: RubricSet, actor: AbstractBaseUser | None, from_version: RubricVersion | None = None
) -> RubricVersion:
    """A new draft: a copy of `from_version` ("edit" on a published version), or empty.

    A set has at most one draft at a time; the new draft's notes start empty (they say what
    changed in this version).
    """
    # Lock the set so two admins pressing "edit" at once get one draft, not an integrity error.
    rubric_set = RubricSet.objects.select_for_update().get(pk=rubric_set.pk)
    _existing_draft_conflict(rubric_set)
    if from_version is not None and from_version.rubric_set_id != rubric_set.id:
        raise ApplicationError("That version belongs to another rubric set.", fields={"from_version": "other set"})
    version = RubricVersion.objects.create(
        rubric_set=rubric_set, number=_next_number(rubric_set), based_on=from_version, created_by=_user(actor),
    )
    if from_version is not None:
        _criteria_create(version, rubric_version_content(version=from_version)["criteria"])
    rubric_event_record(rubric_set=rubric_set, version=version, actor=actor, action=Action.DRAFT_CREATED,
                        detail={"number": version.number, "from": from_version.number if from_version else None})
    return version


@transaction.atomic
def rubric_draft_discard(*, version: RubricVersion, actor: AbstractBaseUser | None) -> None:
    """Delete a draft and its criteria (published versions cannot be deleted)."""
    version = _lock(version)
    if version.status != Status.DRAFT:
        raise ConflictError(f"v{version.number} is {version.status}; only a draft can be discarded.")
    rubric_event_record(rubric_set=version.rubric_set, version=None, actor=actor, action=Action.DISCARDED,
                        detail={"number": version.number})
    version.criteria.all().delete()
    version.delete()


def _lock(version: RubricVersion) -> RubricVersion:
    try:
        return RubricVersion.objects.select_for_update(of=("self",)).select_related("rubric_set").get(pk=version.pk)
    except RubricVersion.DoesNotExist:
        raise NotFoundError("This version no longer exists (the draft was discarded).") from None


@transaction.atomic
def rubric_version_publish(
    *, version: RubricVersion, actor: AbstractBaseUser | None, expected_revision: int | None = None
) -> RubricVersion:
    """Freeze a draft: validate, record its content hash, and stamp who published it when.

    With `expected_revision`, refuse (ConflictError) when another user edited the draft after
    that revision: publish what you have seen.
    """
    version = _lock(version)
    if version.status != Status.DRAFT:
        raise ConflictError(f"Version {version.number} is already {version.status}.")
    if expected_revision is not None and version.revision != expected_revision:
        others = changes_since(version=version, revision=expected_revision, exclude_actor=actor)
        if others:
            raise ConflictError(
                "This draft changed after you loaded it: " + "; ".join(o["text"] for o in others)
                + ". Review the changes, then publish again.",
                extra={"current_revision": version.revision, "your_revision": expected_revision, "changes": others},
            )
    criteria = _ordered_criteria(version)
    problems = publishable_errors(criteria)
    if problems:
        raise ApplicationError(next(iter(problems.values())).capitalize() + ".", fields=problems)
    version.content_hash = rubric_content_hash(rubric_version_content(version=version))
    version.status = Status.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = _user(actor)
    version.save()
    rubric_event_record(
        rubric_set=version.rubric_set, version=version, actor=actor, action=Action.PUBLISHED,
        detail={"number": version.number, "content_hash": version.content_hash},
    )
    return version


@transaction.atomic
def rubric_version_archive(*, version: RubricVersion, actor: AbstractBaseUser | None) -> RubricVersion:
    """Hide a published version from new projects; it stays readable and pinned projects keep it."""
    version = _lock(version)
    if version.status != Status.PUBLISHED:
        raise ConflictError(f"Only a published version can be archived; v{version.number} is {version.status}.")
    version.status = Status.ARCHIVED
    version.archived_at = timezone.now()
    version.save(update_fields=["status", "archived_at", "updated_at"])
    rubric_event_record(rubric_set=version.rubric_set, version=version, actor=actor, action=Action.ARCHIVED,
                        detail={"number": version.number})
    return version


@transaction.atomic
def rubric_version_unarchive(*, version: RubricVersion, actor: AbstractBaseUser | None) -> RubricVersion:
    """Offer an archived version to new projects again."""
    version = _lock(version)
    if version.status != Status.ARCHIVED:
        raise ConflictError(f"v{version.number} is {version.status}, not archived.")
    version.status = Status.PUBLISHED
    version.archived_at = None
    version.save(update_fields=["status", "archived_at", "updated_at"])
    rubric_event_record(rubric_set=version.rubric_set, version=version, actor=actor, action=Action.UNARCHIVED,
                        detail={"number": version.number})
    return version


# --- Draft edits -----------------------------------------------------------------------------

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


def changes_since(
    *, version: RubricVersion, revision: int, exclude_actor: AbstractBaseUser | None = None,
    criterion_id: int | None = None, criterion_revision: int | None = None,
) -> list[dict]:
    """Edits of a draft after `revision` (or, for one criterion, after its `criterion_revision`)."""
    events = RubricEvent.objects.filter(version=version, action=Action.EDITED).select_related("actor", "version")
    if criterion_id is not None:
        events = events.filter(detail__criterion_id=criterion_id, detail__criterion_revision__gt=criterion_revision)
    else:
        events = events.filter(detail__revision__gt=revision)
    if exclude_actor is not None and _user(exclude_actor) is not None:
        events = events.exclude(actor=exclude_actor)
    out = []
    for event in events.order_by("id"):
        data = event_as_dict(event)
        who = data["actor"] or "someone"
        data["text"] = f"{who} {event_summary(event)} at {timezone.localtime(event.created_at):%H:%M:%S}"
        out.append(data)
    return out


def _open_draft(version: RubricVersion, *, actor: AbstractBaseUser | None) -> RubricVersion:
    """Lock the version; refuse if it is no longer a draft (published or archived meanwhile)."""
    version = _lock(version)
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
        for name in CRITERION_FIELDS:
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
               for c in field_changes(before, clean, ("key", *CRITERION_FIELDS[1:]))}
    if not changes:
        return DraftEdit(version=version, criterion=criterion)
    for name in CRITERION_FIELDS:
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
    for name in CRITERION_FIELDS:
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
            for name in CRITERION_FIELDS:
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


# --- Import ----------------------------------------------------------------------------------

@dataclass
class RubricImportResult:
    version: RubricVersion
    form: str
    created_set: bool
    source_hash_matches: bool | None = None

    def as_dict(self) -> dict:
        return {"rubric_set": self.version.rubric_set.slug, "number": self.version.number,
                "status": self.version.status, "form": self.form, "created_set": self.created_set,
                "criteria": self.version.criteria.count(), "content_hash": self.version.content_hash or None,
                "source_hash_matches": self.source_hash_matches}


def rubric_import_text(
    *, content: str | bytes, syntax: str = "auto", form: str = "auto", actor: AbstractBaseUser | None,
    rubric_set: RubricSet | None = None, set_meta: Mapping | None = None, publish: bool = False, source: str = "",
) -> RubricImportResult:
    """Parse a JSON/YAML/text document and import it (see rubric_import)."""
    document = formats.document_parse(content, syntax=syntax)
    return rubric_import(document=document, form=form, actor=actor, rubric_set=rubric_set, set_meta=set_meta,
                         publish=publish, source=source)


@transaction.atomic
def rubric_import(
    *, document: Any, form: str = "auto", actor: AbstractBaseUser | None, rubric_set: RubricSet | None = None,
    set_meta: Mapping | None = None, publish: bool = False, source: str = "",
) -> RubricImportResult:
    """Import a rubric document as a new version: all or nothing.

    Target: `rubric_set` (a new version of that set), else a new set named by `set_meta` (name,
    slug, description) or, failing that, by the document's own `rubric_set`. The new version is a
    draft unless `publish`. Any error names the path of the bad field and creates nothing.
    """
    imported = formats.document_convert(document, form=form)
    created = False
    if rubric_set is None:
        errors = Errors()
        raw_meta = {k: v for k, v in (set_meta or {}).items() if v not in (None, "")}
        if imported.rubric_set:
            raw_meta = {**imported.rubric_set, **raw_meta}
        if not raw_meta.get("name"):
            errors.add("rubric_set.name", "is required: this document does not name its rubric set")
            errors.raise_if_any()
        meta = rubric_set_meta_clean(raw_meta, errors=errors, require_slug=False)
        errors.raise_if_any()
        if RubricSet.objects.filter(slug=meta["slug"]).exists():
            raise ConflictError(
                f'A rubric set with slug "{meta["slug"]}" exists already: import into it from its page '
                "(or pass it as the target set), or choose another slug.",
                fields={"rubric_set.slug": "already used"},
            )
        rubric_set = RubricSet.objects.create(**meta, created_by=_user(actor))
        rubric_event_record(rubric_set=rubric_set, action=Action.SET_CREATED, actor=actor,
                            detail={"name": rubric_set.name, "slug": rubric_set.slug})
        created = True
    else:
        rubric_set = RubricSet.objects.select_for_update().get(pk=rubric_set.pk)
        _existing_draft_conflict(rubric_set)
    if publish:
        problems = publishable_errors(imported.criteria)
        if problems:
            raise ApplicationError("Cannot publish: " + next(iter(problems.values())) + ".", fields=problems)
    try:
        with transaction.atomic():
            version = RubricVersion.objects.create(rubric_set=rubric_set, number=_next_number(rubric_set),
                                                   notes=imported.notes, created_by=_user(actor))
    except IntegrityError:
        raise ConflictError(f"{rubric_set.name} got a draft meanwhile; publish or discard it first.") from None
    _criteria_create(version, imported.criteria)
    rubric_event_record(rubric_set=rubric_set, version=version, actor=actor, action=Action.IMPORTED,
                        detail={"number": version.number, "form": imported.form, "criteria": len(imported.criteria),
                                "source": source[:200]})
    if publish:
        version = rubric_version_publish(version=version, actor=actor)
    matches = None
    if imported.source_hash:
        matches = rubric_content_hash({"notes": imported.notes, "criteria": imported.criteria}) == imported.source_hash
    return RubricImportResult(version=version, form=imported.form, created_set=created, source_hash_matches=matches)


@transaction.atomic
def rubric_set_create_from_document(
    *, document: dict, actor: AbstractBaseUser | None, publish: bool = False
) -> RubricVersion:
    """Create a rubric set (or a new version of an existing one) from a native document.

    The document is the `rubricate.rubric/v1` form (docs/rubrics.md); it is validated like any
    import. Kept for load_demo and scripts.
    """
    slug = (document.get("rubric_set") or {}).get("slug") if isinstance(document, Mapping) else None
    existing = RubricSet.objects.filter(slug=slug).first() if slug else None
    return rubric_import(document=document, form="rubricate", actor=actor, rubric_set=existing,
                         publish=publish).version

