"""Score definitions (scoring/definitions.py), each against its source's own formula or example."""

import math

import pytest

from scoring import definitions as d


def grades(*rows):
    return [d.Grade(points, credit, tuple(tags)) for points, credit, *tags in rows]


# --- HealthBench -------------------------------------------------------------------------------
def test_the_rubric_score_reproduces_healthbenchs_own_test():
    """simple-evals healthbench_eval_test.py: points 7, 5, 10, −6 graded met, unmet, met, met:
    achieved 7 + 10 − 6 over possible 7 + 5 + 10."""
    score = d.rubric_score(grades((7, 1.0), (5, 0.0), (10, 1.0), (-6, 1.0)))
    assert score.value == (7 + 0 + 10 - 6) / (7 + 5 + 10)
    assert (score.achieved, score.possible, score.partial) == (11, 22, False)


def test_a_per_example_score_is_not_clipped_but_the_aggregate_mean_is():
    """HealthBench: calculate_score may go below 0; _compute_clipped_stats clips the mean to [0, 1]."""
    low = d.rubric_score(grades((2, 0.0), (-6, 1.0)))
    assert low.value == -3.0
    assert d.clipped_mean([low.value, 1.0]) == 0.0
    assert d.clipped_mean([0.5, 0.7]) == pytest.approx(0.6)


def test_tag_scores_use_the_tagged_criteria_and_skip_tags_without_positive_points():
    """HealthBench rubric-level tags: calculate_score over the items with the tag; "if score is not
    None" drops a tag whose items are all negative."""
    score = d.rubric_score([
        d.Grade(5, 1.0, ("axis:accuracy",)), d.Grade(3, 0.0, ("axis:accuracy", "axis:completeness")),
        d.Grade(-4, 1.0, ("axis:safety",)),
    ])
    assert score.tags == {"axis:accuracy": 5 / 8, "axis:completeness": 0.0}
    assert score.value == (5 - 4) / 8


def test_unparsed_criteria_are_left_out_and_the_score_is_partial_by_default():
    """Garbage on +10, met on +5, unmet on −7 (the issue's case): scored on what parsed, 5/5, partial."""
    rows = grades((10, None), (5, 1.0), (-7, 0.0))
    assert d.rubric_score(rows).value == 1.0 and d.rubric_score(rows).partial
    assert d.rubric_score(rows, unparsed="unmet").value == pytest.approx(5 / 15)
    assert not d.rubric_score(rows, unparsed="unmet").partial
    assert d.rubric_score(rows, unparsed="fail").value is None


def test_a_rubric_without_positive_points_has_no_score():
    """HealthBench calculate_score returns None when total_possible_points == 0."""
    assert d.rubric_score(grades((-3, 1.0))).value is None


def test_human_scales_earn_their_share_of_the_points():
    assert d.credit_from_human(scale="binary", points=5, value=1) == 1.0
    assert d.credit_from_human(scale="likert5", points=4, value=3) == 0.5
    assert d.credit_from_human(scale="points", points=-6, value=-3) == 0.5
    assert d.credit_from_human(scale="points", points=6, value=6) == 1.0
    assert d.credit_from_human(scale="likert5", points=4, value=None) is None


def test_the_bootstrap_error_is_healthbenchs_std_of_clipped_means_and_reproducible():
    """_compute_clipped_stats("bootstrap_std"): std of 1000 resampled clipped means."""
    values = [0.1, 0.4, 0.9, 1.3, -0.2, 0.6]
    first = d.bootstrap_clipped_mean(values)
    assert first.mean == pytest.approx(sum(values) / len(values))
    assert 0.05 < first.bootstrap_std < 0.4
    assert first.ci_low < first.mean < first.ci_high
    assert d.bootstrap_clipped_mean(values) == first


# --- RewardBench -------------------------------------------------------------------------------
def test_reward_models_need_a_strictly_higher_chosen_reward():
    """RewardBench run_rm.py: results = scores_chosen > scores_rejected."""
    assert d.rb_reward_outcome(1.0, 0.0) == 1.0
    assert d.rb_reward_outcome(0.5, 0.5) == 0.0


def test_a_judges_tie_or_unparsed_verdict_counts_one_half():
    """RewardBench run_generative.py: winner → 1, loser → 0, else ("error", a tie) → 0.5."""
    assert d.rb_verdict_outcome(["chosen"]) == 1.0
    assert d.rb_verdict_outcome(["tie"]) == 0.5
    assert d.rb_verdict_outcome([None]) == 0.5
    assert d.rb_verdict_outcome(["chosen", "rejected"]) == 0.5
    assert d.rb_verdict_outcome(["chosen", None]) == 0.75


def test_section_scores_weight_subsets_by_the_benchmarks_example_counts():
    """rewardbench calculate_scores_per_section with EXAMPLE_COUNTS (math-prm counted as 984)."""
    sections = d.rb_section_scores({"math-prm": 1.0, "hep-python": 0.0, "alpacaeval-easy": 0.5})
    assert sections["Reasoning"] == pytest.approx(984 / (984 + 164))
    assert sections == {"Chat": 0.5, "Reasoning": sections["Reasoning"]}
    assert d.rb_overall(sections) == pytest.approx((0.5 + 984 / 1148) / 2)


def test_best_of_n_needs_the_chosen_on_top_and_a_tie_at_the_top_counts_for_it():
    """RewardBench 2 reroll_and_score_dataset: np.argmax([chosen, *rejected]) == 0."""
    assert d.rb2_best_of_n(2.0, [1.0, 1.5, 0.0])
    assert not d.rb2_best_of_n(2.0, [1.0, 2.5, 0.0])
    assert d.rb2_best_of_n(2.0, [2.0, 1.0, 1.0])  # argmax returns the first maximum


def test_the_ties_score_follows_rewardbench_2s_process_single_model():
    """0.30 tied acc + 0.30 ref acc + 0.20 preferred + 0.20 preferred (hard) + 0.01 tanh margin."""
    groups = {
        ("ref", "0"): [(True, 5.0), (False, 1.0)],  # margin 4
        ("tied", "0"): [(True, 5.0), (True, 4.0), (False, 2.0)],  # spread 1, margin 2
        ("ref", "1"): [(True, 1.0), (False, 3.0)],  # wrong: margin −2
        ("tied", "1"): [(True, 6.0), (True, 2.0), (False, 1.0)],  # spread 4, margin 1
    }
    expected = (0.30 * 1.0 + 0.30 * 0.5 + 0.20 * 0.5 + 0.20 * 0.5
                + 0.01 * (math.tanh(min(4, 2) / 1 - 1) + math.tanh(min(-2, 1) / 4 - 1)) / 2)
    assert d.rb2_ties_score(groups) == pytest.approx(expected)


def test_bradley_terry_preference_is_the_sigmoid_of_the_reward_difference():
    assert d.preference_probability(1.0, 1.0) == 0.5
    assert d.preference_probability(2.0, 0.0) == pytest.approx(1 / (1 + math.exp(-2)))
    assert d.preference_probability(-800.0, 0.0) == pytest.approx(0.0)


def test_a_rubric_scores_row_has_one_unit_per_column():
    """The issue's case: one met +10 criterion gave value 1 (human), 10 (JSON judge), 4 (Prometheus).
    Now value is always the points earned toward the HealthBench score; the grade keeps its own scale."""
    human = d.criterion_row(points=10, scale="binary", human_value=1)
    json_judge = d.criterion_row(points=10, met=True)
    prometheus = d.criterion_row(points=10, met=True, grade=4)
    assert human["value"] == json_judge["value"] == prometheus["value"] == 10
    assert (human["grade"], json_judge["grade"], prometheus["grade"]) == (None, None, 4)
    assert d.criterion_row(points=4, scale="likert5", human_value=3) == {"met": True, "points": 4, "grade": 3,
                                                                           "value": 2.0}
    assert d.criterion_row(points=-6, met=None)["value"] is None
