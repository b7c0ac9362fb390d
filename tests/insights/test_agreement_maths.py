"""Agreement statistics of Insights against published examples, reference libraries and simulation."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from insights.agreement import (
    LEVELS,
    AlphaAccumulator,
    UnitPatterns,
    cohen_kappa,
    kappa_interval,
    krippendorff_alpha_matrix,
)

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers × 12 units.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@pytest.mark.parametrize("level", LEVELS)
def test_the_unit_patterns_reproduce_krippendorffs_worked_example_at_every_level(level):
    patterns = UnitPatterns()
    for unit in zip(*KRIPPENDORFF_2011, strict=True):
        patterns.add_unit(unit)
    result = patterns.alpha(level, replicates=200)
    assert round(result["value"], 3) == PUBLISHED[level]
    assert round(krippendorff_alpha_matrix(KRIPPENDORFF_2011, level), 3) == PUBLISHED[level]
    assert result["units"] == 11  # unit 12 has a single value
    assert result["low"] < result["value"] < result["high"]


def _random_units(rng, n_units, coders, categories, missing=0.3):
    units = []
    for _ in range(n_units):
        truth = rng.integers(len(categories))
        unit = []
        for _c in range(coders):
            if rng.random() < missing:
                unit.append(None)
            elif rng.random() < 0.6:
                unit.append(categories[truth])
            else:
                unit.append(categories[rng.integers(len(categories))])
        units.append(unit)
    return units


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_from_unit_patterns_equals_the_unit_by_unit_accumulator(level):
    rng = np.random.default_rng(3)
    units = _random_units(rng, 300, 4, [1, 2, 3, 4, 5])
    patterns, accumulator = UnitPatterns(), AlphaAccumulator()
    for unit in units:
        patterns.add_unit(unit)
        accumulator.add_unit(unit)
    assert patterns.alpha(level)["value"] == pytest.approx(accumulator.alpha(level), abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cohen_kappa_equals_scikit_learn_on_random_data(weights, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 4, size=400)
    b = np.where(rng.random(400) < 0.5, a, rng.integers(-3, 4, size=400))
    expected = cohen_kappa_score(a, b, weights=weights, labels=list(range(-3, 4)))
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    assert cohen_kappa(pairs, weights) == pytest.approx(expected, abs=1e-12)
    table = {}
    for pair in pairs:
        table[pair] = table.get(pair, 0) + 1
    assert kappa_interval(table, weights=weights, replicates=0)["value"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_fleiss_kappa_and_percent_agreement_equal_statsmodels_on_random_data(seed):
    rng = np.random.default_rng(seed)
    units = _random_units(rng, 250, 5, ["1", "2", "tie", "both_bad"], missing=0)
    patterns = UnitPatterns()
    for unit in units:
        patterns.add_unit(unit)
    table, _categories = aggregate_raters(np.array(units))
    assert patterns.fleiss()["value"] == pytest.approx(statsmodels_fleiss(table), abs=1e-12)


def _coverage(simulate, truth, runs=200):
    hits = 0
    for seed in range(runs):
        low, high = simulate(np.random.default_rng(seed))
        hits += low is not None and low <= truth <= high
    return hits / runs


def test_the_kappa_interval_covers_the_true_kappa_about_95_percent_of_the_time():
    # Two raters, a known joint distribution of their labels: κ of the population is exact.
    joint = np.array([[0.30, 0.05, 0.05], [0.05, 0.25, 0.05], [0.02, 0.08, 0.15]])
    p_o = np.trace(joint)
    p_e = joint.sum(axis=1) @ joint.sum(axis=0)
    true_kappa = (p_o - p_e) / (1 - p_e)
    cells = [(i, j) for i in range(3) for j in range(3)]

    def simulate(rng):
        counts = rng.multinomial(200, joint.ravel())
        table = {cell: int(n) for cell, n in zip(cells, counts, strict=True) if n}
        result = kappa_interval(table, replicates=400, rng=rng)
        return result["low"], result["high"]

    coverage = _coverage(simulate, true_kappa)
    assert 0.89 <= coverage <= 0.99, coverage


def test_the_alpha_interval_covers_the_true_alpha_about_95_percent_of_the_time():
    # Three coders; each unit's true class is seen right with probability 0.7, else uniformly at random.
    # The population α is the limit of α on a very large sample (α's small-sample bias is O(1/n)).
    k, p_right = 3, 0.7

    def units(rng, n):
        truth = rng.integers(k, size=n)
        noise = rng.integers(k, size=(n, 3))
        right = rng.random((n, 3)) < p_right
        return np.where(right, truth[:, None], noise)

    big = UnitPatterns()
    for unit in units(np.random.default_rng(999), 200_000).tolist():
        big.add_unit(unit)
    true_alpha = big.alpha("nominal")["value"]

    def simulate(rng):
        patterns = UnitPatterns()
        for unit in units(rng, 150).tolist():
            patterns.add_unit(unit)
        result = patterns.alpha("nominal", replicates=400, rng=rng)
        return result["low"], result["high"]

    coverage = _coverage(simulate, true_alpha)
    assert 0.89 <= coverage <= 0.99, coverage
