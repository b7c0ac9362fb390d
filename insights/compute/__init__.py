"""The Insights computation: one streamed pass over a project's items, every figure at once.

The streams (items, responses, judgments, human criterion scores, model scores, judge verdicts;
`streams.py`) are merged by item id, so memory holds one item at a time; each section's
accumulator (`agreement`, `annotators`, `scorers`, `rubric`, `leaderboard`) keeps only compact
counts, and the statistics and their bootstrap intervals are computed from those counts at the end.
Memory grows with annotators, criteria, models and scorers, never with judgments.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from django.contrib.auth import get_user_model

from annotator.models import Item, Project
from exports.rows import ByItem
from rubrics.models import Criterion

from ..agreement import BOOTSTRAP_REPLICATES
from . import streams
from .agreement import AgreementAccumulator
from .annotators import AnnotatorAccumulator
from .items import build_item
from .leaderboard import REPLICATES as LEADERBOARD_REPLICATES
from .leaderboard import LeaderboardAccumulator
from .rubric import RubricAccumulator
from .scorers import ScorerAccumulator

Progress = Callable[[str, float], None]
PROGRESS_EVERY = 5000  # items


def _describe(criterion_ids) -> dict[int, dict]:
    described = {}
    for c in (
        Criterion.objects.filter(pk__in=list(criterion_ids))
        .select_related("version__rubric_set")
        .order_by("version_id", "position", "id")
    ):
        described[c.pk] = {
            "id": c.pk,
            "key": c.key,
            "title": c.title,
            "scale": c.scale,
            "points": c.points,
            "version": f"{c.version.rubric_set.slug}@v{c.version.number}",
            "order": (c.version_id, c.position),
        }
    return described


def _pinned_criteria(project: Project) -> list[dict]:
    """The criteria of the project's rubric version, in order."""
    ids = Criterion.objects.filter(version_id=project.rubric_version_id).values_list("id", flat=True)
    described = _describe(ids)
    return sorted(described.values(), key=lambda c: c["order"])


def insights_compute(
    *,
    project: Project,
    progress: Progress | None = None,
    replicates: int | None = None,
    leaderboard_replicates: int | None = None,
    seed: int | None = None,
) -> dict:
    """Every section of the project's Insights, as JSON-ready dicts (the keys of InsightsSnapshot).

    Bootstrap replicates default to the INSIGHTS_REPLICATES and INSIGHTS_LEADERBOARD_REPLICATES
    settings (1000 and 200); the random generator is seeded by the project id, so a recomputation
    of unchanged data gives the same intervals.
    """
    from django.conf import settings

    from scoring.models import Scorer

    if replicates is None:
        replicates = getattr(settings, "INSIGHTS_REPLICATES", BOOTSTRAP_REPLICATES)
    if leaderboard_replicates is None:
        leaderboard_replicates = getattr(settings, "INSIGHTS_LEADERBOARD_REPLICATES", LEADERBOARD_REPLICATES)

    started = time.perf_counter()
    report = progress or (lambda _stage, _fraction: None)
    rng = np.random.default_rng(project.pk if seed is None else seed)
    pinned = _pinned_criteria(project)
    total_items = Item.objects.filter(project=project).count()
    report("Reading judgments", 0.0)

    with streams.snapshot():
        repeated = streams.repeated_items(project)
        agreement = AgreementAccumulator()
        annotators = AnnotatorAccumulator(repeated=repeated)
        scorers = ScorerAccumulator()
        rubric = RubricAccumulator(criteria=pinned)
        leaderboard = LeaderboardAccumulator()

        responses = ByItem(streams.responses(project))
        judgments = ByItem(streams.judgments(project))
        values = ByItem(streams.criterion_values(project))
        scores = ByItem(streams.response_scores(project))
        pairwise = ByItem(streams.pairwise_scores(project))
        model_criteria = ByItem(streams.model_criterion_scores(project))
        n_items = n_judged = n_judgments = 0
        annotator_ids: set[int] = set()
        for row in streams.items(project):
            item_id = row[0]
            item_judgments = judgments.take(item_id)
            item_responses = responses.take(item_id)
            item_values = values.take(item_id)
            item_scores = scores.take(item_id)
            item_pairwise = pairwise.take(item_id)
            item_model_criteria = model_criteria.take(item_id)
            n_items += 1
            if n_items % PROGRESS_EVERY == 0:
                report(f"Reading judgments: {n_items:,} of {total_items:,} items", 0.9 * n_items / max(total_items, 1))
            if not item_judgments:
                continue
            n_judged += 1
            n_judgments += len(item_judgments)
            item = build_item(row, item_responses, item_judgments)
            annotator_ids.update(j.annotator_id for j in item.judgments)
            for _i, judgment_id, response_id, criterion_id, value in item_values:
                item.criteria.setdefault(judgment_id, []).append((response_id, criterion_id, value))
            for _i, response_id, scorer_id, value in item_scores:
                item.scores.setdefault(scorer_id, {})[response_id] = value
            item.pairwise = [r[1:] for r in item_pairwise]
            item.model_criteria = [
                (r[1], r[2], r[3], r[4] if r[4] is not None else float(r[5])) for r in item_model_criteria
            ]
            agreement.add(item)
            annotators.add(item)
            scorers.add(item)
            rubric.add(item)
            leaderboard.add(item)

    report("Computing intervals", 0.9)
    names = dict(get_user_model().objects.filter(pk__in=annotator_ids).values_list("pk", "username"))
    scorer_names = dict(Scorer.objects.values_list("pk", "name"))
    criteria = _describe(set(agreement.criteria) | set(scorers.criterion_ids))
    sections = {
        "agreement": agreement.result(names=names, criteria=criteria, replicates=replicates, rng=rng),
        "annotators": annotators.result(names=names),
        "scorers": scorers.result(scorers=scorer_names, criteria=criteria),
        "rubric": {**rubric.result(), "rubric_version_id": project.rubric_version_id},
        "leaderboard": leaderboard.result(scorers=scorer_names, replicates=leaderboard_replicates, rng=rng),
    }
    sections["summary"] = {
        "items": n_items,
        "judged_items": n_judged,
        "judgments": n_judgments,
        "annotators": len(annotator_ids),
        "scorers": len(sections["scorers"]["scorers"]),
        "models": len(sections["leaderboard"]["models"]),
        "replicates": replicates,
        "seconds": round(time.perf_counter() - started, 3),
    }
    report("Done", 1.0)
    return sections
