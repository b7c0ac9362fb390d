"""Inter-annotator agreement: Krippendorff's α, Cohen's κ, Fleiss' κ, and a project report.

Krippendorff's α follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": values
are paired within units into a coincidence matrix, each pair weighted 1/(m_u − 1), and
α = 1 − D_o / D_e with the difference function of the level of measurement (nominal, ordinal,
interval, ratio). Units with fewer than two values are not pairable and are left out. The
accumulators take one unit at a time, so a project's report streams its judgments with flat memory.

Fleiss' κ allows a different number of raters per item (the per-item agreement uses n_i):
P_i = Σ_j n_ij (n_ij − 1) / (n_i (n_i − 1)), P̄ = mean P_i, p_j = Σ_i n_ij / Σ_i n_i,
P_e = Σ_j p_j², κ = (P̄ − P_e) / (1 − P_e). With a constant n it is Fleiss' (1971) statistic.

Every statistic is None when it is undefined (no pairable data, or no variation at all).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from itertools import combinations

LEVELS = ("nominal", "ordinal", "interval", "ratio")


class AlphaAccumulator:
    """Krippendorff's α, fed one unit (the values the coders gave it) at a time."""

    def __init__(self) -> None:
        self.coincidences: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
        self.pairable_units = 0
        self.pairable_values = 0

    def add_unit(self, values: Iterable[Hashable | None]) -> None:
        counts = Counter(v for v in values if v is not None)
        m = sum(counts.values())
        if m < 2:
            return
        self.pairable_units += 1
        self.pairable_values += m
        weight = 1.0 / (m - 1)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    self.coincidences[(c, k)] += pairs * weight

    def alpha(self, level: str = "nominal") -> float | None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        if not self.coincidences:
            return None
        marginals: dict[Hashable, float] = defaultdict(float)
        for (c, _k), o in self.coincidences.items():
            marginals[c] += o
        n = sum(marginals.values())
        if n <= 1:
            return None
        delta = _difference_function(level, marginals)
        observed = sum(o * delta(c, k) for (c, k), o in self.coincidences.items() if c != k)
        values = list(marginals)
        expected = sum(
            marginals[c] * marginals[k] * delta(c, k) for c, k in combinations(values, 2)
        ) * 2 / (n - 1)
        if expected == 0:
            return None
        return 1 - observed / expected


def _difference_function(level: str, marginals: dict[Hashable, float]):
    if level == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if level == "interval":
        return lambda c, k: (float(c) - float(k)) ** 2
    if level == "ratio":
        def ratio(c, k):
            c, k = float(c), float(k)
            return 0.0 if c + k == 0 else ((c - k) / (c + k)) ** 2
        return ratio
    # Ordinal: the distance between two ranks counts the values lying between them (Krippendorff
    # 2011, eq. for metric ordinal δ²): (Σ_{g=c..k} n_g − (n_c + n_k)/2)².
    ordered = sorted(marginals)
    cumulative: dict[Hashable, float] = {}
    running = 0.0
    for value in ordered:
        cumulative[value] = running  # Σ of n_g for g before this value
        running += marginals[value]

    def ordinal(c, k):
        lo, hi = (c, k) if cumulative[c] <= cumulative[k] else (k, c)
        between = cumulative[hi] + marginals[hi] - cumulative[lo]
        return (between - (marginals[lo] + marginals[hi]) / 2) ** 2

    return ordinal


def krippendorff_alpha(units: Iterable[Iterable[Hashable | None]], level: str = "nominal") -> float | None:
    """α for reliability data given unit by unit: each unit is the values coders gave it (None = missing)."""
    acc = AlphaAccumulator()
    for unit in units:
        acc.add_unit(unit)
    return acc.alpha(level)


def krippendorff_alpha_matrix(matrix: Sequence[Sequence[Hashable | None]], level: str = "nominal") -> float | None:
    """α for a coders × units matrix (one row per coder, None where a coder gave no value)."""
    return krippendorff_alpha(zip(*matrix, strict=True), level)


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]], weights: str | None = None) -> float | None:
    """Cohen's κ for two raters' labels on the same items.

    `weights` None: categories are nominal. "linear" or "quadratic": categories are ordered numbers
    and disagreements weigh |i − j| / (k − 1) or its square (weighted κ, Cohen 1968).
    """
    table = Counter(pairs)
    total = sum(table.values())
    if total == 0:
        return None
    rows: Counter = Counter()
    cols: Counter = Counter()
    for (a, b), n in table.items():
        rows[a] += n
        cols[b] += n
    categories = sorted(set(rows) | set(cols), key=_sort_key)
    if weights is None:
        p_o = sum(n for (a, b), n in table.items() if a == b) / total
        p_e = sum(rows[c] * cols[c] for c in categories) / total**2
        if p_e == 1:
            return None
        return (p_o - p_e) / (1 - p_e)
    if weights not in ("linear", "quadratic"):
        raise ValueError("weights must be None, 'linear' or 'quadratic'")
    lo, hi = min(map(float, categories)), max(map(float, categories))
    span = hi - lo
    if span == 0:
        return None

    def w(a, b):
        d = abs(float(a) - float(b)) / span
        return d if weights == "linear" else d * d

    observed = sum(n * w(a, b) for (a, b), n in table.items()) / total
    expected = sum(rows[a] * cols[b] * w(a, b) for a in categories for b in categories) / total**2
    if expected == 0:
        return None
    return 1 - observed / expected


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


class FleissAccumulator:
    """Fleiss' κ, fed one item's ratings (a list of labels) at a time; items with < 2 ratings are skipped."""

    def __init__(self) -> None:
        self.items = 0
        self.sum_p_i = 0.0
        self.category_totals: Counter = Counter()
        self.ratings = 0

    def add_item(self, labels: Iterable[Hashable]) -> None:
        counts = Counter(labels)
        n_i = sum(counts.values())
        if n_i < 2:
            return
        self.items += 1
        self.sum_p_i += sum(c * (c - 1) for c in counts.values()) / (n_i * (n_i - 1))
        self.category_totals.update(counts)
        self.ratings += n_i

    def percent_agreement(self) -> float | None:
        """Mean pairwise agreement P̄ (the share of rater pairs that agree, averaged over items)."""
        return self.sum_p_i / self.items if self.items else None

    def kappa(self) -> float | None:
        if not self.items:
            return None
        p_bar = self.sum_p_i / self.items
        p_e = sum((n / self.ratings) ** 2 for n in self.category_totals.values())
        if p_e == 1:
            return None
        return (p_bar - p_e) / (1 - p_e)


def fleiss_kappa(items: Iterable[Iterable[Hashable]]) -> float | None:
    """Fleiss' κ for items given as the list of labels each received."""
    acc = FleissAccumulator()
    for labels in items:
        acc.add_item(labels)
    return acc.kappa()


def fleiss_kappa_from_counts(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' κ from an items × categories table of rating counts (the textbook layout)."""
    return fleiss_kappa([j for j, n in enumerate(row) for _ in range(n)] for row in table)


def pairwise_agreement(labels: Sequence[Hashable]) -> float | None:
    """Share of pairs of ratings of one item that agree: Σ n_c (n_c − 1) / (n (n − 1)); None below 2."""
    n = len(labels)
    if n < 2:
        return None
    if n == 2:  # the common case (overlap 2), without building a Counter
        return 1.0 if labels[0] == labels[1] else 0.0
    counts = Counter(labels)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


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
