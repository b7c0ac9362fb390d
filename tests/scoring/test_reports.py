"""Model scores against human labels: RewardBench-strict accuracy, ties apart, length bias."""

import pytest

from annotator.models import Adjudication
from scoring.models import ResponseScore, Scorer
from scoring.reports import accuracy_report, human_pairs, spearman
from tests.factories import ScorerFactory, UserFactory

from .helpers import judge_item, make_items

pytestmark = pytest.mark.django_db


def score(response, scorer, value):
    return ResponseScore.objects.create(response=response, scorer=scorer, input_hash=f"h{response.pk}", value=value)


@pytest.fixture
def rm(db):
    return ScorerFactory(name="rm", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model="x")


def two(item):
    first, second = item.responses.order_by("position")
    return first, second


def test_the_human_label_is_the_majority_and_even_votes_are_undecided(project):
    a, b, c = make_items(project, 3)
    for pref in (-2, -1, 3):
        judge_item(a, preference=pref)  # 2 votes for the first, 1 for the second
    judge_item(b, preference=1)
    judge_item(b, preference=-1)  # even
    judge_item(c, preference=0)  # a tie is no vote
    pairs, undecided = human_pairs(project=project)
    assert [(p.item_id, p.chosen, p.margin) for p in pairs] == [(a.id, two(a)[0].id, 1)]
    assert undecided == 1


def test_an_adjudication_overrides_the_judgments(project):
    (item,) = make_items(project, 1)
    judge_item(item, preference=-3)
    judge_item(item, preference=-3)
    Adjudication.objects.create(item=item, reviewer=UserFactory(), preference=2)
    pairs, _ = human_pairs(project=project)
    assert pairs[0].chosen == two(item)[1].id


def test_rankings_vote_for_every_pair_they_order(project):
    (item,) = make_items(project, 1, contents=[["one", "two", "three"]])
    r1, r2, r3 = item.responses.order_by("position")
    j = judge_item(item, preference=None)
    j.ranking = [r3.id, r1.id, r2.id]
    j.save()
    pairs, _ = human_pairs(project=project)
    assert {(p.chosen, p.rejected) for p in pairs} == {(r3.id, r1.id), (r3.id, r2.id), (r1.id, r2.id)}


def test_accuracy_is_strict_with_ties_reported_apart(project, rm):
    items = make_items(project, 4)
    for item in items:
        judge_item(item, preference=-2)  # humans prefer the first (the shorter) response
    values = [(1.0, 0.0), (2.0, 1.0), (0.5, 0.5), (0.0, 3.0)]  # right, right, tie, wrong
    for item, (va, vb) in zip(items, values, strict=True):
        first, second = two(item)
        score(first, rm, va)
        score(second, rm, vb)
    report = accuracy_report(project=project, scorer=rm)
    assert (report.compared, report.correct, report.ties, report.incorrect) == (4, 2, 1, 1)
    assert report.accuracy == 0.5 and report.tie_rate == 0.25
    assert report.examples[0]["item_id"] == items[3].id


def test_the_length_diagnostic_compares_model_and_humans_on_the_same_pairs(project, rm):
    items = make_items(project, 4)  # the second response is always the longer one
    for item in items:
        judge_item(item, preference=-1)  # humans prefer the shorter
        first, second = two(item)
        score(first, rm, 0.0)
        score(second, rm, 1.0)  # the model prefers the longer
    report = accuracy_report(project=project, scorer=rm)
    assert report.human_longer_rate == 0.0 and report.model_longer_rate == 1.0
    assert report.accuracy == 0.0 and report.length_correlation > 0.5


def test_pairs_without_model_scores_are_counted_as_missing(project, rm):
    a, b = make_items(project, 2)
    judge_item(a, preference=-1)
    judge_item(b, preference=-1)
    first, second = two(a)
    score(first, rm, 1.0)
    score(second, rm, 0.0)
    report = accuracy_report(project=project, scorer=rm)
    assert (report.compared, report.missing, report.accuracy) == (1, 1, 1.0)


def test_spearman_matches_a_hand_computed_value():
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826817)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_a_judges_expected_score_decides_ties_apart_and_its_p_met_is_calibrated(project):
    from annotator.models import CriterionJudgment
    from rubrics.models import Criterion
    from scoring.models import CriterionScore

    judge = ScorerFactory(name="judge", backend=Scorer.Backend.OPENAI_JUDGE)
    a, b = make_items(project, 2)
    ja = judge_item(a, preference=-2)  # the first response of a is chosen
    judge_item(b, preference=2)  # the second response of b is chosen
    for item, (e_first, e_second) in ((a, (0.9, 0.4)), (b, (0.8, 0.3))):
        first, second = two(item)
        for response, expected in ((first, e_first), (second, e_second)):
            ResponseScore.objects.create(response=response, scorer=judge, input_hash=f"h{response.pk}", value=1.0,
                                         components={"expected": expected})
    criterion = Criterion.objects.get(version=project.rubric_version, key="c0")  # binary
    first_a, second_a = two(a)
    for response, human, p_met, met in ((first_a, 1, 0.8, True), (second_a, 0, 0.4, False)):
        CriterionJudgment.objects.create(judgment=ja, response=response, criterion=criterion, value=human)
        CriterionScore.objects.create(response=response, criterion=criterion, scorer=judge, met=met, score=3 * met,
                                      distribution={"true": p_met, "false": 1 - p_met})
    report = accuracy_report(project=project, scorer=judge)
    assert report.accuracy == 0 and report.ties == 2  # strict accuracy is unchanged
    assert (report.ties_broken, report.ties_broken_correct) == (2, 1)
    assert report.accuracy_with_expectation == 0.5
    cal = report.calibration
    assert cal["pairs"] == 2 and cal["brier"] == pytest.approx(((0.8 - 1) ** 2 + 0.4**2) / 2)
    assert cal["ece"] == pytest.approx((0.2 + 0.4) / 2) and cal["verdict_accuracy"] == 1.0
    assert report.as_dict()["calibration"] == cal
