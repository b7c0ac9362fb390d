"""Each export format's columns and values on the known-answer project (tests/known_answers.py)."""

import csv
import io
import json

import pytest

from annotator.formats import helpsteer2_prompt
from exports.params import export_params_parse
from exports.rows import export_column_names

pytestmark = pytest.mark.django_db


def export(client, project, **params):
    params.setdefault("as", "jsonl")
    response = client.get(f"/api/v1/projects/{project.id}/export", params)
    assert response.status_code == 200, response.content[:500] if not response.streaming else ""
    body = b"".join(response.streaming_content).decode()
    if params["as"] == "csv":
        return list(csv.DictReader(io.StringIO(body)))
    return [json.loads(line) for line in body.splitlines()]


def by_item(rows):
    return {r["item_id"]: r for r in rows}


def label(version) -> str:
    return f"{version.rubric_set.slug}@v{version.number}"


def test_trl_rows_have_the_conversational_columns_in_order(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="trl")
    assert list(rows[0]) == ["prompt", "chosen", "rejected", "margin", "tie", "item_id", "chosen_id", "rejected_id",
                             "rubric_version", "n_judgments", "agreement", "adjudicated", "chosen_model",
                             "rejected_model", "subset", "metadata"]


def test_trl_exports_one_row_per_decided_item_with_the_expected_winner_and_margin(client_for, labeled):
    rows = by_item(export(client_for(labeled.admin), labeled.project, format="trl"))
    assert set(rows) == {"agree-first", "agree-second", "adjudicated", "single", "ranked", "old-rubric"}
    expected = {  # item: (chosen, rejected, margin, n_judgments, agreement, adjudicated)
        "agree-first": ("agree-first A", "agree-first B", 2.5, 2, 1.0, False),
        "agree-second": ("agree-second B", "agree-second A", 1.5, 2, 1.0, False),
        "adjudicated": ("adjudicated B", "adjudicated A", 1.0, 2, 0.0, True),
        "single": ("single A", "single B", 1.0, 1, None, False),
        "ranked": ("ranked c", "ranked b", 2.25, 2, 1.0, False),
        "old-rubric": ("old-rubric B", "old-rubric A", 3.0, 1, None, False),
    }
    for key, (chosen, rejected, margin, n, agreement, adjudicated) in expected.items():
        row = rows[key]
        assert row["chosen"] == [{"role": "assistant", "content": chosen}], key
        assert row["rejected"] == [{"role": "assistant", "content": rejected}], key
        assert row["margin"] == pytest.approx(margin), key
        assert (row["n_judgments"], row["agreement"], row["adjudicated"]) == (n, agreement, adjudicated), key


def test_trl_prompt_is_the_items_message_list_and_models_and_version_are_named(client_for, labeled):
    rows = by_item(export(client_for(labeled.admin), labeled.project, format="trl"))
    assert rows["agree-first"]["prompt"] == labeled.items["agree-first"].prompt
    assert rows["agree-second"]["prompt"] == [{"role": "user", "content": "Say hello."}]
    assert (rows["agree-second"]["chosen_model"], rows["agree-second"]["rejected_model"]) == ("model-1", "model-0")
    assert rows["agree-first"]["rubric_version"] == label(labeled.version)
    assert rows["old-rubric"]["rubric_version"] == label(labeled.other_version)


def test_helpsteer2_rows_carry_the_aggregated_strength_and_justification(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="helpsteer2")
    assert list(rows[0])[:6] == ["prompt", "response_1", "response_2", "preference_strength", "tie", "justification"]
    rows = by_item(rows)
    # The ranked item has three responses: HelpSteer2 is pairwise, so it is trl-only.
    assert set(rows) == {"agree-first", "agree-second", "adjudicated", "single", "old-rubric"}
    assert [rows[k]["preference_strength"] for k in ("agree-first", "agree-second", "adjudicated", "single")] == \
        [-3, 2, 1, -1]
    assert rows["agree-first"]["justification"] == "A is right.\n\nA, clearly."
    assert rows["adjudicated"]["justification"] == "B is safer."
    assert rows["agree-first"]["all_preferences"] == [-2, -3]
    assert (rows["agree-second"]["response_1"], rows["agree-second"]["response_2"]) == \
        ("agree-second A", "agree-second B")


def test_helpsteer2_prompt_puts_later_turns_behind_extra_id_markers():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name a prime."}]
    assert helpsteer2_prompt(messages) == \
        ("<extra_id_0>System\nBe brief.\n<extra_id_1>User\nHi\n<extra_id_1>Assistant\nHello.\n"
         "<extra_id_1>User\nName a prime.")
    assert helpsteer2_prompt([{"role": "user", "content": "Just this."}]) == "Just this."


def test_rubric_scores_has_one_row_per_response_criterion_and_judge(client_for, labeled):
    """One unit per column (issue 17): `met` the verdict, `points` the criterion's, `grade` the
    grader's native scale (None for yes/no), `value` the points earned (HealthBench: met × points)."""
    rows = export(client_for(labeled.admin), labeled.project, format="rubric_scores")
    assert list(rows[0]) == export_column_names(export_params_parse({"format": "rubric_scores"}))
    assert len(rows) == 12  # agree-first: 2 judgments × 2 responses × 3 criteria; nobody else scored
    first = rows[0]
    j = labeled.judgments["agree-first"][0]
    assert first == {
        "item_id": "agree-first", "response_id": "agree-first-r0", "response": 1, "model": "model-0",
        "criterion": "c0", "criterion_title": "Criterion 0", "scale": "binary", "points": 3.0,
        "importance": "important", "rubric_version": label(labeled.version), "judge_type": "human",
        "judge": "annotator", "judgment_id": j.id, "value": 3.0, "met": True, "grade": None, "explanation": "",
        "parse_status": "", "model_revision": "", "scored_at": "2025-03-01T12:00:00.000000Z", "subset": "",
        "metadata": "{}",
    }
    pitfall = [r for r in rows if r["criterion"] == "c2" and r["response"] == 2]
    assert [r["value"] for r in pitfall] == [-2.0, -2.0]
    assert all(r["grade"] is not None for r in rows if r["scale"] != "binary")  # the annotator's own scale
    assert {r["grade"] for r in rows if r["scale"] == "binary"} == {None}


def test_rubric_scores_add_the_judges_rows_when_model_scores_are_asked_for(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="rubric_scores", include_model_scores="true")
    model = [r for r in rows if r["judge_type"] == "model"]
    assert len(rows) == 13
    assert model == [{
        "item_id": "agree-first", "response_id": "agree-first-r0", "response": 1, "model": "model-0",
        "criterion": "c0", "criterion_title": "Criterion 0", "scale": "binary", "points": 3.0,
        "importance": "important", "rubric_version": label(labeled.version), "judge_type": "model",
        "judge": "judge-small", "judgment_id": None, "value": 3.0, "met": True, "grade": None,
        "explanation": "States the fact.",
        "parse_status": "ok", "model_revision": "judge-rev", "scored_at": model[0]["scored_at"], "subset": "",
        "metadata": "{}",
    }]
    assert model[0]["scored_at"].endswith("Z")


def test_judgments_export_every_judgment_with_its_provenance(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="judgments")
    assert len(rows) == 16
    first = rows[0]
    j = labeled.judgments["agree-first"][0]
    assert first == {
        "judgment_id": j.id, "item_id": "agree-first", "annotator": "annotator",
        "rubric_version": label(labeled.version), "preference": -2, "both_bad": False, "winner": "response_1",
        "ranking": [], "rationale": "A is right.", "time_spent_ms": 30000,
        "submitted_at": "2025-03-01T12:00:00.000000Z", "shown_order": [1, 2],
        "response_ids": ["agree-first-r0", "agree-first-r1"], "response_models": ["model-0", "model-1"],
        "n_judgments": 2, "agreement": 1.0, "adjudicated": False, "subset": "", "metadata": "{}",
    }
    rows = {(r["item_id"], r["annotator"]): r for r in rows}
    assert rows[("agree-first", "ann2")]["shown_order"] == [2, 1]
    assert rows[("agree-first", "ann2")]["submitted_at"] == "2025-03-01T12:01:00.000000Z"
    assert rows[("ranked", "annotator")]["ranking"] == [3, 1, 2]
    assert rows[("ranked", "annotator")]["winner"] == "response_3"
    assert rows[("both-bad", "ann2")]["winner"] == "both_bad"
    assert rows[("tie", "ann2")]["winner"] == "tie"
    assert rows[("adjudicated", "ann2")]["adjudicated"] is True
    assert rows[("single", "annotator")]["agreement"] is None


def test_judgments_export_adds_each_responses_latest_model_score_when_asked(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="judgments", include_model_scores="1")
    first = rows[0]
    assert first["model_scores"] == [
        {"response": 1, "scorer": "rm-small", "model_revision": "rev-1", "value": 2.5},
        {"response": 2, "scorer": "rm-small", "model_revision": "rev-1", "value": -1.0},
    ]
    assert rows[-1]["model_scores"] == []


def test_trl_with_model_scores_names_each_scorer_for_chosen_and_rejected(client_for, labeled):
    rows = by_item(export(client_for(labeled.admin), labeled.project, format="trl", include_model_scores="true"))
    assert rows["agree-first"]["chosen_scores"] == [{"scorer": "rm-small", "model_revision": "rev-1", "value": 2.5}]
    assert rows["agree-first"]["rejected_scores"] == [{"scorer": "rm-small", "model_revision": "rev-1", "value": -1.0}]
    assert rows["single"]["chosen_scores"] == []


def test_csv_has_a_header_and_nested_values_as_json(client_for, labeled):
    rows = export(client_for(labeled.admin), labeled.project, format="trl", **{"as": "csv"})
    row = next(r for r in rows if r["item_id"] == "agree-first")
    assert json.loads(row["chosen"]) == [{"role": "assistant", "content": "agree-first A"}]
    assert row["margin"] == "2.5" and row["adjudicated"] == "false"
    single = next(r for r in rows if r["item_id"] == "single")
    assert single["agreement"] == ""


@pytest.mark.parametrize("text, iso", [
    ("2025-01-02 03:04:05.123456+00", "2025-01-02T03:04:05.123456Z"),  # PostgreSQL, session in UTC
    ("2025-01-02 03:04:05+00", "2025-01-02T03:04:05.000000Z"),  # a whole second: no fraction printed
    ("2025-01-02 03:04:05.12+00", "2025-01-02T03:04:05.120000Z"),  # trailing zeros left out
    ("2025-01-02 03:04:05", "2025-01-02T03:04:05.000000Z"),  # SQLite keeps naive UTC
    ("2025-01-02 03:04:05.5", "2025-01-02T03:04:05.500000Z"),
    ("2025-01-02 03:04:05-05", "2025-01-02T08:04:05.000000Z"),  # a session in another zone
    ("2025-01-02 03:04:05.5+05:30", "2025-01-01T21:34:05.500000Z"),
])
def test_database_times_become_iso_8601_in_utc(text, iso):
    from exports.rows import db_time

    assert db_time(text) == iso


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
     {"role": "user", "content": "Q2\n"}],
    [{"role": "user", "content": "Ends with a newline\n"}],
])
def test_the_helpsteer2_prompt_reads_back_as_the_same_messages(messages):
    from annotator.formats import _hs2_prompt

    written = helpsteer2_prompt(messages)
    assert _hs2_prompt(written, 1, "prompt") == messages
    if len(messages) > 1 and messages[0]["role"] == "user":
        assert written.startswith("Q1\n<extra_id_1>Assistant\nA1\n<extra_id_1>User\n"), "HelpSteer2's own spelling"


def test_a_stored_developer_turn_is_written_as_the_system_prompt_the_import_maps_it_to():
    written = helpsteer2_prompt([{"role": "developer", "content": "Answer in French."},
                                 {"role": "user", "content": "Hello"}])
    assert written == "<extra_id_0>System\nAnswer in French.\n<extra_id_1>User\nHello"
