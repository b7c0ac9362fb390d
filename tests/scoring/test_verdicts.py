"""Judge verdicts (scoring/verdicts.py) against a corpus of recorded judge outputs.

Formats: MT-Bench's pair-v2 judge ("[[A]]", "[[B]]", "[[C]]" for a tie; Zheng et al. 2023,
fastchat/llm_judge), RM-R1's "<answer>[[A]]</answer>" (Chen et al. 2025), JudgeLM's first line of
two scores "8 6" (Zhu et al. 2023: Assistant 1's score, then Assistant 2's), Prometheus's
"Feedback: … [RESULT] n" (Kim et al. 2024; absolute grading 1–5, relative grading A/B) and
HealthBench's grader JSON {"explanation", "criteria_met"} (simple-evals healthbench_eval.py).
"""

import json
from pathlib import Path

import pytest

from scoring.verdicts import parse_criterion_verdict, parse_pairwise_verdict

CORPUS = json.loads((Path(__file__).parent / "data" / "judge_outputs.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CORPUS["pairwise"], ids=lambda c: c["source"])
def test_each_recorded_pairwise_output_parses_to_its_verdict(case):
    assert parse_pairwise_verdict(case["text"]) == case["verdict"]


@pytest.mark.parametrize("case", CORPUS["criterion"], ids=lambda c: c["source"])
def test_each_recorded_criterion_output_parses_to_its_verdict_and_grade(case):
    parsed = parse_criterion_verdict(case["text"])
    assert parsed.met is case["met"]
    assert parsed.grade == case["grade"]


@pytest.mark.parametrize("text", ["My final verdict is a tie.", "The verdict is a draw."])
def test_the_article_a_before_tie_is_not_read_as_assistant_a(text):
    """MT-Bench's verdict set is {A, B, tie}: "is a tie" names a tie. Reading the article "a" as
    assistant A turned every such tie into an inconsistent A/B pair."""
    assert parse_pairwise_verdict(text) == "tie"


def test_judgelm_scores_compare_assistant_one_with_assistant_two():
    """JudgeLM (Zhu et al. 2023) writes "s1 s2" on its first line; the higher score wins."""
    assert parse_pairwise_verdict("8 6\nAssistant 1 is more detailed.") == "a"
    assert parse_pairwise_verdict("3 9\nAssistant 2 is correct.") == "b"


def test_a_json_grade_is_the_judges_native_grade_and_passes_at_the_threshold():
    """Prometheus absolute grading is 1–5; Rubricate counts the criterion met from the pass
    threshold (default 3) and keeps the grade itself, in its own unit, apart from the points."""
    parsed = parse_criterion_verdict('{"score": 3}')
    assert (parsed.met, parsed.grade) == (True, 3)
    assert parse_criterion_verdict('{"score": 3}', result_pass_threshold=4).met is False
