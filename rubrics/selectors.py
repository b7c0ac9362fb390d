"""Reads shared by the rubric pages, the API and other apps.

Who may read what: a site admin (`is_staff`) reads every set and version. Anyone else reads only
published or archived versions pinned by a project they belong to, and the sets those versions
belong to; everything else is a 404, so nobody learns that a set exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from config.errors import ApplicationError

from . import formats
from .diff import RubricDiff, rubric_content_diff
from .history import event_as_dict, event_summary
from .models import Criterion, RubricEvent, RubricSet, RubricVersion
from .validation import CRITERION_KEYS, canonical_points

Status = RubricVersion.Status


def _readable_version_filter(user: AbstractBaseUser) -> Q:
    """Non-staff: frozen versions pinned by one of the user's projects."""
    from annotator.access import project_ids_for_user

    return Q(status__in=[Status.PUBLISHED, Status.ARCHIVED], projects__in=project_ids_for_user(user=user))


def rubric_versions_for_new_projects() -> QuerySet[RubricVersion]:
    """Versions a new project may pin: published and not archived, newest first within a set."""
    return (
        RubricVersion.objects.filter(status=Status.PUBLISHED)
        .select_related("rubric_set")
        .order_by("rubric_set__name", "rubric_set_id", "-number")
    )


def rubric_version_readable_for_user(*, user: AbstractBaseUser) -> QuerySet[RubricVersion]:
    """Every version the user may read (all for staff)."""
    if not user.is_authenticated:
        return RubricVersion.objects.none()
    if user.is_staff:
        return RubricVersion.objects.all()
    ids = RubricVersion.objects.filter(_readable_version_filter(user)).values("id")
    return RubricVersion.objects.filter(id__in=ids)


def rubric_version_get_for_user(*, user: AbstractBaseUser, version_id: int) -> RubricVersion:
    """One version with its set and criteria, if the user may read it; else 404."""
    version = (
        rubric_version_readable_for_user(user=user)
        .select_related("rubric_set", "created_by", "published_by")
        .prefetch_related(Prefetch("criteria", queryset=Criterion.objects.order_by("position", "id")))
        .filter(id=version_id)
        .first()
    )
    if version is None:
        raise Http404("No such rubric version.")
    return version


def rubric_set_list_for_user(*, user: AbstractBaseUser) -> QuerySet[RubricSet]:
    """Sets the user may see, with counts of the versions they may see and the newest published."""
    if not user.is_authenticated:
        return RubricSet.objects.none()
    readable = rubric_version_readable_for_user(user=user)
    qs = RubricSet.objects.all()
    if not user.is_staff:
        qs = qs.filter(id__in=readable.values("rubric_set_id"))
    mine = Q(versions__in=readable.values("id"))
    return qs.annotate(
        version_count=Count("versions", filter=mine, distinct=True),
        draft_count=Count("versions", filter=mine & Q(versions__status=Status.DRAFT), distinct=True),
        latest_published=Max("versions__number", filter=mine & Q(versions__status=Status.PUBLISHED)),
        last_change=Max("versions__updated_at", filter=mine),
    ).order_by("name", "id")


def rubric_set_get_for_user(*, user: AbstractBaseUser, slug: str) -> RubricSet:
    """The set if the user may read any version of it (staff: any set); else 404.

    `rubric_set.readable_versions` holds the versions the user may see, newest first, with
    criterion counts.
    """
    if not user.is_authenticated:
        raise Http404("No such rubric set.")
    rubric_set = RubricSet.objects.select_related("created_by").filter(slug=slug).first()
    if rubric_set is None:
        raise Http404("No such rubric set.")
    criteria = Criterion.objects.filter(version=OuterRef("pk")).values("version").annotate(n=Count("id")).values("n")
    versions = (
        rubric_version_readable_for_user(user=user)
        .filter(rubric_set=rubric_set)
        .select_related("created_by", "published_by", "based_on")
        .annotate(criterion_count=Coalesce(Subquery(criteria), 0))
        .order_by("-number")
    )
    if user.is_staff:
        from annotator.models import Project

        projects = Project.objects.filter(rubric_version=OuterRef("pk")).values("rubric_version")
        versions = versions.annotate(
            project_count=Coalesce(Subquery(projects.annotate(n=Count("id")).values("n")), 0)
        )
    versions = list(versions)
    if not versions and not user.is_staff:
        raise Http404("No such rubric set.")
    rubric_set.readable_versions = versions
    return rubric_set


def rubric_version_get_by_number(*, user: AbstractBaseUser, slug: str, number: int) -> RubricVersion:
    """Version `number` of set `slug` with its criteria, if the user may read it; else 404.

    The same 404 whether the set or only the version is missing, so nobody learns a set exists."""
    version = (
        rubric_version_readable_for_user(user=user)
        .select_related("rubric_set", "created_by", "published_by", "based_on")
        .prefetch_related(Prefetch("criteria", queryset=Criterion.objects.order_by("position", "id")))
        .filter(rubric_set__slug=slug, number=number)
        .first()
    )
    if version is None:
        raise Http404("No such rubric version.")
    return version


# --- A version's content ------------------------------------------------------------------------


def criterion_as_dict(criterion: Criterion) -> dict:
    """A criterion as content: its CRITERION_KEYS, points canonical (3, not 3.0)."""
    return {
        **{f: getattr(criterion, f) for f in CRITERION_KEYS},
        "points": canonical_points(criterion.points),
        "tags": list(criterion.tags or []),
    }


def criteria_in_order(*, version: RubricVersion) -> list[Criterion]:
    """The version's criteria by position; sorted in Python so a prefetched `criteria` costs no query."""
    return sorted(version.criteria.all(), key=lambda c: (c.position, c.id))


def rubric_version_content(*, version: RubricVersion) -> dict:
    """The content that defines a version: its notes and its criteria in order."""
    return {"notes": version.notes, "criteria": [criterion_as_dict(c) for c in criteria_in_order(version=version)]}


def criterion_get(*, version: RubricVersion, criterion_id: int) -> Criterion | None:
    """One criterion of the version as it is now, or None (deleted meanwhile)."""
    return version.criteria.filter(pk=criterion_id).first()


def criterion_get_or_404(*, version: RubricVersion, criterion_id: int) -> Criterion:
    criterion = criterion_get(version=version, criterion_id=criterion_id)
    if criterion is None:
        raise Http404("No such criterion.")
    return criterion


# --- Versions of a set, as the editor and the API need them --------------------------------------


def rubric_version_fresh(*, version: RubricVersion) -> RubricVersion:
    """The version re-read with its set (after a write, or a refused one)."""
    return RubricVersion.objects.select_related("rubric_set").get(pk=version.pk)


def rubric_version_revision(*, version: RubricVersion) -> int:
    """The version's revision as stored now (another editor may have moved it on)."""
    current = RubricVersion.objects.filter(pk=version.pk).values_list("revision", flat=True).first()
    return current or version.revision


def rubric_version_newest_frozen(*, rubric_set: RubricSet) -> RubricVersion | None:
    """The newest published or archived version: what a new draft copies by default."""
    return rubric_set.versions.exclude(status=Status.DRAFT).order_by("-number").first()


def rubric_version_numbers(*, rubric_set: RubricSet) -> list[tuple[int, str]]:
    """(number, status) of every version of the set, newest first (for staff)."""
    return list(rubric_set.versions.order_by("-number").values_list("number", "status"))


def changes_since(
    *, version: RubricVersion, revision: int, exclude_actor: AbstractBaseUser | None = None,
    criterion_id: int | None = None, criterion_revision: int | None = None,
) -> list[dict]:
    """Edits of a draft after `revision` (or, for one criterion, after its `criterion_revision`)."""
    events = RubricEvent.objects.filter(version=version, action=RubricEvent.Action.EDITED).select_related(
        "actor", "version")
    if criterion_id is not None:
        events = events.filter(detail__criterion_id=criterion_id, detail__criterion_revision__gt=criterion_revision)
    else:
        events = events.filter(detail__revision__gt=revision)
    if exclude_actor is not None and exclude_actor.is_authenticated:
        events = events.exclude(actor=exclude_actor)
    out = []
    for event in events.order_by("id"):
        data = event_as_dict(event)
        who = data["actor"] or "someone"
        data["text"] = f"{who} {event_summary(event)} at {timezone.localtime(event.created_at):%H:%M:%S}"
        out.append(data)
    return out


def rubric_event_page(*, rubric_set: RubricSet, before_id: int | None = None, limit: int = 30
                      ) -> tuple[list[RubricEvent], int | None]:
    """One page of the set's history, newest first (keyset on id), each with `.summary`; and the
    id to continue from, or None at the end."""
    qs = rubric_set.events.select_related("actor", "version").order_by("-id")
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    events = list(qs[: limit + 1])
    more = len(events) > limit
    events = events[:limit]
    for event in events:
        event.summary = event_summary(event)
    return events, (events[-1].id if more and events else None)


def rubric_version_diff(*, old: RubricVersion, new: RubricVersion) -> RubricDiff:
    """Criteria added, removed and changed (field by field) from `old` to `new`, lined up by key."""
    return rubric_content_diff(rubric_version_content(version=old), rubric_version_content(version=new))


@dataclass
class RubricExportFile:
    text: str
    filename: str
    content_type: str


def rubric_version_export_file(*, version: RubricVersion, syntax: str = "json", form: str = "rubricate"
                               ) -> RubricExportFile:
    """A version's export as a download (the page and the API serve the same file)."""
    if syntax not in ("json", "yaml") or form not in formats.FORMS:
        raise ApplicationError("Export as syntax=json|yaml and form=" + "|".join(formats.FORMS) + ".",
                               fields={"syntax": syntax, "form": form})
    suffix = "" if form == "rubricate" else f".{form}"
    content_type = "application/json" if syntax == "json" else "application/yaml"
    return RubricExportFile(
        text=rubric_version_export(version=version, syntax=syntax, form=form),
        filename=f"{version.rubric_set.slug}-v{version.number}{suffix}.{syntax}",
        content_type=f"{content_type}; charset=utf-8",
    )


def rubric_version_export(*, version: RubricVersion, syntax: str = "json", form: str = "rubricate") -> str:
    """The text of a version's export (deterministic: the same version gives the same bytes)."""
    document = formats.version_document(
        rubric_set={"name": version.rubric_set.name, "slug": version.rubric_set.slug,
                    "description": version.rubric_set.description},
        version={"number": version.number, "status": version.status, "content_hash": version.content_hash,
                 "published_at": version.published_at.isoformat() if version.published_at else None,
                 "based_on": version.based_on.number if version.based_on_id and version.based_on else None},
        content=rubric_version_content(version=version), form=form,
    )
    return formats.document_dump(document, syntax=syntax)
