"""Reads of scorers, runs and model scores, shared by views, the API and other apps' pages."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser

from annotator.models import Project, ProjectMembership

from .models import ResponseScore


def response_scores_for_items(*, item_ids: Iterable[int]) -> dict[int, list[ResponseScore]]:
    """The latest model score per (response, scorer) for every response of these items.

    Returns {response_id: [ResponseScore, …]} with each list ordered by scorer name; each score has
    `scorer` loaded. One query whatever the number of items. A response with no score is absent.
    Several rows can exist per (response, scorer) (one per input hash: the response or the scorer's
    settings changed); only the newest is shown.
    """
    item_ids = list(item_ids)
    if not item_ids:
        return {}
    rows = (
        ResponseScore.objects.filter(response__item_id__in=item_ids)
        .select_related("scorer")
        .order_by("response_id", "scorer__name", "scorer_id", "-created_at", "-id")
    )
    out: dict[int, list[ResponseScore]] = {}
    seen: set[tuple[int, int]] = set()
    for score in rows:
        key = (score.response_id, score.scorer_id)
        if key in seen:
            continue
        seen.add(key)
        out.setdefault(score.response_id, []).append(score)
    return out


def model_scores_visible(*, project: Project, user: AbstractBaseUser, annotating: bool) -> bool:
    """Whether `user` may see reward-model scores of this project's items on the current page.

    Project admins and reviewers see them on item pages. While anyone annotates (the scores would
    anchor their judgment) and for annotators anywhere, they show only when the project allows it
    (`Project.show_model_scores`). Pass the project as read through project_get_for_user (its
    `membership` is used when present, saving a query).
    """
    if not user.is_authenticated:
        return False
    membership = getattr(project, "membership", None)
    if membership is None or membership.user_id != user.pk:
        membership = ProjectMembership.objects.filter(project=project, user=user).first()
    if membership is None:
        return False
    if annotating or membership.role == ProjectMembership.Role.ANNOTATOR:
        return project.show_model_scores
    return True
