"""Agreement statistics against published worked examples, and the project report."""

import pytest

from annotator.agreement import (
    LEVELS,
    AlphaAccumulator,
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    krippendorff_alpha,
    krippendorff_alpha_matrix,
    pairwise_agreement,
)

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers × 12 units example.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize("level, expected", [
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797),
])
def test_alpha_reproduces_krippendorffs_worked_example(level, expected):
    assert round(krippendorff_alpha_matrix(KRIPPENDORFF_2011, level), 3) == expected


def test_alpha_ignores_units_with_a_single_value():
    # Unit 12 of the example has one value only; dropping it changes nothing.
    trimmed = [row[:11] for row in KRIPPENDORFF_2011]
    for level in LEVELS:
        assert krippendorff_alpha_matrix(trimmed, level) == pytest.approx(
            krippendorff_alpha_matrix(KRIPPENDORFF_2011, level))


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert krippendorff_alpha([[1, 1], [2, 2], [3, 3]], "nominal") == 1.0
    assert krippendorff_alpha([[1, 1], [1, 1]], "interval") is None
    assert krippendorff_alpha([[1], [2]], "nominal") is None
    assert krippendorff_alpha([], "ordinal") is None


def test_alpha_takes_labels_that_are_not_numbers_at_the_nominal_level():
    units = [["a", "a"], ["b", "b"], ["a", "b"], ["tie", "tie"]]
    assert krippendorff_alpha(units, "nominal") == pytest.approx(
        krippendorff_alpha([[1, 1], [2, 2], [1, 2], [3, 3]], "nominal"))


def test_alpha_fed_unit_by_unit_equals_alpha_on_the_whole_matrix():
    acc = AlphaAccumulator()
    for unit in zip(*KRIPPENDORFF_2011, strict=True):
        acc.add_unit(unit)
    assert acc.alpha("ordinal") == pytest.approx(krippendorff_alpha_matrix(KRIPPENDORFF_2011, "ordinal"))
    assert acc.pairable_units == 11  # unit 12 has one value


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError):
        krippendorff_alpha([[1, 2]], "cardinal")


def test_fleiss_kappa_reproduces_the_textbook_example():
    # Fleiss (1971) as in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters, 5 categories → 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert round(fleiss_kappa_from_counts(table), 3) == 0.210


def test_fleiss_kappa_allows_a_different_number_of_raters_per_item():
    assert fleiss_kappa([["a", "a"], ["b", "b", "b"], ["a", "b"]]) == pytest.approx(
        fleiss_kappa([["a", "a"], ["b", "b", "b"], ["b", "a"]]))
    assert fleiss_kappa([["a", "a"], ["a", "a"]]) is None


def test_cohen_kappa_reproduces_the_textbook_example():
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 → p_o 0.7, p_e 0.5, κ 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_weighted_cohen_kappa_penalises_far_disagreements_more():
    near = [(1, 1), (2, 2), (3, 3), (1, 2), (2, 3)]
    far = [(1, 1), (2, 2), (3, 3), (1, 3), (3, 1)]
    assert cohen_kappa(near, "quadratic") > cohen_kappa(far, "quadratic")
    assert cohen_kappa([(1, 1), (2, 2)], "linear") == 1.0
    # Unweighted, the two look alike.
    assert cohen_kappa(near) == pytest.approx(cohen_kappa(far), abs=0.2)


def test_weighted_kappa_matches_a_hand_computation():
    # Two categories 0/1: linear and quadratic weights are both 0/1, so weighted κ equals plain κ.
    pairs = [(0, 0)] * 20 + [(0, 1)] * 5 + [(1, 0)] * 10 + [(1, 1)] * 15
    assert cohen_kappa(pairs, "linear") == pytest.approx(0.4)
    assert cohen_kappa(pairs, "quadratic") == pytest.approx(0.4)


def test_pairwise_agreement_is_the_share_of_agreeing_pairs():
    assert pairwise_agreement(["1", "1", "2"]) == pytest.approx(1 / 3)
    assert pairwise_agreement(["tie", "tie"]) == 1.0
    assert pairwise_agreement(["1"]) is None


# --- The project report ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_project_report_on_the_known_answer_project(client_for, labeled):
    report = client_for(labeled.reviewer).get(f"/api/v1/projects/{labeled.project.id}/agreement").json()
    assert (report["items"], report["judgments"], report["annotators"]) == (9, 16, 2)
    assert report["items_with_overlap"] == 7
    # Winner labels of the seven doubly judged items: 1/1, 2/2, tie/tie, 1/2, 1/2, both/both, 3/3.
    units = [["1", "1"], ["2", "2"], ["tie", "tie"], ["1", "2"], ["1", "2"], ["both_bad", "both_bad"],
             ["3", "3"]]
    assert report["winner"]["krippendorff_alpha_nominal"] == round(krippendorff_alpha(units, "nominal"), 4)
    assert report["winner"]["fleiss_kappa"] == round(fleiss_kappa(units), 4)
    assert report["winner"]["percent_agreement"] == round(5 / 7, 4)
    strengths = [[-2, -3], [1, 2], [0, 0], [-1, 1], [-3, 2]]
    assert report["strength"]["krippendorff_alpha_ordinal"] == round(krippendorff_alpha(strengths, "ordinal"), 4)
    assert report["strength"]["krippendorff_alpha_interval"] == round(
        krippendorff_alpha(strengths, "interval"), 4)
    pair = report["pairwise_cohen_kappa"]["pairs"][0]
    assert (pair["annotator_a"], pair["annotator_b"], pair["items"]) == ("ann2", "annotator", 7)
    assert pair["kappa"] == round(cohen_kappa([(u[1], u[0]) for u in units]), 4)
    assert {a["annotator"]: a["agreement_with_others"] for a in report["annotators_agreement"]} == \
        {"annotator": round(5 / 7, 4), "ann2": round(5 / 7, 4)}
    c1 = next(c for c in report["criteria"] if c["key"] == "c1")
    assert c1["level"] == "ordinal" and c1["units"] == 2
    assert c1["alpha"] == round(krippendorff_alpha([[5, 4], [2, 1]], "ordinal"), 4)


@pytest.mark.django_db
def test_the_report_can_be_limited_to_one_rubric_version(client_for, labeled):
    report = client_for(labeled.admin).get(f"/api/v1/projects/{labeled.project.id}/agreement",
                                           {"rubric_version": labeled.other_version.id}).json()
    assert (report["items"], report["judgments"], report["items_with_overlap"]) == (1, 1, 0)
    assert report["winner"]["krippendorff_alpha_nominal"] is None


@pytest.mark.django_db
def test_pairs_with_few_shared_items_are_left_out(client_for, labeled):
    report = client_for(labeled.admin).get(f"/api/v1/projects/{labeled.project.id}/agreement",
                                           {"min_pair_items": 8}).json()
    assert report["pairwise_cohen_kappa"]["pairs"] == [] and report["pairwise_cohen_kappa"]["mean"] is None


@pytest.mark.django_db
def test_annotators_cannot_read_the_agreement_report(client_for, labeled):
    assert client_for(labeled.annotator).get(f"/api/v1/projects/{labeled.project.id}/agreement").status_code == 403
