"""Writes for rubric sets and versions. Published versions are frozen (also by the database)."""

from __future__ import annotations

import hashlib
import json

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError

from .models import Criterion, RubricEvent, RubricSet, RubricVersion

CRITERION_FIELDS = ("key", "title", "guidance", "kind", "importance", "points", "scale", "tags")


def _canonical_points(value: float) -> int | float:
    """3.0 and 3 hash alike; fractional points keep their value."""
    value = float(value)
    return int(value) if value.is_integer() else value


def rubric_version_content(*, version: RubricVersion) -> dict:
    """The content that defines a version: its notes and its criteria in order."""
    criteria = [
        {
            **{f: getattr(c, f) for f in CRITERION_FIELDS},
            "points": _canonical_points(c.points),
            "tags": list(c.tags or []),
        }
        for c in version.criteria.order_by("position", "id")
    ]
    return {"notes": version.notes, "criteria": criteria}


def rubric_content_hash(content: dict) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace, UTF-8)."""
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def rubric_event_record(
    *, rubric_set: RubricSet, action: str, actor: AbstractBaseUser | None,
    version: RubricVersion | None = None, detail: dict | None = None,
) -> RubricEvent:
    return RubricEvent.objects.create(
        rubric_set=rubric_set, version=version, actor=actor if actor and actor.is_authenticated else None,
        action=action, detail=detail or {},
    )


@transaction.atomic
def rubric_version_publish(*, version: RubricVersion, actor: AbstractBaseUser | None) -> RubricVersion:
    """Freeze a draft: validate, record its content hash, and stamp who published it when."""
    version = RubricVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != RubricVersion.Status.DRAFT:
        raise ApplicationError(f"Version {version.number} is already {version.status}.", status=409, code="conflict")
    criteria = list(version.criteria.all())
    if not criteria:
        raise ApplicationError("A rubric needs at least one criterion before it is published.",
                               fields={"criteria": "empty"})
    if not any(c.points > 0 for c in criteria):
        raise ApplicationError("At least one criterion must have positive points before publishing.",
                               fields={"criteria": "no criterion with positive points"})
    version.content_hash = rubric_content_hash(rubric_version_content(version=version))
    version.status = RubricVersion.Status.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = actor if actor and actor.is_authenticated else None
    version.save()
    rubric_event_record(
        rubric_set=version.rubric_set, version=version, actor=actor, action=RubricEvent.Action.PUBLISHED,
        detail={"number": version.number, "content_hash": version.content_hash},
    )
    return version


@transaction.atomic
def rubric_set_create_from_document(
    *, document: dict, actor: AbstractBaseUser | None, publish: bool = False
) -> RubricVersion:
    """Create a rubric set (or a new version of an existing one) from a validated native document.

    The document is the `rubricate.rubric/v1` form (see README). Validation of arbitrary input is
    the import service's job; this takes a document already known to be well-formed.
    """
    meta = document["rubric_set"]
    rubric_set, created = RubricSet.objects.get_or_create(
        slug=meta["slug"], defaults={"name": meta["name"], "description": meta.get("description", ""),
                                     "created_by": actor if actor and actor.is_authenticated else None},
    )
    if created:
        rubric_event_record(rubric_set=rubric_set, action=RubricEvent.Action.SET_CREATED, actor=actor)
    last = rubric_set.versions.order_by("-number").first()
    version = RubricVersion.objects.create(
        rubric_set=rubric_set, number=(last.number + 1) if last else 1,
        notes=document["version"].get("notes", ""),
        created_by=actor if actor and actor.is_authenticated else None,
    )
    Criterion.objects.bulk_create(
        Criterion(version=version, position=i, **{f: c.get(f, Criterion._meta.get_field(f).get_default())
                                                   for f in CRITERION_FIELDS})
        for i, c in enumerate(document["version"]["criteria"])
    )
    rubric_event_record(rubric_set=rubric_set, version=version, actor=actor,
                        action=RubricEvent.Action.IMPORTED, detail={"number": version.number})
    if publish:
        version = rubric_version_publish(version=version, actor=actor)
    return version
