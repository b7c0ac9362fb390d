"""Inter-annotator agreement: Krippendorff's α, Cohen's κ, Fleiss' κ, with bootstrap intervals.

Krippendorff's α follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": values
are paired within units into a coincidence matrix, each pair weighted 1/(m_u − 1), and
α = 1 − D_o / D_e with the difference function of the level of measurement (nominal, ordinal,
interval, ratio). Units with fewer than two values are not pairable and are left out. The
accumulators take one unit at a time, so a project's report streams its judgments with flat memory.

Fleiss' κ allows a different number of raters per item (the per-item agreement uses n_i):
P_i = Σ_j n_ij (n_ij − 1) / (n_i (n_i − 1)), P̄ = mean P_i, p_j = Σ_i n_ij / Σ_i n_i,
P_e = Σ_j p_j², κ = (P̄ − P_e) / (1 − P_e). With a constant n it is Fleiss' (1971) statistic.

Bootstrap intervals resample items (units) with replacement, from compact sufficient statistics
kept while streaming, so memory never grows with the number of judgments:

- α and Fleiss' κ depend on each unit only through the multiset of values it received (its
  *pattern*); `UnitPatterns` counts patterns, and a bootstrap sample of N units is a multinomial
  draw of N over the observed patterns — exactly the nonparametric bootstrap over units;
- Cohen's κ of two raters depends only on their contingency table; resampling their shared items
  is a multinomial draw over the table's cells (`kappa_interval`).

Intervals are percentile intervals (2.5 %, 97.5 %) of the replicates that are defined.
Every statistic is None when it is undefined (no pairable data, or no variation at all).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations

import numpy as np

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
        expected = sum(marginals[c] * marginals[k] * delta(c, k) for c, k in combinations(values, 2)) * 2 / (n - 1)
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


# --- Bootstrap from compact statistics --------------------------------------------------------

BOOTSTRAP_REPLICATES = 1000
# Beyond this many distinct unit patterns (continuous "points" scores) the bootstrap is skipped:
# the point estimate stays exact, the interval is reported as missing.
MAX_PATTERNS = 50_000


def _interval(replicates: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    finite = replicates[np.isfinite(replicates)]
    # Fewer than 95 % of the replicates defined: an interval over the rest would be biased.
    if finite.size < 0.95 * replicates.size or finite.size == 0:
        return None, None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def _delta_matrix(level: str, values: np.ndarray, marginals: np.ndarray) -> np.ndarray:
    """δ²(c, k) for every pair of categories; `marginals` (…, K) gives the ordinal distances per replicate."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ratio":
        s = values[:, None] + values[None, :]
        d = values[:, None] - values[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s == 0, 0.0, (d / np.where(s == 0, 1, s)) ** 2)
    # Ordinal: (Σ_{g between c and k, inclusive} n_g − (n_c + n_k) / 2)², values sorted ascending.
    cumulative = np.cumsum(marginals, axis=-1)
    hi = cumulative[..., None, :]  # Σ n_g for g ≤ k
    lo = (cumulative - marginals)[..., :, None]  # Σ n_g for g < c
    between = np.abs(hi - lo)
    # For c > k the same count, read the other way round.
    upper = np.triu(np.ones((len(values), len(values)), dtype=bool))
    between = np.where(upper, between, np.swapaxes(between, -1, -2))
    half = (marginals[..., :, None] + marginals[..., None, :]) / 2
    return (between - half) ** 2


def alpha_from_coincidences(coincidences: np.ndarray, values: np.ndarray, level: str) -> np.ndarray:
    """α for one (K, K) or many (B, K, K) coincidence matrices over the sorted `values`; NaN if undefined."""
    o = np.asarray(coincidences, dtype=float)
    marginals = o.sum(axis=-1)
    n = marginals.sum(axis=-1)
    delta = _delta_matrix(level, values, marginals)
    observed = (o * delta).sum(axis=(-1, -2))
    expected = (marginals[..., :, None] * marginals[..., None, :] * delta).sum(axis=(-1, -2))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where((expected > 0) & (n > 1), alpha, np.nan)


class UnitPatterns:
    """Units counted by the multiset of values they received: enough for α and Fleiss' κ, and for
    bootstrapping both over units. Units with fewer than two values are not pairable (left out)."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()

    def add_unit(self, values: Iterable[Hashable | None]) -> None:
        present = [v for v in values if v is not None]
        if len(present) < 2:
            return
        try:
            pattern = tuple(sorted(present))
        except TypeError:  # labels of mixed types
            pattern = tuple(sorted(present, key=_sort_key))
        self.counts[pattern] += 1

    def update(self, other: UnitPatterns) -> None:
        self.counts.update(other.counts)

    @property
    def units(self) -> int:
        return sum(self.counts.values())

    def _arrays(self):
        patterns = list(self.counts)
        values = sorted({v for p in patterns for v in p}, key=_sort_key)
        index = {v: i for i, v in enumerate(values)}
        k = len(values)
        # Per pattern: its coincidence matrix (pairs within the unit, weighted 1/(m − 1)) and the
        # per-category counts (Fleiss).
        coincidence = np.zeros((len(patterns), k, k))
        categories = np.zeros((len(patterns), k))
        for row, pattern in enumerate(patterns):
            counts = Counter(index[v] for v in pattern)
            m = len(pattern)
            for c, n_c in counts.items():
                categories[row, c] = n_c
                for q, n_q in counts.items():
                    coincidence[row, c, q] = (n_c * (n_c - 1) if c == q else n_c * n_q) / (m - 1)
        weights = np.array([self.counts[p] for p in patterns], dtype=float)
        return values, coincidence, categories, weights

    @staticmethod
    def _numeric(values: list) -> np.ndarray | None:
        try:
            return np.array([float(v) for v in values])
        except (TypeError, ValueError):
            return None

    def _replicates(self, weights: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
        n = int(weights.sum())
        return rng.multinomial(n, weights / weights.sum(), size=replicates).astype(float)

    def alpha(self, level: str = "nominal", *, replicates: int = 0, rng: np.random.Generator | None = None) -> dict:
        """{"value", "low", "high", "units"}: α at `level`, with a bootstrap interval when `replicates`."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        out = {"value": None, "low": None, "high": None, "units": self.units}
        if not self.counts:
            return out
        values, coincidence, _categories, weights = self._arrays()
        if level == "nominal":
            axis = np.arange(len(values), dtype=float)
        else:
            axis = self._numeric(values)
            if axis is None:
                raise ValueError(f"{level} α needs numbers")
        flat = coincidence.reshape(len(weights), -1)
        k = len(values)
        point = alpha_from_coincidences((weights @ flat).reshape(k, k), axis, level)
        out["value"] = None if np.isnan(point) else float(point)
        if replicates and out["value"] is not None and len(weights) <= MAX_PATTERNS:
            rng = rng or np.random.default_rng(0)
            sample = self._replicates(weights, replicates, rng) @ flat
            out["low"], out["high"] = _interval(alpha_from_coincidences(sample.reshape(-1, k, k), axis, level))
        return out

    def fleiss(self, *, replicates: int = 0, rng: np.random.Generator | None = None) -> dict:
        """{"value", "low", "high", "percent_agreement", "units"}: Fleiss' κ and mean pairwise agreement."""
        out = {"value": None, "low": None, "high": None, "percent_agreement": None, "units": self.units}
        if not self.counts:
            return out
        _values, _coincidence, categories, weights = self._arrays()
        m = categories.sum(axis=1)
        p_i = (categories * (categories - 1)).sum(axis=1) / (m * (m - 1))

        def kappa(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            items = w.sum(axis=-1)
            p_bar = (w @ p_i) / items
            totals = w @ categories
            p_j = totals / totals.sum(axis=-1, keepdims=True)
            p_e = (p_j**2).sum(axis=-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(p_e < 1, (p_bar - p_e) / (1 - p_e), np.nan)
            return value, p_bar

        value, p_bar = kappa(weights)
        out["percent_agreement"] = float(p_bar)
        out["value"] = None if np.isnan(value) else float(value)
        if replicates and out["value"] is not None and len(weights) <= MAX_PATTERNS:
            rng = rng or np.random.default_rng(0)
            sample, _ = kappa(self._replicates(weights, replicates, rng))
            out["low"], out["high"] = _interval(sample)
        return out


def kappa_interval(
    table: Mapping[tuple[Hashable, Hashable], int],
    *,
    weights: str | None = None,
    replicates: int = BOOTSTRAP_REPLICATES,
    rng: np.random.Generator | None = None,
) -> dict:
    """{"value", "low", "high", "items"}: Cohen's κ of a contingency table {(label_a, label_b): n},
    with a bootstrap interval over the shared items (a multinomial draw over the cells).

    `weights`: None (nominal), "linear" or "quadratic" (labels are numbers; weights by distance).
    """
    items = int(sum(table.values()))
    out = {"value": None, "low": None, "high": None, "items": items}
    if not items:
        return out
    value = cohen_kappa(Counter(table).elements(), weights)
    out["value"] = value
    if value is None or not replicates:
        return out
    categories = sorted({a for a, _ in table} | {b for _, b in table}, key=_sort_key)
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    cells = list(table)
    probs = np.array([table[c] for c in cells], dtype=float) / items
    rng = rng or np.random.default_rng(0)
    draws = rng.multinomial(items, probs, size=replicates).astype(float)
    tables = np.zeros((replicates, k, k))
    for j, (a, b) in enumerate(cells):
        tables[:, index[a], index[b]] += draws[:, j]
    if weights is None:
        w = 1.0 - np.eye(k)
    else:
        axis = np.array([float(c) for c in categories])
        span = axis.max() - axis.min()
        d = np.abs(axis[:, None] - axis[None, :]) / (span or 1)
        w = d if weights == "linear" else d * d
    rows, cols = tables.sum(axis=2) / items, tables.sum(axis=1) / items
    observed = (tables / items * w).sum(axis=(1, 2))
    expected = (rows[:, :, None] * cols[:, None, :] * w).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        sample = np.where(expected > 0, 1 - observed / expected, np.nan)
    out["low"], out["high"] = _interval(sample)
    return out
