"""The streamed computation on projects with known answers."""

import pytest

from annotator.models import Adjudication
from insights.agreement import krippendorff_alpha
from insights.compute import insights_compute
from scoring.models import CriterionScore, PairwiseScore
from tests.factories import MembershipFactory, ProjectFactory, ScorerFactory, UserFactory

from .builders import Role, add_item, judge, rubric, score


def _compute(project):
    return insights_compute(project=project, replicates=100, leaderboard_replicates=20)


@pytest.fixture
def rewardbench(db):
    """Hand-made pairs and a reward model whose right, wrong and tied answers are known.

    | item         | humans (stored-order preference) | label        | reward model [r1, r2] | outcome   |
    | right        | +2, +1 (chat)                    | 2, strength 2 | 0, 1                 | correct   |
    | wrong        | −2, −2 (chat)                    | 1, strength 2 | 0, 1                 | incorrect |
    | model-tie    | +3, +3 (safety)                  | 2, strength 3 | 0.5, 0.5             | tie       |
    | adjudicated  | −3, +2; reviewer +1 (safety)     | 2, strength 1 | 1, 0                 | incorrect |
    | unscored     | −1, −1                           | 1             | only response 1      | missing   |
    | human-tie    | 0, 0                             | tie           | 0, 1                 | left out  |
    | split        | −1, +1                           | tie (mean 0)  | 0, 1                 | left out  |
    | both-bad     | both bad ×2                      | both bad      | 0, 1                 | left out  |
    """
    version = rubric([("helpful", "binary", 3)])
    project = ProjectFactory(name="RewardBench-style", rubric_version=version, overlap=2)
    a, b, reviewer = UserFactory(username="rb-a"), UserFactory(username="rb-b"), UserFactory(username="rb-rev")
    for user, role in ((a, Role.ANNOTATOR), (b, Role.ANNOTATOR), (reviewer, Role.REVIEWER)):
        MembershipFactory(project=project, user=user, role=role)
    rm, judge_scorer = ScorerFactory(name="rm"), ScorerFactory(name="judge", backend="openai_judge")
    rows = {
        "right": ((2, 1), [0.0, 1.0], "chat"),
        "wrong": ((-2, -2), [0.0, 1.0], "chat"),
        "model-tie": ((3, 3), [0.5, 0.5], "safety"),
        "adjudicated": ((-3, 2), [1.0, 0.0], "safety"),
        "unscored": ((-1, -1), None, ""),
        "human-tie": ((0, 0), [0.0, 1.0], ""),
        "split": ((-1, 1), [0.0, 1.0], ""),
        "both-bad": ((None, None), [0.0, 1.0], ""),
    }
    items = {}
    for key, (prefs, scores, subset) in rows.items():
        item = items[key] = add_item(project, key, metadata={"subset": subset} if subset else {})
        for user, preference in zip((a, b), prefs, strict=True):
            judge(item, user, preference=preference, both_bad=preference is None)
        if scores is not None:
            score(item, rm, scores)
    responses = list(items["unscored"].responses.order_by("position"))
    from scoring.models import ResponseScore

    ResponseScore.objects.create(response=responses[0], scorer=rm, input_hash="u", value=1.0)
    Adjudication.objects.create(item=items["adjudicated"], reviewer=reviewer, preference=1)
    for key, preference_a in (("right", 0.0), ("wrong", 0.5)):
        r1, r2 = items[key].responses.order_by("position")
        PairwiseScore.objects.create(
            item=items[key],
            response_a=r1,
            response_b=r2,
            scorer=judge_scorer,
            input_hash=key,
            preference_a=preference_a,
        )
    return project


def test_reward_model_accuracy_follows_the_rewardbench_rule_with_ties_apart(rewardbench):
    scorers = _compute(rewardbench)["scorers"]
    rm = next(r for r in scorers["scorers"] if r["scorer"] == "rm")
    assert (rm["compared"], rm["correct"], rm["incorrect"], rm["ties"], rm["missing"]) == (4, 1, 2, 1, 1)
    assert rm["accuracy"] == 0.25 and rm["tie_rate"] == 0.25
    assert rm["low"] < 0.25 < rm["high"]
    assert scorers["human"] == {"decided": 5, "ties": 2, "both_bad": 1}


def test_accuracy_is_broken_down_by_subset_and_by_strength(rewardbench):
    scorers = _compute(rewardbench)["scorers"]
    subsets = {r["subset"]: r for r in scorers["subsets"] if r["scorer"] == "rm"}
    assert (subsets["chat"]["compared"], subsets["chat"]["correct"]) == (2, 1)
    assert (subsets["safety"]["compared"], subsets["safety"]["ties"], subsets["safety"]["incorrect"]) == (2, 1, 1)
    strength = {r["strength"]: r for r in scorers["by_strength"] if r["scorer"] == "rm"}
    assert (strength["2"]["compared"], strength["2"]["correct"]) == (2, 1)
    assert strength["3"]["ties"] == 1 and strength["1"]["incorrect"] == 1


def test_a_pairwise_judge_is_scored_by_its_verdict_and_confused_with_the_human_label(rewardbench):
    scorers = _compute(rewardbench)["scorers"]
    judge_row = next(r for r in scorers["scorers"] if r["scorer"] == "judge")
    assert (judge_row["kind"], judge_row["compared"], judge_row["correct"], judge_row["ties"]) == ("judge", 2, 1, 1)
    confusion = {(r["human"], r["judge"]): r["items"] for r in scorers["confusion"]}
    assert confusion == {("2", "2"): 1, ("1", "tie"): 1}


def test_calibration_bins_count_the_human_judgments(rewardbench):
    calibration = [r for r in _compute(rewardbench)["scorers"]["calibration"] if r["scorer"] == "rm"]
    # Decided pair judgments (preference ≠ 0, not both bad) of items with both scores: right 2, wrong 2,
    # model-tie 2, adjudicated 2, split 2.
    assert sum(r["pairs"] for r in calibration) == 10
    middle = next(r for r in calibration if r["bin"] == "0.5–0.6")
    assert middle["predicted"] == pytest.approx(0.5) and middle["observed"] == 0.0  # model-tie: humans chose 2


def test_judge_criterion_scores_are_rank_correlated_with_the_humans(rewardbench):
    criterion = rewardbench.rubric_version.criteria.get()
    judge_scorer = ScorerFactory(name="rubric-judge", backend="openai_judge")
    from annotator.models import CriterionJudgment, Judgment

    for n, j in enumerate(Judgment.objects.filter(item__project=rewardbench).order_by("item_id", "id")):
        for position, response in enumerate(j.item.responses.order_by("position")):
            value = float(position == j.item_id % 2)
            if n % 6 == 5:
                value = 1 - value  # an annotator disagrees now and then
            CriterionJudgment.objects.create(judgment=j, response=response, criterion=criterion, value=value)
    for response in [r for item in rewardbench.items.all() for r in item.responses.all()]:
        human = list(response.human_criterion_scores.values_list("value", flat=True))
        CriterionScore.objects.create(
            response=response, criterion=criterion, scorer=judge_scorer, met=sum(human) / len(human) >= 0.5
        )
    rows = _compute(rewardbench)["scorers"]["spearman"]
    row = next(r for r in rows if r["scorer"] == "rubric-judge")
    assert row["criterion"] == "helpful" and row["responses"] == 16
    assert row["rho"] > 0.5


def test_winner_agreement_equals_alpha_over_the_item_labels(rewardbench):
    agreement = _compute(rewardbench)["agreement"]
    units = [
        ["2", "2"],
        ["1", "1"],
        ["2", "2"],
        ["1", "2"],
        ["1", "1"],
        ["tie", "tie"],
        ["1", "2"],
        ["both_bad", "both_bad"],
    ]
    alpha = next(r for r in agreement["overall"] if r["measure"].startswith("Krippendorff's α, winner"))
    assert alpha["value"] == pytest.approx(krippendorff_alpha(units, "nominal"))
    assert alpha["items"] == 8 and alpha["low"] <= alpha["value"] <= alpha["high"]
    pair = agreement["pairs"][0]
    assert (pair["annotator_a"], pair["annotator_b"], pair["items"]) == ("rb-a", "rb-b", 8)
    assert pair["strength_items"] == 7  # the both-bad item has no strength


def test_the_rubric_flags_fire_on_a_redundant_and_a_reversed_criterion(simulated):
    rubric_section = _compute(simulated.project)["rubric"]
    rows = {r["criterion"]: r for r in rubric_section["criteria"]}
    assert rows["reversed"]["wrong_way"] and rows["reversed"]["same_direction"] < 0.3
    assert not rows["informative"]["wrong_way"] and rows["informative"]["same_direction"] > 0.95
    assert not rows["noise"]["wrong_way"]
    redundant = {frozenset((p["criterion_a"], p["criterion_b"])) for p in rubric_section["redundant"]}
    assert frozenset(("informative", "redundant")) in redundant
    assert not any("noise" in pair for pair in redundant)
    assert "redundant" in rows["informative"]["redundant_with"]
    assert rows["informative"]["separation_rate"] == pytest.approx(0.9, abs=0.1)


def test_the_fitted_weights_rank_the_informative_criterion_above_the_noise(simulated):
    rubric_section = _compute(simulated.project)["rubric"]
    rows = {r["criterion"]: r for r in rubric_section["criteria"]}
    assert rows["informative"]["weight"] > 3 * abs(rows["noise"]["weight"])
    assert rows["reversed"]["weight"] < 0 and rows["reversed"]["suggested_points"] < 0
    assert max(abs(r["suggested_points"]) for r in rows.values()) == 3  # the rubric's largest points
    fit = rubric_section["fit"]
    assert fit["suggested_agreement"] > fit["current_agreement"]


def test_annotators_are_flagged_with_the_reason(simulated):
    rows = {r["annotator"]: r for r in _compute(simulated.project)["annotators"]["rows"]}
    hasty = rows["hasty"]
    assert hasty["first_shown_wins"] == 1.0 and hasty["position_p"] < 1e-10
    assert any("shown first" in f for f in hasty["flags"])
    assert any("s per item" in f for f in hasty["flags"])
    assert rows["careful"]["flags"] == [] and rows["steady"]["flags"] == []
    assert rows["careful"]["median_seconds"] == pytest.approx(40, rel=0.02)
    assert rows["careful"]["loo_agreement"] > rows["hasty"]["loo_agreement"]


def test_gold_accuracy_and_self_consistency_on_repeated_items(db):
    project = ProjectFactory(name="Gold and repeats", overlap=1)
    user = UserFactory(username="repeater")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    for n in range(6):
        item = add_item(project, f"gold-{n}", is_gold=True, gold_preference=2)
        judge(item, user, preference=2 if n < 2 else -1)  # right on 2 of 6
    # The same prompt and answers three times, the answers stored in another order the third time.
    first = add_item(project, "again-1", contents=["Short.", "A longer answer."])
    add_item(project, "again-2", contents=["Short.", "A longer answer."])
    third = add_item(project, "again-3", models=("model-b", "model-a"), contents=["A longer answer.", "Short."])
    third.prompt = first.prompt
    third.save(update_fields=["prompt"])
    from annotator.models import Item

    Item.objects.filter(external_id="again-2").update(prompt=first.prompt)
    for key, preference in (("again-1", 2), ("again-2", 2), ("again-3", -2)):
        judge(Item.objects.get(external_id=key), user, preference=preference)  # the longer answer each time
    row = _compute(project)["annotators"]["rows"][0]
    assert (row["gold_items"], row["gold_accuracy"]) == (6, pytest.approx(2 / 6))
    assert (row["repeat_pairs"], row["self_consistency"]) == (3, 1.0)


def test_the_leaderboard_puts_the_preferred_model_first_for_humans_and_the_scorer(simulated):
    board = _compute(simulated.project)["leaderboard"]
    assert board["sources"] == ["humans", "rm-good"]
    ranks = {(r["source"], r["model"]): r for r in board["rows"]}
    assert ranks[("humans", "model-b")]["rank"] == 1 and ranks[("rm-good", "model-b")]["rank"] == 1
    humans_b = ranks[("humans", "model-b")]
    assert humans_b["low"] < humans_b["strength"] < humans_b["high"]
    assert humans_b["comparisons"] == 60


def test_memory_does_not_hold_the_rows_an_empty_project_computes_to_empty_sections(db):
    project = ProjectFactory(name="Empty")
    sections = _compute(project)
    assert sections["summary"]["judgments"] == 0
    assert sections["agreement"]["overall"][0]["value"] is None
    assert sections["leaderboard"]["rows"] == [] and sections["scorers"]["scorers"] == []
