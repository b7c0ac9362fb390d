"""Reads of scorers, runs and model scores, shared by views, the API and other apps' pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from annotator.access import ROLES_STAFF, project_get_for_user, project_ids_for_user
from annotator.models import Item, Project, ProjectMembership

from .models import ResponseScore, Scorer, ScoringBatch, ScoringRun

Role = ProjectMembership.Role
# Who may see a project's runs and reports (annotators must not see model scores unprompted).


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


def report_disagreements(*, project: Project, report_rows: list, limit: int = 8) -> list[dict]:
    """Items where a scorer picks the response the humans rejected (from the accuracy report's
    examples), with their responses and model scores, for the project's runs page."""
    wanted: dict[int, list[str]] = {}
    chosen: dict[int, int] = {}
    for scorer, report in report_rows:
        for example in report.examples:
            wanted.setdefault(example["item_id"], []).append(scorer.name)
            chosen[example["item_id"]] = example["chosen"]
    item_ids = list(wanted)[:limit]
    items = Item.objects.filter(project=project, id__in=item_ids).prefetch_related("responses")
    scores = response_scores_for_items(item_ids=item_ids)
    return [{"item": item, "scorers": wanted[item.id], "scores": scores, "chosen": chosen[item.id]}
            for item in items]


# --- scorers and runs ---------------------------------------------------------------------------------
def scorer_list(*, active_only: bool = False) -> QuerySet[Scorer]:
    qs = Scorer.objects.all().order_by("name")
    return qs.filter(is_active=True) if active_only else qs


def scorer_get(*, scorer_id: int) -> Scorer:
    scorer = Scorer.objects.filter(pk=scorer_id).first()
    if scorer is None:
        raise Http404("No such scorer.")
    return scorer


def run_list_for_user(*, user: AbstractBaseUser, limit: int = 20) -> QuerySet[ScoringRun]:
    """Recent runs of the projects where the user is an admin or reviewer."""
    if not user.is_authenticated:
        return ScoringRun.objects.none()
    return (
        ScoringRun.objects.filter(project_id__in=project_ids_for_user(user=user, roles=ROLES_STAFF))
        .select_related("project", "scorer")
        .order_by("-created_at", "-id")[:limit]
    )


def run_list_for_project(*, project: Project) -> QuerySet[ScoringRun]:
    return (ScoringRun.objects.filter(project=project).select_related("scorer", "created_by")
            .order_by("-created_at", "-id"))


def run_get_for_user(*, user: AbstractBaseUser, run_id: int, roles: tuple[str, ...] = ROLES_STAFF) -> ScoringRun:
    """The run if the user has one of `roles` in its project (404 for outsiders, 403 for other roles).
    The membership is attached as `run.membership`."""
    run = ScoringRun.objects.select_related("scorer", "created_by").filter(pk=run_id).first()
    if run is None or not user.is_authenticated:
        raise Http404("No such run.")
    run.project = project_get_for_user(user=user, project_id=run.project_id, roles=roles)
    run.membership = run.project.membership
    return run


@dataclass
class RunProgress:
    total: int
    done: int
    failed: int
    tokens: int
    parse_failures: int
    percent: int
    elapsed_s: float | None
    responses_per_s: float | None
    tokens_per_s: float | None
    eta_s: float | None
    finished: bool
    batches: dict

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run_progress(*, run: ScoringRun) -> RunProgress:
    """Counters, throughput (responses/s and tokens/s since the first batch started) and ETA."""
    processed = run.done + run.failed
    percent = min(100, round(100 * processed / run.total)) if run.total else 100
    elapsed = None
    if run.started_at:
        end = run.finished_at or timezone.now()
        elapsed = max(0.0, (end - run.started_at).total_seconds())
    rate = processed / elapsed if elapsed and processed else None
    tokens_rate = run.tokens / elapsed if elapsed and run.tokens else None
    eta = None
    if rate and not run.is_finished:
        eta = max(0.0, (run.total - processed) / rate)
    counts = {s: 0 for s in ScoringBatch.Status.values}
    for row in run.batches.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return RunProgress(
        total=run.total, done=run.done, failed=run.failed, tokens=run.tokens, parse_failures=run.parse_failures,
        percent=percent, elapsed_s=elapsed, responses_per_s=rate, tokens_per_s=tokens_rate, eta_s=eta,
        finished=run.is_finished, batches=counts,
    )


def run_errors(*, run: ScoringRun, limit: int = 50) -> list[dict]:
    """Per-response errors and failed batches of a run, newest batches first, at most `limit`."""
    out: list[dict] = []
    batches = run.batches.exclude(errors={}, error="").order_by("-index").values(
        "index", "status", "error", "errors", "attempts"
    )
    for b in batches:
        if b["error"] and not b["errors"]:
            out.append({"batch": b["index"], "response_id": None, "message": b["error"]})
        for rid, message in b["errors"].items():
            out.append({"batch": b["index"], "response_id": int(rid), "message": message,
                        "retried": b["status"] == ScoringBatch.Status.RETRIED})
            if len(out) >= limit:
                return out
    return out


def model_scores_for_project(*, project: Project, scorer_id: int | None = None,
                             run_id: int | None = None) -> QuerySet[ResponseScore]:
    """Every model score of the project's responses (API list; keyset-paginated by id)."""
    qs = ResponseScore.objects.filter(response__item__project=project).select_related(
        "scorer", "response__item"
    )
    if scorer_id is not None:
        qs = qs.filter(scorer_id=scorer_id)
    if run_id is not None:
        qs = qs.filter(run_id=run_id)
    return qs


def run_waits_for_broker(*, run: ScoringRun) -> bool:
    """An active run with batches whose message never reached the broker (it was down)."""
    return not run.is_finished and run.batches.filter(status=ScoringBatch.Status.PENDING,
                                                      sent_at__isnull=True).exists()
