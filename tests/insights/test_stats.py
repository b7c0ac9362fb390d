"""The statistics on aggregated counts against their row-level references (scipy, choix, statsmodels)."""

from collections import Counter

import choix
import numpy as np
import pytest
from scipy.stats import spearmanr
from statsmodels.stats.proportion import proportion_confint

from insights.stats import (
    bradley_terry,
    bradley_terry_interval,
    fit_criterion_weights,
    median_from_bins,
    spearman_from_counts,
    time_bin,
    wilson_interval,
)


def test_spearman_from_a_frequency_table_equals_scipy_on_the_expanded_pairs():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 6, size=500).astype(float)
    y = np.clip(x + rng.integers(-2, 3, size=500), 1, 5) / 2
    table = Counter(zip(x.tolist(), y.tolist(), strict=True))
    assert spearman_from_counts(table) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_is_undefined_without_variation():
    assert spearman_from_counts({(1.0, 2.0): 10}) is None
    assert spearman_from_counts({(1.0, 2.0): 1, (2.0, 3.0): 1}) is None  # fewer than three pairs


def test_wilson_interval_equals_statsmodels():
    for k, n in [(0, 10), (7, 10), (46, 60), (60, 60)]:
        assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-6)


def test_the_median_time_from_the_histogram_is_within_one_percent():
    rng = np.random.default_rng(2)
    times = rng.lognormal(mean=10.3, sigma=0.8, size=20_000).astype(int)
    bins = Counter(time_bin(t) for t in times.tolist())
    assert median_from_bins(bins) == pytest.approx(float(np.median(times)), rel=0.01)


def _simulate(rng, strengths, n, nu=0.0):
    """Davidson's model: comparisons of random pairs; returns {(i, j): [wins i, wins j, ties]} and rows."""
    table, rows = {}, []
    k = len(strengths)
    pi = np.exp(strengths)
    for _ in range(n):
        i, j = sorted(rng.choice(k, 2, replace=False))
        tie = nu * np.sqrt(pi[i] * pi[j])
        d = pi[i] + pi[j] + tie
        u = rng.random() * d
        outcome = 0 if u < pi[i] else 1 if u < pi[i] + pi[j] else 2
        table.setdefault((int(i), int(j)), [0, 0, 0])[outcome] += 1
        if outcome < 2:
            rows.append((int(i), int(j)) if outcome == 0 else (int(j), int(i)))
    return table, rows


def test_bradley_terry_without_ties_is_choix_maximum_likelihood():
    rng = np.random.default_rng(11)
    table, rows = _simulate(rng, np.array([0.8, 0.2, -0.1, -0.9]), 1500)
    theta, nu = bradley_terry(table, 4, alpha=0.01)
    reference = choix.opt_pairwise(4, rows, alpha=0.01)
    assert nu == 0.0
    np.testing.assert_allclose(theta, reference - reference.mean(), atol=1e-5)


def test_bradley_terry_with_ties_recovers_known_strengths_and_the_tie_parameter():
    truth = np.array([1.0, 0.4, 0.0, -0.3, -1.1])
    truth = truth - truth.mean()
    rng = np.random.default_rng(21)
    table, _rows = _simulate(rng, truth, 20_000, nu=0.6)
    theta, low, high, nu = bradley_terry_interval(table, 5, replicates=100, rng=rng)
    np.testing.assert_allclose(theta, truth, atol=0.06)
    assert nu == pytest.approx(0.6, abs=0.05)
    assert list(np.argsort(-theta)) == [0, 1, 2, 3, 4]
    assert np.mean((low <= truth) & (truth <= high)) >= 0.8
    assert np.all(high - low < 0.2)


def test_the_fitted_weights_rank_an_informative_criterion_above_noise():
    # Criterion 0 decides most preferences; criterion 1 is noise; criterion 2 is a near copy of 0.
    rng = np.random.default_rng(8)
    patterns = {}
    for _ in range(3000):
        d0 = rng.choice([-1.0, 0.0, 1.0])
        d1 = rng.choice([-1.0, 0.0, 1.0])
        d2 = d0 if rng.random() < 0.9 else -d0
        second_wins = rng.random() < 1 / (1 + np.exp(-(2.5 * d0)))
        cell = patterns.setdefault((d0, d1, d2), [0, 0])
        cell[0 if second_wins else 1] += 1
    weights = fit_criterion_weights(patterns, 3)
    assert weights[0] > 3 * abs(weights[1])
    assert weights[2] > abs(weights[1])
    assert fit_criterion_weights({(1.0,): [5, 0]}, 1) is not None  # mirrored rows give both outcomes
    assert fit_criterion_weights({}, 1) is None
