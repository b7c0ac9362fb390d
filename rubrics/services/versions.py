"""Writes for rubric sets and their versions: create, draft, publish, archive, import.

Published versions are frozen (also by the database: rubrics/migrations/0002). Edits inside a
draft are in drafts.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError

from .. import formats
from ..models import Criterion, RubricEvent, RubricSet, RubricVersion
from ..selectors import changes_since, criteria_in_order, rubric_version_content
from ..validation import CRITERION_KEYS, Errors, content_clean, publishable_errors, rubric_set_meta_clean

Status = RubricVersion.Status
Action = RubricEvent.Action


def actor_or_none(actor: AbstractBaseUser | None):
    """The user to record as the actor (None for anonymous or system writes)."""
    return actor if actor is not None and actor.is_authenticated else None


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
        rubric_set=rubric_set, version=version, actor=actor_or_none(actor), action=action, detail=detail or {},
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
    rubric_set = RubricSet.objects.create(**meta, created_by=actor_or_none(actor))
    rubric_event_record(rubric_set=rubric_set, action=Action.SET_CREATED, actor=actor,
                        detail={"name": rubric_set.name, "slug": rubric_set.slug})
    version = RubricVersion.objects.create(rubric_set=rubric_set, number=1, notes=content["notes"],
                                           created_by=actor_or_none(actor))
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
        Criterion(version=version, position=i, **{f: c[f] for f in CRITERION_KEYS})
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
        rubric_set=rubric_set, number=_next_number(rubric_set), based_on=from_version, created_by=actor_or_none(actor),
    )
    if from_version is not None:
        _criteria_create(version, rubric_version_content(version=from_version)["criteria"])
    rubric_event_record(rubric_set=rubric_set, version=version, actor=actor, action=Action.DRAFT_CREATED,
                        detail={"number": version.number, "from": from_version.number if from_version else None})
    return version


@transaction.atomic
def rubric_draft_discard(*, version: RubricVersion, actor: AbstractBaseUser | None) -> None:
    """Delete a draft and its criteria (published versions cannot be deleted)."""
    version = rubric_version_lock(version)
    if version.status != Status.DRAFT:
        raise ConflictError(f"v{version.number} is {version.status}; only a draft can be discarded.")
    rubric_event_record(rubric_set=version.rubric_set, version=None, actor=actor, action=Action.DISCARDED,
                        detail={"number": version.number})
    version.criteria.all().delete()
    version.delete()


def rubric_version_lock(version: RubricVersion) -> RubricVersion:
    """The version row locked for the rest of the transaction (NotFoundError if it was discarded)."""
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
    version = rubric_version_lock(version)
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
    criteria = criteria_in_order(version=version)
    problems = publishable_errors(criteria)
    if problems:
        raise ApplicationError(next(iter(problems.values())).capitalize() + ".", fields=problems)
    version.content_hash = rubric_content_hash(rubric_version_content(version=version))
    version.status = Status.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = actor_or_none(actor)
    version.save()
    rubric_event_record(
        rubric_set=version.rubric_set, version=version, actor=actor, action=Action.PUBLISHED,
        detail={"number": version.number, "content_hash": version.content_hash},
    )
    return version


def _archived_set(version: RubricVersion, *, archived: bool, actor: AbstractBaseUser | None, refusal: str
                  ) -> RubricVersion:
    """Move a frozen version between published and archived (the row locked), with its event."""
    version = rubric_version_lock(version)
    if version.status != (Status.PUBLISHED if archived else Status.ARCHIVED):
        raise ConflictError(refusal.format(number=version.number, status=version.status))
    version.status = Status.ARCHIVED if archived else Status.PUBLISHED
    version.archived_at = timezone.now() if archived else None
    version.save(update_fields=["status", "archived_at", "updated_at"])
    rubric_event_record(rubric_set=version.rubric_set, version=version, actor=actor,
                        action=Action.ARCHIVED if archived else Action.UNARCHIVED, detail={"number": version.number})
    return version


@transaction.atomic
def rubric_version_archive(*, version: RubricVersion, actor: AbstractBaseUser | None) -> RubricVersion:
    """Hide a published version from new projects; it stays readable and pinned projects keep it."""
    return _archived_set(version, archived=True, actor=actor,
                         refusal="Only a published version can be archived; v{number} is {status}.")


@transaction.atomic
def rubric_version_unarchive(*, version: RubricVersion, actor: AbstractBaseUser | None) -> RubricVersion:
    """Offer an archived version to new projects again."""
    return _archived_set(version, archived=False, actor=actor, refusal="v{number} is {status}, not archived.")


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
        rubric_set = RubricSet.objects.create(**meta, created_by=actor_or_none(actor))
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
                                                   notes=imported.notes, created_by=actor_or_none(actor))
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
