"""HelpSteer2's own rows (issue 14, #1) and judgment import: labels by named external annotators,
all or nothing, idempotent, counted by the queue and by agreement like any judgment."""

import json

import pytest
from django.contrib.auth import get_user_model

from annotator.agreement import project_agreement
from annotator.models import Assignment, CriterionJudgment, Item, Judgment
from annotator.services import (
    assignment_next_for_user,
    items_import_text,
    judgments_import_text,
)
from config.errors import ApplicationError
from rubrics.models import RubricVersion

User = get_user_model()


def jsonl(*rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


# Rows of nvidia/HelpSteer2 as published: prompt, response and five 0–4 attributes; the two
# responses of a prompt on consecutive lines; multi-turn prompts inline with <extra_id_1> markers.
HELPSTEER2_ROWS = [
    {"prompt": "c#", "response": "C# is a programming language.", "helpfulness": 3, "correctness": 4,
     "coherence": 4, "complexity": 1, "verbosity": 1},
    {"prompt": "c#", "response": "C# is a musical note.", "helpfulness": 1, "correctness": 2,
     "coherence": 3, "complexity": 0, "verbosity": 0},
    {"prompt": "hi\n<extra_id_1>Assistant\nHello!\n<extra_id_1>User\nwrite a haiku", "response": "Autumn moon…",
     "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 2, "verbosity": 2},
    {"prompt": "hi\n<extra_id_1>Assistant\nHello!\n<extra_id_1>User\nwrite a haiku", "response": "No.",
     "helpfulness": 0, "correctness": 0, "coherence": 2, "complexity": 0, "verbosity": 0},
]


@pytest.mark.django_db
def test_helpsteer2_rows_become_items_and_ratings_by_the_imported_annotator(project):
    report = items_import_text(project=project, text=jsonl(*HELPSTEER2_ROWS))
    assert report.as_dict() == {"format": "helpsteer2_attributes", "total": 2, "created": 2, "updated": 0,
                                "unchanged": 0, "judgments": {"total": 2, "created": 2, "updated": 0,
                                                              "unchanged": 0, "annotators": ["imported/helpsteer2"]}}
    first, second = Item.objects.order_by("id")
    assert [r.content for r in first.responses.order_by("position")] == [
        "C# is a programming language.", "C# is a musical note."]
    assert [m["role"] for m in second.prompt] == ["user", "assistant", "user"]
    judgment = Judgment.objects.get(item=first)
    assert judgment.annotator.username == "imported/helpsteer2"
    assert not judgment.annotator.is_active and not judgment.annotator.has_usable_password()
    version = judgment.rubric_version
    assert (version.rubric_set.slug, version.status) == ("helpsteer2", RubricVersion.Status.PUBLISHED)
    assert list(version.criteria.order_by("position").values_list("key", "scale")) == [
        ("helpfulness", "likert5"), ("correctness", "likert5"), ("coherence", "likert5"),
        ("complexity", "likert5"), ("verbosity", "likert5")]
    scores = {(s.response.position, s.criterion.key): s.value
              for s in CriterionJudgment.objects.filter(judgment=judgment).select_related("response", "criterion")}
    assert scores[(0, "helpfulness")] == 4 and scores[(1, "complexity")] == 1  # Likert 1–5 = attribute + 1
    assert len(scores) == 10
    assert judgment.preference is None and judgment.assignment.status == Assignment.Status.SUBMITTED
    first.refresh_from_db()
    assert first.submitted_count == 1 and first.is_open  # overlap 2: one person more


@pytest.mark.django_db
def test_reimporting_helpsteer2_rows_changes_nothing_and_a_changed_rating_updates(project):
    items_import_text(project=project, text=jsonl(*HELPSTEER2_ROWS))
    again = items_import_text(project=project, text=jsonl(*HELPSTEER2_ROWS))
    assert again.judgments == {"total": 2, "created": 0, "updated": 0, "unchanged": 2,
                               "annotators": ["imported/helpsteer2"]}
    changed = [dict(r) for r in HELPSTEER2_ROWS]
    changed[1]["verbosity"] = 4
    report = items_import_text(project=project, text=jsonl(*changed))
    assert report.judgments["updated"] == 1 and Judgment.objects.count() == 2
    assert CriterionJudgment.objects.filter(criterion__key="verbosity", value=5).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("rows, line, field", [
    ([HELPSTEER2_ROWS[0]], 1, "prompt"),
    ([HELPSTEER2_ROWS[0], {**HELPSTEER2_ROWS[1], "verbosity": 5}], 2, "verbosity"),
    ([HELPSTEER2_ROWS[0], {k: v for k, v in HELPSTEER2_ROWS[1].items() if k != "coherence"}], 2, "coherence"),
])
def test_a_bad_helpsteer2_row_stores_nothing_and_names_line_and_field(project, rows, line, field):
    with pytest.raises(ApplicationError) as exc:
        items_import_text(project=project, text=jsonl(*rows), file_format="helpsteer2_attributes")
    assert exc.value.extra == {"line": line, "field": field}
    assert not Item.objects.exists() and not Judgment.objects.exists()


@pytest.mark.django_db
def test_a_human_rating_an_imported_item_is_not_a_disagreement_with_the_ratings(project, annotator):
    from annotator.services import judgment_submit
    from tests.helpers import valid_input

    items_import_text(project=project, text=jsonl(*HELPSTEER2_ROWS[:2]))
    assignment = assignment_next_for_user(project=project, user=annotator)
    judgment_submit(assignment=assignment, data=valid_input(assignment, preference=-2))
    item = Item.objects.get()
    assert (item.submitted_count, item.is_open, item.has_disagreement) == (2, False, False)


# --- Judgment files ------------------------------------------------------------------------------

ITEMS = [
    {"id": "q1", "prompt": "2+2?", "responses": [{"id": "a", "content": "4"}, {"id": "b", "content": "5"}]},
    {"id": "q2", "prompt": "Capital of France?", "responses": [{"id": "a", "content": "Paris"},
                                                                {"id": "b", "content": "Lyon"}]},
    {"id": "q3", "prompt": "Name a prime.", "responses": [{"id": "x", "content": "7"}, {"id": "y", "content": "8"},
                                                           {"id": "z", "content": "9"}]},
]


@pytest.fixture
def items(project):
    items_import_text(project=project, text=jsonl(*ITEMS))
    return {i.external_id: i for i in Item.objects.filter(project=project)}


@pytest.mark.django_db
def test_judgments_are_imported_by_named_external_annotators(project, items):
    report = judgments_import_text(project=project, text=jsonl(
        {"item_id": "q1", "annotator": "alice", "preference": -2, "rationale": "4 is right.",
         "submitted_at": "2024-05-01T10:00:00Z", "time_spent_ms": 5000,
         "scores": [{"response": 1, "criterion": "c0", "value": 1}, {"response_id": "b", "criterion": "c0",
                                                                      "value": 0}]},
        {"item_id": "q1", "annotator": "bob", "preference": -1},
        {"item_id": "q2", "annotator": "alice", "both_bad": True},
        {"item_id": "q3", "annotator": "alice", "ranking": [1, 3, 2]},
        {"item_id": "q3", "annotator": "bob", "ranking": ["x", "y", "z"]},
    ))
    assert report.as_dict() == {"format": "judgments", "total": 5, "created": 5, "updated": 0, "unchanged": 0,
                                "annotators": ["imported/alice", "imported/bob"]}
    alice = User.objects.get(username="imported/alice")
    assert not alice.is_active and not alice.has_usable_password()
    j = Judgment.objects.get(item=items["q1"], annotator=alice)
    assert (j.preference, j.rationale, j.time_spent_ms, j.submitted_at.isoformat()) == (
        -2, "4 is right.", 5000, "2024-05-01T10:00:00+00:00")
    assert j.rubric_version == project.rubric_version
    assert sorted(j.criterion_scores.values_list("response__external_id", "value")) == [("a", 1.0), ("b", 0.0)]
    ranked = Judgment.objects.get(item=items["q3"], annotator=alice)
    x, y, z = items["q3"].responses.order_by("position")
    assert ranked.ranking == [x.pk, z.pk, y.pk]
    q1 = Item.objects.get(pk=items["q1"].pk)
    assert (q1.submitted_count, q1.is_open) == (2, False)  # overlap 2 reached: the queue is done with it
    project.refresh_from_db()
    assert project.judgment_count == 5  # the progress counters count them too
    assert not Item.objects.get(pk=items["q3"].pk).has_disagreement  # both rank x first
    # Agreement reads them like any judgment: q1 agree (response 1), q3 agree (x on top).
    assert project_agreement(project=project)["winner"]["percent_agreement"] == 1.0


@pytest.mark.django_db
def test_a_judgment_import_is_all_or_nothing_with_line_and_field(project, items):
    good = {"item_id": "q1", "annotator": "alice", "preference": -2}
    for rows, line, field in [
        ([good, {"item_id": "nope", "annotator": "bob", "preference": 1}], 2, "item_id"),
        ([good, {"item_id": "q2", "annotator": "bob"}], 2, "preference"),
        ([good, {"item_id": "q3", "annotator": "bob", "preference": 1}], 2, "preference"),
        ([good, {"item_id": "q3", "annotator": "bob", "ranking": [1, 2]}], 2, "ranking"),
        ([good, {"item_id": "q3", "annotator": "bob", "ranking": [1, 2, 4]}], 2, "ranking[2]"),
        ([good, {"item_id": "q2", "annotator": "bob", "preference": 1,
                 "scores": [{"response": 1, "criterion": "c1", "value": 9}]}], 2, "scores[0].value"),
        ([good, {"item_id": "q2", "annotator": "bob", "preference": 1,
                 "scores": [{"response": 1, "criterion": "nope", "value": 1}]}], 2, "scores[0].criterion"),
        ([good, {"item_id": "q2", "annotator": "", "preference": 1}], 2, "annotator"),
        ([good, {"item_id": "q2", "annotator": "bob", "preference": 7}], 2, "preference"),
        ([good, good], 2, "annotator"),
        ([good, {"item_id": "q2", "annotator": "bob", "preference": 1, "response_ids": ["b", "a"]}],
         2, "response_ids"),
        ([good, {"item_id": "q2", "annotator": "bob", "preference": 1, "rubric_version": "nope@v1"}],
         2, "rubric_version"),
    ]:
        with pytest.raises(ApplicationError) as exc:
            judgments_import_text(project=project, text=jsonl(*rows))
        assert exc.value.extra == {"line": line, "field": field}, rows
        assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_reimporting_judgments_is_idempotent_and_names_stay_namespaced(project, items):
    rows = [{"item_id": "q1", "annotator": "imported/alice", "preference": -2, "submitted_at": "2024-05-01T10:00:00Z"}]
    judgments_import_text(project=project, text=jsonl(*rows))
    again = judgments_import_text(project=project, text=jsonl(*rows))
    assert (again.created, again.unchanged, again.annotators) == (0, 1, ["imported/alice"])
    changed = judgments_import_text(project=project, text=jsonl({**rows[0], "preference": 3}))
    assert changed.updated == 1 and Judgment.objects.get().preference == 3
    assert Item.objects.get(pk=items["q1"].pk).submitted_count == 1


@pytest.mark.django_db
def test_a_real_user_name_in_a_file_never_speaks_for_that_user(project, items, annotator):
    judgments_import_text(project=project, text=jsonl({"item_id": "q1", "annotator": annotator.username,
                                                       "preference": 3}))
    assert not Judgment.objects.filter(annotator=annotator).exists()
    assert Judgment.objects.get().annotator.username == f"imported/{annotator.username}"
    # …and the real user still gets the item from the queue (overlap 2, one imported judgment).
    assert assignment_next_for_user(project=project, user=annotator).item.external_id == "q1"


HS2_PREFERENCE = {
    "split": "train", "prompt": "Write a haiku.", "response_1": "Autumn moonlight…", "response_2": "A poem.",
    "preference_strength": -2, "preference_statement": "@Response 1 is better.",
    "preference_elaboration": "It is a haiku.",
    "three_most_similar_preferences": [{"statement": "@Response 1 is better.", "elaboration": "Form.",
                                        "strength": -2}],
    "all_preferences_unprocessed": [
        {"strength": -2, "statement": "@Response 1 is better.", "elaboration": "It is a haiku."},
        {"strength": -3, "statement": "@Response 1 is much better.", "elaboration": "Response 2 is not one."},
        {"strength": 1, "statement": "@Response 2 is slightly better.", "elaboration": "Shorter."},
    ],
}
HS3_PREFERENCE = {
    "domain": "general", "context": [{"role": "user", "content": "Hi"}], "response1": "Hello!",
    "response2": "Go away.", "overall_preference": -3,
    "individual_preference": [{"score": -3, "reasoning": "@Response 1 is polite."},
                              {"score": -2, "reasoning": "@Response 2 is rude."}],
}


@pytest.mark.django_db
def test_helpsteer_preference_files_bring_their_individual_preferences(project):
    items_import_text(project=project, text=jsonl(HS2_PREFERENCE, HS3_PREFERENCE))
    report = judgments_import_text(project=project, text=jsonl(HS2_PREFERENCE, HS3_PREFERENCE))
    assert (report.format, report.created) == ("helpsteer2", 5)
    assert report.annotators == ["imported/helpsteer2-1", "imported/helpsteer2-2", "imported/helpsteer2-3",
                                 "imported/helpsteer3-1", "imported/helpsteer3-2"]
    hs2 = Item.objects.get(metadata__split="train")
    assert sorted(hs2.judgments.values_list("preference", flat=True)) == [-3, -2, 1]
    assert hs2.judgments.get(annotator__username="imported/helpsteer2-2").rationale == (
        "@Response 1 is much better.\n\nResponse 2 is not one.")
    assert hs2.disagreement == ["winner", "strength"]  # −3, −2 against +1


@pytest.mark.django_db
def test_only_project_admins_import_judgments_through_the_api(project, project_admin, reviewer, outsider,
                                                             client_for, items):
    url = f"/api/v1/projects/{project.id}/judgments/import"
    body = jsonl({"item_id": "q1", "annotator": "alice", "preference": -1})
    assert client_for(outsider).post(url, body, content_type="application/x-ndjson").status_code == 404
    assert client_for(reviewer).post(url, body, content_type="application/x-ndjson").status_code == 403
    response = client_for(project_admin).post(url, body, content_type="application/x-ndjson")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    bad = client_for(project_admin).post(url, jsonl({"item_id": "zz", "annotator": "a", "preference": 1}),
                                         content_type="application/x-ndjson")
    assert bad.status_code == 400 and bad.json()["line"] == 1 and bad.json()["field"] == "item_id"
