"""Model scores against human labels: RewardBench-strict accuracy, ties apart, length bias."""

import json

import pytest

from annotator.models import Adjudication, Item, Response
from annotator.services import items_import_text
from scoring import services
from scoring.models import CriterionScore, PairwiseScore, ResponseScore, Scorer
from scoring.reports import (
    accuracy_report,
    gold_sets,
    human_pairs,
    human_rubric_scores,
    project_report,
    rubric_report,
    scorer_report,
    spearman,
)
from tests.factories import JudgmentFactory, ScorerFactory, UserFactory

from .helpers import make_items

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
        JudgmentFactory(item=a, preference=pref)  # 2 votes for the first, 1 for the second
    JudgmentFactory(item=b, preference=1)
    JudgmentFactory(item=b, preference=-1)  # even
    JudgmentFactory(item=c, preference=0)  # a tie is no vote
    pairs, undecided = human_pairs(project=project)
    assert [(p.item_id, p.chosen, p.margin) for p in pairs] == [(a.id, two(a)[0].id, 1)]
    assert undecided == 1


def test_an_adjudication_overrides_the_judgments(project):
    (item,) = make_items(project, 1)
    JudgmentFactory(item=item, preference=-3)
    JudgmentFactory(item=item, preference=-3)
    Adjudication.objects.create(item=item, reviewer=UserFactory(), preference=2)
    pairs, _ = human_pairs(project=project)
    assert pairs[0].chosen == two(item)[1].id


def test_rankings_vote_for_every_pair_they_order(project):
    (item,) = make_items(project, 1, contents=[["one", "two", "three"]])
    r1, r2, r3 = item.responses.order_by("position")
    JudgmentFactory(item=item, ranking=[r3, r1, r2])
    pairs, _ = human_pairs(project=project)
    assert {(p.chosen, p.rejected) for p in pairs} == {(r3.id, r1.id), (r3.id, r2.id), (r1.id, r2.id)}


def test_accuracy_is_strict_with_ties_reported_apart(project, rm):
    items = make_items(project, 4)
    for item in items:
        JudgmentFactory(item=item, preference=-2)  # humans prefer the first (the shorter) response
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
        JudgmentFactory(item=item, preference=-1)  # humans prefer the shorter
        first, second = two(item)
        score(first, rm, 0.0)
        score(second, rm, 1.0)  # the model prefers the longer
    report = accuracy_report(project=project, scorer=rm)
    assert report.human_longer_rate == 0.0 and report.model_longer_rate == 1.0
    assert report.accuracy == 0.0 and report.length_correlation > 0.5


def test_pairs_without_model_scores_are_counted_as_missing(project, rm):
    a, b = make_items(project, 2)
    JudgmentFactory(item=a, preference=-1)
    JudgmentFactory(item=b, preference=-1)
    first, second = two(a)
    score(first, rm, 1.0)
    score(second, rm, 0.0)
    report = accuracy_report(project=project, scorer=rm)
    assert (report.compared, report.missing, report.accuracy) == (1, 1, 1.0)


def test_spearman_matches_a_hand_computed_value():
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826817)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_a_judges_expected_score_decides_ties_apart_and_its_p_met_is_calibrated(project):
    from rubrics.models import Criterion

    judge = ScorerFactory(name="judge", backend=Scorer.Backend.OPENAI_JUDGE)
    a, b = make_items(project, 2)
    criterion = Criterion.objects.get(version=project.rubric_version, key="c0")  # binary
    first_a, second_a = two(a)
    # The first response of a is chosen (and meets c0, the second does not); the second of b.
    JudgmentFactory(item=a, preference=-2, scores={(first_a, criterion): 1, (second_a, criterion): 0})
    JudgmentFactory(item=b, preference=2)
    for item, (e_first, e_second) in ((a, (0.9, 0.4)), (b, (0.8, 0.3))):
        first, second = two(item)
        for response, expected in ((first, e_first), (second, e_second)):
            ResponseScore.objects.create(response=response, scorer=judge, input_hash=f"h{response.pk}", value=1.0,
                                         components={"expected": expected})
    for response, p_met, met in ((first_a, 0.8, True), (second_a, 0.4, False)):
        CriterionScore.objects.create(response=response, criterion=criterion, scorer=judge, met=met, score=3 * met,
                                      distribution={"true": p_met, "false": 1 - p_met})
    report = scorer_report(project=project, scorer=judge)
    assert report.strict_accuracy == 0 and report.accuracy == 0 and report.ties == 2  # unchanged
    assert (report.ties_broken, report.ties_broken_correct) == (2, 1)
    assert report.accuracy_with_expectation == 0.5
    cal = report.calibration
    assert cal["pairs"] == 2 and cal["brier"] == pytest.approx(((0.8 - 1) ** 2 + 0.4**2) / 2)
    assert cal["ece"] == pytest.approx((0.2 + 0.4) / 2) and cal["verdict_accuracy"] == 1.0
    assert report.as_dict()["calibration"] == cal
# --- Reference labels from the import, RewardBench's rules ---------------------------------------
def rb_line(i, subset, chosen, rejected):
    return json.dumps({"id": f"rb-{i}", "prompt": f"Question {i}?", "chosen": chosen, "rejected": rejected,
                       "subset": subset})


def run_to_end(project, scorer, actor):
    run = services.scoring_run_start(project=project, scorer=scorer, actor=actor)
    for batch_id in run.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")


@pytest.fixture
def lead(project):
    from annotator.models import ProjectMembership

    user = UserFactory(username="lead")
    ProjectMembership.objects.create(project=project, user=user, role=ProjectMembership.Role.ADMIN)
    return user


def test_imported_gold_labels_are_the_reference_when_nobody_judged(project, lead):
    """RewardBench: accuracy over the benchmark's own chosen/rejected labels. Before, a --gold import
    and a length run reported human_pairs 0 and no accuracy."""
    lines = [rb_line(0, "alpacaeval-easy", "A long, careful and correct answer.", "Short."),
             rb_line(1, "alpacaeval-easy", "Right.", "A long answer that is wrong in every detail."),
             rb_line(2, "hep-python", "def f(): return 1  # fine", "def f(): pass")]
    items_import_text(project=project, text="\n".join(lines), file_format="rewardbench", gold=True)
    length = ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)
    run_to_end(project, length, lead)
    ((scorer, report),) = project_report(project=project)
    assert report.reference == "gold" and report.human_pairs == 3
    assert (report.compared, report.correct, report.accuracy) == (3, 2, pytest.approx(2 / 3))
    assert report.subsets["alpacaeval-easy"].accuracy == 0.5 and report.subsets["hep-python"].accuracy == 1.0
    assert report.sections == {"Chat": 0.5, "Reasoning": 1.0}
    assert report.rewardbench_score == pytest.approx(0.75)
    assert report.other.reference == "human" and report.other.compared == 0


def test_human_majority_and_gold_read_side_by_side(project, lead):
    lines = [rb_line(i, "mt-bench-easy", f"Chosen answer {i}, long enough.", f"Rejected {i}.") for i in range(2)]
    items_import_text(project=project, text="\n".join(lines), file_format="rewardbench", gold=True)
    first, second = Item.objects.filter(project=project).order_by("external_id")
    JudgmentFactory(item=first, preference=-1)  # agrees with gold
    JudgmentFactory(item=second, preference=2)  # disagrees: humans prefer the short one
    length = ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)
    run_to_end(project, length, lead)
    report = scorer_report(project=project, scorer=length)
    assert report.reference == "human" and report.accuracy == 0.5
    assert report.other.reference == "gold" and report.other.accuracy == 1.0
    data = report.as_dict()
    assert data["other_reference"]["accuracy"] == 1.0 and data["reference"] == "human"


def pairwise_judged(project, item, scorer, ab, ba):
    a, b = item.responses.order_by("position")
    PairwiseScore.objects.create(item=item, response_a=a, response_b=b, scorer=scorer, input_hash=f"p{item.pk}",
                                 verdict_ab=ab, verdict_ba=ba)
    for r, v in ((a, 1.0), (b, 0.0)):
        score(r, scorer, v)


def test_a_judges_ties_and_unparsed_verdicts_count_one_half_and_are_reported_apart(project):
    """RewardBench run_generative.py: a judge's tie or "error" is 0.5 ("effectively a tie").
    Before, ties were misses and failures were dropped."""
    judge = ScorerFactory(name="judge", backend=Scorer.Backend.OPENAI_JUDGE, options={"mode": "pairwise"})
    items = make_items(project, 4)
    for item in items:
        JudgmentFactory(item=item, preference=-2)  # the first response is chosen
    pairwise_judged(project, items[0], judge, "a", "a")  # right twice: 1
    pairwise_judged(project, items[1], judge, "tie", "tie")  # 0.5
    pairwise_judged(project, items[2], judge, "", "")  # unparsed both orders: 0.5
    pairwise_judged(project, items[3], judge, "b", "a")  # position bias: 0.5
    report = accuracy_report(project=project, scorer=judge)
    assert report.compared == 4 and report.accuracy == pytest.approx((1 + 0.5 + 0.5 + 0.5) / 4)
    assert (report.correct, report.ties, report.failures, report.split, report.incorrect) == (1, 1, 1, 1, 0)
    assert report.strict_accuracy == 0.25


RB2 = [
    {"id": "1", "subset": "Factuality", "prompt": "Q1?", "chosen": ["the right and longest answer"],
     "rejected": ["wrong", "also wrong", "nope"]},
    {"id": "2", "subset": "Factuality", "prompt": "Q2?", "chosen": ["right"],
     "rejected": ["a wrong and much longer answer", "x", "y"]},
    {"id": "ref:0", "subset": "Ties", "prompt": "Name a prime.", "chosen": ["Two is a prime"],
     "rejected": ["Nine"]},
    {"id": "tied:0", "subset": "Ties", "prompt": "Name a prime.", "chosen": ["Seven is prime", "Two is prime!"],
     "rejected": ["Nine", "Four"]},
]


def test_rewardbench2_gold_pairs_chosen_with_each_rejected_and_nothing_among_the_rejected(project):
    """RewardBench 2 labels one chosen against three rejected: three pairs, no order among the
    rejected. Before, the line became a full ranking and the report counted six pairs."""
    items_import_text(project=project, text="\n".join(json.dumps(x) for x in RB2), file_format="rewardbench2",
                      gold=True)
    sets, undecided = gold_sets(project=project)
    item = Item.objects.get(project=project, external_id="1")
    (first,) = [s for s in sets if s.item_id == item.id]
    labels = dict(Response.objects.filter(item=item).values_list("id", "metadata__label"))
    assert [labels[r] for r in first.chosen] == ["chosen"] and len(first.rejected) == 3
    assert undecided == 0


def test_rewardbench2_best_of_n_and_the_ties_score(project, lead):
    """run_v2.py: an item is correct when np.argmax(scores) == 0 (chosen first); the Ties subset
    is scored by process_single_model."""
    items_import_text(project=project, text="\n".join(json.dumps(x) for x in RB2), file_format="rewardbench2",
                      gold=True)
    length = ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)
    run_to_end(project, length, lead)
    report = scorer_report(project=project, scorer=length)
    assert report.reference == "gold"
    factuality = report.best_of_n["Factuality"]
    assert (factuality.compared, factuality.correct) == (2, 1)
    # Ties: ref correct (14 > 4), tied correct (min 13 > 4), spread 1 < margins: preferred and hard.
    tanh = __import__("math").tanh
    assert report.ties_score == pytest.approx(0.3 + 0.3 + 0.2 + 0.2 + 0.01 * tanh(min(10, 9) / 1 - 1))
    assert report.rewardbench2_score == pytest.approx((0.5 + report.ties_score) / 2)


def test_human_judgments_get_healthbench_rubric_scores(project):
    """HealthBench: Σ points of criteria met / Σ positive points, per example, for human graders
    too. Before, human judgments had only per-criterion rows and no rubric score."""
    (item,) = make_items(project, 1)
    first, second = two(item)
    c0, c1, c2 = project.rubric_version.criteria.order_by("position")  # binary +3, likert5 +3, points −2
    c0.tags = ["axis:accuracy"]
    JudgmentFactory(item=item, preference=-1, scores={
        (response, criterion): value
        for response, values in ((first, (1, 5, 0)), (second, (0, 3, -2)))
        for criterion, value in zip((c0, c1, c2), values, strict=True)
    })
    rows = {r.response_id: r.score for r in human_rubric_scores(project=project)}
    assert rows[first.id].value == 1.0  # 3 + 3 of 6
    assert rows[second.id].value == pytest.approx((0 + 1.5 - 2) / 6)  # likert 3 earns half; pitfall fully
    (humans,) = rubric_report(project=project)
    assert humans["judge"] == "humans" and humans["examples"] == 2
    assert humans["overall"]["mean"] == pytest.approx((1.0 - 0.5 / 6) / 2)


def test_a_criteria_judges_rubric_report_counts_partial_examples(project):
    judge = ScorerFactory(name="grader", backend=Scorer.Backend.OPENAI_JUDGE)
    (item,) = make_items(project, 1)
    first, _ = two(item)
    c0, c1, c2 = project.rubric_version.criteria.order_by("position")
    CriterionScore.objects.create(response=first, criterion=c0, scorer=judge, met=True)
    CriterionScore.objects.create(response=first, criterion=c1, scorer=judge, parse_status="failed")
    CriterionScore.objects.create(response=first, criterion=c2, scorer=judge, met=False)
    (row,) = rubric_report(project=project)
    assert row["judge"] == "grader" and row["overall"]["mean"] == 1.0 and row["partial"] == 1


def test_the_scoring_report_command_prints_both_references(project, lead):
    from io import StringIO

    from django.core.management import call_command

    items_import_text(project=project, text=rb_line(0, "alpacaeval-easy", "longer chosen answer", "no"),
                      file_format="rewardbench", gold=True)
    run_to_end(project, ScorerFactory(name="length", backend=Scorer.Backend.LENGTH), lead)
    out = StringIO()
    call_command("scoring_report", project.id, stdout=out)
    assert "gold   accuracy  100.0%" in out.getvalue() and "human  no decided pairs" in out.getvalue()
    out = StringIO()
    call_command("scoring_report", project.id, "--json", stdout=out)
    assert json.loads(out.getvalue())["accuracy"][0]["reference"] == "gold"
