"""Reads behind the API lists: always scoped to one project the caller belongs to, no N+1."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from annotator.access import ROLES_STAFF, has_role
from annotator.models import CriterionJudgment, Item, Judgment, Project, ProjectMembership
from annotator.models import Response as ItemResponse

Role = ProjectMembership.Role
# Who sees every judgment of a project (and exports, and reads agreement): admins and reviewers.
# Annotators see items and their own judgments only.


def item_list(*, project: Project, filters: dict | None = None) -> QuerySet[Item]:
    """The project's items with their responses (in stored order), filtered."""
    filters = filters or {}
    qs = Item.objects.filter(project=project).prefetch_related(
        Prefetch("responses", queryset=ItemResponse.objects.order_by("position", "id"))
    )
    if filters.get("external_id"):
        qs = qs.filter(external_id=filters["external_id"])
    if filters.get("min_judgments") is not None:
        qs = qs.filter(submitted_count__gte=filters["min_judgments"])
    if filters.get("is_gold") is not None:
        qs = qs.filter(is_gold=filters["is_gold"])
    if filters.get("updated_after") is not None:
        qs = qs.filter(updated_at__gt=filters["updated_after"])
    return qs


def item_get(*, project: Project, item_id: int) -> Item:
    from django.http import Http404

    item = item_list(project=project).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such item.")
    return item


def judgment_list(*, project: Project, user: AbstractBaseUser, filters: dict | None = None) -> QuerySet[Judgment]:
    """The project's judgments the caller may read (annotators: their own), with what the output needs."""
    filters = filters or {}
    qs = (
        Judgment.objects.filter(item__project=project)
        .select_related("item", "annotator", "rubric_version__rubric_set", "assignment")
        .prefetch_related(Prefetch(
            "criterion_scores",
            queryset=CriterionJudgment.objects.select_related("criterion")
            .order_by("response_id", "criterion__position", "criterion_id"),
        ))
    )
    if not has_role(project, ROLES_STAFF):
        qs = qs.filter(annotator=user)
    if filters.get("annotator"):
        qs = qs.filter(annotator__username=filters["annotator"])
    if filters.get("item") is not None:
        qs = qs.filter(item_id=filters["item"])
    if filters.get("external_id"):
        qs = qs.filter(item__external_id=filters["external_id"])
    if filters.get("rubric_version") is not None:
        qs = qs.filter(rubric_version_id=filters["rubric_version"])
    if filters.get("both_bad") is not None:
        qs = qs.filter(both_bad=filters["both_bad"])
    if filters.get("submitted_after") is not None:
        qs = qs.filter(submitted_at__gt=filters["submitted_after"])
    if filters.get("submitted_before") is not None:
        qs = qs.filter(submitted_at__lt=filters["submitted_before"])
    return qs


def judgment_get(*, project: Project, user: AbstractBaseUser, judgment_id: int) -> Judgment:
    from django.http import Http404

    judgment = judgment_list(project=project, user=user).filter(pk=judgment_id).first()
    if judgment is None:
        raise Http404("No such judgment.")
    return judgment

