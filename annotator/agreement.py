"""The project agreement report (the `/agreement` endpoint) and the nominal label of a judgment.

The statistics themselves (Krippendorff's α, Cohen's and Fleiss' κ, their bootstrap intervals)
live in `insights/agreement.py`, written once; they are re-exported here for the callers of this
module. Insights reports the same figures broken down, with intervals (docs/insights.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from insights.agreement import (  # noqa: F401 - re-exported for the callers of this module
    LEVELS,
    AlphaAccumulator,
    FleissAccumulator,
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    krippendorff_alpha,
    krippendorff_alpha_matrix,
    pairwise_agreement,
)

# --- The project report ----------------------------------------------------------------------

def judgment_label(*, preference: int | None, both_bad: bool, top_position: int | None) -> str | None:
    """The nominal label of one judgment: which response won ("1", "2", … by stored position),
    "tie", or "both_bad". For ranking judgments the top-ranked response wins. None: no verdict."""
    if both_bad:
        return "both_bad"
    if top_position is not None:
        return str(top_position + 1)
    if preference is None:
        return None
    if preference < 0:
        return "1"
    if preference > 0:
        return "2"
    return "tie"


def judgment_label_rows(*, project, rubric_version_id: int | None = None, submitted_after=None):
    """(item_id, annotator_id, username, preference, both_bad, top_position) for the project's judgments,
    ordered by item. `top_position` is the stored position of the top-ranked response (ranking only)."""
    from django.db.models import BigIntegerField, Case, OuterRef, Q, Subquery, When
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    from .models import Judgment, Response

    top = Subquery(
        Response.objects.filter(
            pk=Cast(KeyTextTransform("0", OuterRef("ranking")), BigIntegerField())
        ).values("position")[:1]
    )
    qs = Judgment.objects.filter(item__project=project)
    if rubric_version_id is not None:
        qs = qs.filter(rubric_version_id=rubric_version_id)
    if submitted_after is not None:
        qs = qs.filter(submitted_at__gt=submitted_after)
    return (
        qs.annotate(top_position=Case(When(~Q(ranking=[]), then=top), default=None))
        .order_by("item_id", "annotator_id")
        .values_list("item_id", "annotator_id", "annotator__username", "preference", "both_bad", "top_position")
        .iterator(chunk_size=5000)
    )


LEVEL_FOR_SCALE = {"binary": "nominal", "likert5": "ordinal", "points": "interval"}


def project_agreement(*, project, rubric_version_id: int | None = None, min_pair_items: int = 5,
                      max_pairs: int = 50) -> dict:
    """Agreement report of a project's human judgments (streamed; memory grows with annotators, not rows).

    - winner: nominal label per judgment (response 1 / 2 / … / tie / both_bad): mean pairwise
      percent agreement, Krippendorff's α (nominal), Fleiss' κ;
    - strength: the −3..3 preference of two-response judgments: α ordinal and interval;
    - annotator pairs: Cohen's κ on the winner label for pairs sharing ≥ `min_pair_items` items;
    - annotators: each one's agreement with the others on the same items (leave-one-out);
    - criteria: α per criterion over (response, criterion) units, at the level of its scale.
    """
    from itertools import groupby

    from django.db.models import Count

    from rubrics.models import Criterion

    from .models import CriterionJudgment

    winner_alpha, strength_alpha, fleiss = AlphaAccumulator(), AlphaAccumulator(), FleissAccumulator()
    pair_tables: dict[tuple[str, str], Counter] = defaultdict(Counter)
    per_annotator: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])  # judgments, Σ agreement, items
    items = judgments = 0
    annotators: set[str] = set()
    rows = judgment_label_rows(project=project, rubric_version_id=rubric_version_id)
    for _item_id, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        items += 1
        judgments += len(group)
        labelled = []
        strengths = []
        for _i, _a, username, preference, both_bad, top in group:
            annotators.add(username)
            per_annotator[username][0] += 1
            label = judgment_label(preference=preference, both_bad=both_bad, top_position=top)
            if label is not None:
                labelled.append((username, label))
            if not both_bad and top is None and preference is not None:
                strengths.append(preference)
        labels = [label for _u, label in labelled]
        winner_alpha.add_unit(labels)
        strength_alpha.add_unit(strengths)
        fleiss.add_item(labels)
        if len(labelled) >= 2:
            counts = Counter(labels)
            for username, label in labelled:
                stats = per_annotator[username]
                stats[1] += (counts[label] - 1) / (len(labelled) - 1)
                stats[2] += 1
            for (ua, la), (ub, lb) in combinations(sorted(labelled), 2):
                pair_tables[(ua, ub)][(la, lb)] += 1

    pairs = []
    for (ua, ub), table in pair_tables.items():
        shared = sum(table.values())
        if shared < min_pair_items:
            continue
        pairs.append({"annotator_a": ua, "annotator_b": ub, "items": shared,
                      "kappa": _round(cohen_kappa(table.elements()))})
    pairs.sort(key=lambda p: (-p["items"], p["annotator_a"], p["annotator_b"]))
    kappas = [p["kappa"] for p in pairs if p["kappa"] is not None]

    criteria = []
    cj = CriterionJudgment.objects.filter(judgment__item__project=project)
    if rubric_version_id is not None:
        cj = cj.filter(judgment__rubric_version_id=rubric_version_id)
    accumulators: dict[int, AlphaAccumulator] = defaultdict(AlphaAccumulator)
    values = (
        cj.values("response_id", "criterion_id", "value").annotate(n=Count("id"))
        .order_by("response_id", "criterion_id").values_list("response_id", "criterion_id", "value", "n")
        .iterator(chunk_size=5000)
    )
    for (_response, criterion_id), group in groupby(values, key=lambda r: (r[0], r[1])):
        accumulators[criterion_id].add_unit([v for _r, _c, v, n in group for _ in range(n)])
    if accumulators:
        for c in Criterion.objects.filter(pk__in=list(accumulators)).select_related("version__rubric_set") \
                .order_by("version_id", "position", "id"):
            acc = accumulators[c.pk]
            level = LEVEL_FOR_SCALE.get(c.scale, "interval")
            criteria.append({
                "key": c.key, "title": c.title, "scale": c.scale, "level": level,
                "rubric_version": f"{c.version.rubric_set.slug}@v{c.version.number}",
                "alpha": _round(acc.alpha(level)), "units": acc.pairable_units,
            })

    return {
        "project": project.pk,
        "rubric_version": rubric_version_id,
        "items": items,
        "judgments": judgments,
        "annotators": len(annotators),
        "items_with_overlap": fleiss.items,
        "winner": {
            "percent_agreement": _round(fleiss.percent_agreement()),
            "krippendorff_alpha_nominal": _round(winner_alpha.alpha("nominal")),
            "fleiss_kappa": _round(fleiss.kappa()),
        },
        "strength": {
            "krippendorff_alpha_ordinal": _round(strength_alpha.alpha("ordinal")),
            "krippendorff_alpha_interval": _round(strength_alpha.alpha("interval")),
            "units": strength_alpha.pairable_units,
        },
        "pairwise_cohen_kappa": {
            "min_items": min_pair_items,
            "mean": _round(sum(kappas) / len(kappas)) if kappas else None,
            "pairs": pairs[:max_pairs],
            "pairs_total": len(pairs),
        },
        "annotators_agreement": sorted(
            ({"annotator": u, "judgments": int(s[0]),
              "agreement_with_others": _round(s[1] / s[2]) if s[2] else None, "shared_items": int(s[2])}
             for u, s in per_annotator.items()),
            key=lambda a: a["annotator"],
        ),
        "criteria": criteria,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
