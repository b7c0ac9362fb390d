"""Reads shared by the rubric pages, the API and other apps.

Who may read what: a site admin (`is_staff`) reads every set and version. Anyone else reads only
published or archived versions pinned by a project they belong to, and the sets those versions
belong to; everything else is a 404, so nobody learns that a set exists.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.http import Http404

from .models import Criterion, RubricEvent, RubricSet, RubricVersion

Status = RubricVersion.Status


def _readable_version_filter(user: AbstractBaseUser) -> Q:
    """Non-staff: frozen versions pinned by one of the user's projects."""
    from annotator.selectors import project_ids_for_user

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
    """Sets the user may see, with version counts and the newest published number."""
    if not user.is_authenticated:
        return RubricSet.objects.none()
    readable = rubric_version_readable_for_user(user=user).values("id")
    qs = RubricSet.objects.all() if user.is_staff else RubricSet.objects.filter(versions__in=readable).distinct()
    return qs.annotate(
        version_count=Count("versions", filter=Q(versions__in=readable), distinct=True),
        draft_count=Count("versions", filter=Q(versions__status=Status.DRAFT, versions__in=readable),
                          distinct=True),
        latest_published=Max("versions__number", filter=Q(versions__status=Status.PUBLISHED,
                                                          versions__in=readable)),
        last_change=Max("versions__updated_at"),
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
    versions = list(
        rubric_version_readable_for_user(user=user)
        .filter(rubric_set=rubric_set)
        .select_related("created_by", "published_by", "based_on")
        .annotate(criterion_count=Count("criteria"))
        .order_by("-number")
    )
    if not versions and not user.is_staff:
        raise Http404("No such rubric set.")
    rubric_set.readable_versions = versions
    return rubric_set


def rubric_version_get_by_number(*, user: AbstractBaseUser, rubric_set: RubricSet, number: int) -> RubricVersion:
    """Version `number` of a set the caller already may read, with its criteria; 404 if unreadable."""
    version = (
        rubric_version_readable_for_user(user=user)
        .select_related("rubric_set", "created_by", "published_by", "based_on")
        .prefetch_related(Prefetch("criteria", queryset=Criterion.objects.order_by("position", "id")))
        .filter(rubric_set=rubric_set, number=number)
        .first()
    )
    if version is None:
        raise Http404("No such rubric version.")
    return version


def rubric_event_list(*, rubric_set: RubricSet, limit: int = 200) -> list[RubricEvent]:
    """The set's history, newest first."""
    return list(rubric_set.events.select_related("actor", "version").order_by("-created_at", "-id")[:limit])
