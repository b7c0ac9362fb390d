"""Reads shared by the rubric pages, the API and other apps.

Who may read what: a site admin (`is_staff`) reads every set and version. Anyone else reads only
published or archived versions pinned by a project they belong to, and the sets those versions
belong to; everything else is a 404, so nobody learns that a set exists.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from . import formats
from .diff import RubricDiff, rubric_content_diff
from .history import event_summary
from .models import Criterion, RubricEvent, RubricSet, RubricVersion
from .services import rubric_version_content

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
