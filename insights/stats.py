"""The statistics of Insights other than agreement, each on compact counts gathered while streaming.

Every function here takes counts (tables, histograms, aggregated comparisons), never rows, so the
computation over a million judgments keeps flat memory; each is checked in tests/insights against
a reference (scipy, scikit-learn, choix) on the equivalent row-level data.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping

import numpy as np

# --- Rank correlation from a joint frequency table --------------------------------------------


def _midranks(values: list[float], counts: list[float]) -> dict[float, float]:
    """Average rank (1-based) of each distinct value, given how often each occurs."""
    ranks, below = {}, 0.0
    for value, n in sorted(zip(values, counts, strict=True)):
        ranks[value] = below + (n + 1) / 2
        below += n
    return ranks


def spearman_from_counts(table: Mapping[tuple[float, float], float]) -> float | None:
    """Spearman's ρ (average ranks for ties) of paired data given as {(x, y): count}.

    Equal to scipy.stats.spearmanr on the expanded pairs; None below three pairs or without variation.
    """
    total = float(sum(table.values()))
    if total < 3:
        return None
    xs: dict[float, float] = {}
    ys: dict[float, float] = {}
    for (x, y), n in table.items():
        xs[x] = xs.get(x, 0.0) + n
        ys[y] = ys.get(y, 0.0) + n
    rx, ry = _midranks(list(xs), list(xs.values())), _midranks(list(ys), list(ys.values()))
    keys = list(table)
    w = np.array([table[k] for k in keys], dtype=float)
    a = np.array([rx[k[0]] for k in keys])
    b = np.array([ry[k[1]] for k in keys])
    ma, mb = (w @ a) / total, (w @ b) / total
    cov = w @ ((a - ma) * (b - mb))
    va, vb = w @ (a - ma) ** 2, w @ (b - mb) ** 2
    if va <= 0 or vb <= 0:
        return None
    return float(cov / math.sqrt(va * vb))


# --- Proportions -------------------------------------------------------------------------------


def wilson_interval(successes: float, n: float, z: float = 1.959964) -> tuple[float | None, float | None]:
    """Wilson's 95 % score interval for a proportion (sound at 0 and 1, unlike the normal one)."""
    if n <= 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_p_value(successes: int, n: int, p: float = 0.5) -> float | None:
    """Two-sided exact binomial test (scipy.stats.binomtest)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(int(successes), int(n), p).pvalue)


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


# --- Time per item: a median from a log-spaced histogram --------------------------------------

TIME_BIN_RATIO = 1.02  # bins 2 % wide: the median is read to within 1 %
TIME_MIN_MS = 100.0
TIME_BINS = int(math.log(24 * 3600 * 1000 / TIME_MIN_MS) / math.log(TIME_BIN_RATIO)) + 2


def time_bin(ms: int) -> int:
    if ms <= TIME_MIN_MS:
        return 0
    return min(TIME_BINS - 1, 1 + int(math.log(ms / TIME_MIN_MS) / math.log(TIME_BIN_RATIO)))


def median_from_bins(bins: Mapping[int, int]) -> float | None:
    """The median time (ms) of a histogram built with `time_bin` (the bin's geometric centre)."""
    total = sum(bins.values())
    if not total:
        return None
    seen = 0
    for b in sorted(bins):
        seen += bins[b]
        if seen * 2 >= total:
            if b == 0:
                return TIME_MIN_MS
            return TIME_MIN_MS * TIME_BIN_RATIO ** (b - 0.5)
    return None  # pragma: no cover - unreachable


# --- Calibration of σ(r_A − r_B) against the human win rate -----------------------------------

CALIBRATION_BINS = 10


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def calibration_bin(p: float) -> int:
    return min(CALIBRATION_BINS - 1, int(p * CALIBRATION_BINS))


def calibration_rows(bins: Mapping[int, list[float]]) -> tuple[list[dict], float | None]:
    """Rows of a reliability diagram from {bin: [n, Σ predicted, Σ observed]}, and the expected
    calibration error (Σ_b n_b |observed_b − predicted_b| / N)."""
    rows, total, gap = [], 0.0, 0.0
    for b in range(CALIBRATION_BINS):
        n, sum_p, sum_y = bins.get(b, (0, 0.0, 0.0))
        if not n:
            continue
        predicted, observed = sum_p / n, sum_y / n
        lo, hi = wilson_interval(sum_y, n)
        rows.append(
            {
                "bin": f"{b / CALIBRATION_BINS:.1f}–{(b + 1) / CALIBRATION_BINS:.1f}",
                "pairs": int(n),
                "predicted": predicted,
                "observed": observed,
                "observed_low": lo,
                "observed_high": hi,
            }
        )
        total += n
        gap += n * abs(observed - predicted)
    return rows, (gap / total if total else None)


# --- Bradley–Terry with ties (Davidson 1970) ----------------------------------------------------


def _bt_arrays(comparisons: Mapping[tuple[int, int], Iterable[float]]):
    keys = [k for k, v in comparisons.items() if sum(v)]
    i = np.array([k[0] for k in keys], dtype=int)
    j = np.array([k[1] for k in keys], dtype=int)
    counts = np.array([list(comparisons[k]) for k in keys], dtype=float).reshape(len(keys), 3)
    return i, j, counts


def _bt_fit(
    i: np.ndarray,
    j: np.ndarray,
    counts: np.ndarray,
    n_players: int,
    *,
    alpha: float,
    with_ties: bool,
    initial: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Newton's method on the penalised log-likelihood (concave: each pair's outcome is a softmax
    over the logits u = (θ_i, θ_j, log ν + (θ_i + θ_j) / 2), linear in the parameters)."""
    k = len(i)
    dim = n_players + (1 if with_ties else 0)
    outcomes = 3 if with_ties else 2
    # J[pair, outcome, parameter]: how each logit moves with each parameter.
    jac = np.zeros((k, outcomes, dim))
    rows = np.arange(k)
    jac[rows, 0, i] = 1.0
    jac[rows, 1, j] = 1.0
    if with_ties:
        jac[rows, 2, i] = 0.5
        jac[rows, 2, j] += 0.5
        jac[:, 2, n_players] = 1.0
    observed = counts[:, :outcomes]
    n = counts.sum(axis=1)
    penalty = np.zeros(dim)
    penalty[:n_players] = alpha

    def evaluate(x):
        u = jac @ x
        log_d = np.logaddexp.reduce(u, axis=1)
        value = float((observed * u).sum() - n @ log_d - penalty @ (x * x))
        return value, u, log_d

    x = np.zeros(dim)
    if initial is not None:
        x[: min(dim, len(initial))] = initial[:dim]
    value, u, log_d = evaluate(x)
    for _ in range(100):
        p = np.exp(u - log_d[:, None])
        residual = observed - n[:, None] * p
        grad = np.einsum("ko,kod->d", residual, jac) - 2 * penalty * x
        # −∂²: Jᵀ n (diag p − p pᵀ) J, plus the prior.
        weighted = n[:, None, None] * (p[:, :, None] * np.eye(outcomes) - p[:, :, None] * p[:, None, :])
        hessian = np.einsum("kod,koe,kef->df", jac, weighted, jac) + np.diag(2 * penalty)
        hessian[np.diag_indices(dim)] += 1e-12
        step = np.linalg.solve(hessian, grad)
        t = 1.0
        while True:
            candidate = x + t * step
            new_value, new_u, new_log_d = evaluate(candidate)
            if new_value >= value - 1e-12 or t < 1e-6:
                break
            t /= 2
        x, value, u, log_d = candidate, new_value, new_u, new_log_d
        if np.abs(t * step).max() < 1e-9:
            break
    theta = x[:n_players]
    nu = float(np.exp(x[n_players])) if with_ties else 0.0
    return theta - theta.mean(), nu


def bradley_terry(
    comparisons: Mapping[tuple[int, int], Iterable[float]],
    n_players: int,
    *,
    alpha: float = 0.01,
) -> tuple[np.ndarray, float]:
    """Maximum a-posteriori strengths of the Bradley–Terry model with Davidson's (1970) ties.

    `comparisons` maps (i, j) → (wins of i, wins of j, ties). P(i ≻ j) = π_i / D, P(tie) = ν √(π_i π_j) / D,
    D = π_i + π_j + ν √(π_i π_j), θ = log π. `alpha` is the weight of an isotropic Gaussian prior
    (α Σ θ², as in choix), which keeps strengths finite when a player never loses. Without ties
    (ν = 0) this is exactly choix's `opt_pairwise`. Returns (θ centred on mean 0, ν).
    """
    i, j, counts = _bt_arrays(comparisons)
    if not len(i) or n_players < 2:
        return np.zeros(n_players), 0.0
    return _bt_fit(i, j, counts, n_players, alpha=alpha, with_ties=bool(counts[:, 2].sum() > 0))


def bradley_terry_interval(
    comparisons: Mapping[tuple[int, int], Iterable[float]],
    n_players: int,
    *,
    replicates: int = 200,
    rng: np.random.Generator | None = None,
    alpha: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(θ, low, high, ν): strengths with percentile 95 % intervals from resampling comparisons.

    Each comparison is one item, so resampling items is a multinomial draw over the cells
    (pair, outcome) of the aggregated table.
    """
    theta, nu = bradley_terry(comparisons, n_players, alpha=alpha)
    i, j, counts = _bt_arrays(comparisons)
    nan = np.full(n_players, np.nan)
    if not len(i) or n_players < 2:
        return theta, nan, nan, 0.0
    with_ties = bool(counts[:, 2].sum() > 0)
    total = int(counts.sum())
    if not replicates:
        return theta, nan, nan, nu
    rng = rng or np.random.default_rng(0)
    flat = counts.ravel()
    draws = rng.multinomial(total, flat / total, size=replicates).astype(float)
    start = np.append(theta, np.log(nu)) if with_ties and nu > 0 else theta
    samples = np.array(
        [
            _bt_fit(i, j, d.reshape(counts.shape), n_players, alpha=alpha, with_ties=with_ties, initial=start)[0]
            for d in draws
        ]
    )
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return theta, low, high, nu


# --- Suggested criterion weights ----------------------------------------------------------------


def fit_criterion_weights(
    patterns: Mapping[tuple[float, ...], list[float]], n_features: int, *, strength: float = 0.1
) -> np.ndarray | None:
    """Weights of an L2-regularised logistic regression of "response 2 preferred" on the criterion
    score differences (response 2 − response 1), fitted with scikit-learn on aggregated rows.

    `patterns` maps a difference vector → [times response 2 won, times response 1 won]. Each row
    also enters mirrored (−d, the other outcome), so the fit does not depend on the stored order
    and needs no intercept. `strength` is λ in mean log-loss + λ ‖w‖²: the ridge penalty shares
    weight among correlated criteria instead of giving it all to one. λ = 0.1 (on criterion scores
    scaled to 0..1) is strong enough that two near copies split their weight rather than one
    taking it with the other's sign flipped, and costs a point or two of fit. None without both
    outcomes.
    """
    rows, targets, weights = [], [], []
    for d, (wins_2, wins_1) in patterns.items():
        d = np.asarray(d, dtype=float)
        for x, y, w in ((d, 1, wins_2), (d, 0, wins_1), (-d, 0, wins_2), (-d, 1, wins_1)):
            if w:
                rows.append(x)
                targets.append(y)
                weights.append(w)
    if len(set(targets)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression

    x = np.array(rows).reshape(len(rows), n_features)
    w = np.array(weights, dtype=float)
    w /= w.sum()
    # sklearn minimises ½‖w‖² + C Σ sample_weight · loss; with weights summing to 1 that is
    # mean loss + ‖w‖² / (2C), so λ = 1 / (2C).
    model = LogisticRegression(C=1 / (2 * strength), fit_intercept=False, max_iter=1000)
    model.fit(x, np.array(targets), sample_weight=w)
    return model.coef_[0]


def agreement_with_preferences(
    patterns: Mapping[tuple[float, ...], list[float]], weights: Iterable[float]
) -> float | None:
    """Share of decided pairs whose weighted criterion difference picks the preferred response
    (a zero difference counts half)."""
    w = np.asarray(list(weights), dtype=float)
    right = total = 0.0
    for d, (wins_2, wins_1) in patterns.items():
        score = float(np.asarray(d, dtype=float) @ w)
        n = wins_2 + wins_1
        total += n
        if score > 0:
            right += wins_2
        elif score < 0:
            right += wins_1
        else:
            right += n / 2
    return right / total if total else None


def top_labels(counts: Mapping[Hashable, int]) -> Hashable | None:
    """The single most frequent label, or None when several share the top count (no majority)."""
    if not counts:
        return None
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ordered) > 1 and ordered[0][1] == ordered[1][1]:
        return None
    return ordered[0][0]
