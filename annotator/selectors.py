"""Reads shared by views and the API. Every project read is scoped to the caller's memberships."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import Judgment, Project, ProjectMembership

Role = ProjectMembership.Role


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """Projects the user belongs to, with item counts and the user's own progress."""
    if not user.is_authenticated:
        return Project.objects.none()
    mine = (
        Judgment.objects.filter(item__project=OuterRef("pk"), annotator=user)
        .values("item__project")
        .annotate(n=Count("id"))
        .values("n")
    )
    role = ProjectMembership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Project.objects.filter(memberships__user=user)
        .select_related("rubric_version__rubric_set")
        .annotate(
            my_role=Subquery(role),
            item_count=Count("items", distinct=True),
            judged_total=Coalesce(Sum("items__submitted_count"), 0),
            my_judged=Coalesce(Subquery(mine, output_field=IntegerField()), 0),
        )
        .order_by("name", "id")
    )


def membership_get(*, user: AbstractBaseUser, project: Project) -> ProjectMembership | None:
    if not user.is_authenticated:
        return None
    return ProjectMembership.objects.filter(user=user, project=project).first()


def project_get_for_user(
    *, user: AbstractBaseUser, project_id: int, roles: tuple[str, ...] | None = None
) -> Project:
    """The project if the user is a member (with one of `roles` when given), else 404.

    Outsiders and members without the role get 404 alike: nobody learns a project exists.
    The membership is attached as `project.membership`.
    """
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        ProjectMembership.objects.select_related("project__rubric_version__rubric_set")
        .filter(user=user, project_id=project_id)
        .first()
    )
    if membership is None or (roles is not None and membership.role not in roles):
        raise Http404("No such project.")
    project = membership.project
    project.membership = membership
    return project


def project_ids_for_user(*, user: AbstractBaseUser, roles: tuple[str, ...] | None = None) -> QuerySet:
    """Ids of the user's projects, as a subquery for scoping other tables."""
    qs = ProjectMembership.objects.filter(user=user)
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.values("project_id")


def project_progress(*, project: Project, user: AbstractBaseUser) -> dict:
    """Counts for the project page: items, judgments needed/done, mine."""
    agg = project.items.aggregate(items=Count("id"), submitted=Coalesce(Sum("submitted_count"), 0))
    needed = agg["items"] * project.overlap
    mine = Judgment.objects.filter(item__project=project, annotator=user).count()
    return {
        "items": agg["items"],
        "needed": needed,
        "submitted": agg["submitted"],
        "percent": round(100 * agg["submitted"] / needed) if needed else 0,
        "mine": mine,
    }
