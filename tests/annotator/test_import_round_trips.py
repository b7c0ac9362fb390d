"""Every import format round-trips through the exports (issue 14): import → export → import gives the
same items and the same labels. `helpsteer2` keeps the stored order of the responses and HelpSteer2's
own attributes; `trl` carries the decided label (its chosen response) and the import metadata."""

import json

import pytest

from annotator.models import CriterionJudgment, Item
from annotator.services import items_import_text, judgments_import_text
from exports.params import export_params_parse
from exports.writers import export_stream
from tests.annotator.test_judgment_imports import HELPSTEER2_ROWS
from tests.factories import ProjectFactory
from tests.helpers import make_judgment

pytestmark = pytest.mark.django_db


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def export(project, **params) -> list[dict]:
    stream = export_stream(project=project, params=export_params_parse(params), file_format="jsonl")
    return [json.loads(line) for line in b"".join(stream).decode().splitlines()]


def items_of(project) -> dict:
    """Each item as what was imported: prompt, metadata, its responses (id, model, text) in stored order."""
    return {item.external_id: (item.prompt, item.metadata,
                               [(r.external_id, r.model_name, r.content) for r in item.responses.order_by("position")])
            for item in Item.objects.filter(project=project).prefetch_related("responses")}


def gold_labels(project) -> dict:
    """item id → the id of the response its gold label prefers."""
    out = {}
    for item in Item.objects.filter(project=project, is_gold=True):
        responses = list(item.responses.order_by("position"))
        out[item.external_id] = responses[0 if item.gold_preference < 0 else 1].external_id
    return out


# A published HelpSteer2 row set (nvidia/HelpSteer2: prompt, response, five 0–4 attributes, two
# consecutive rows a prompt), plus a system prompt written the way HelpSteer2 writes one.
HS2_ROWS = HELPSTEER2_ROWS + [
    {"prompt": "<extra_id_0>System\nBe terse.\n<extra_id_1>User\nName a colour.\n<extra_id_1>Assistant\nRed."
               "\n<extra_id_1>User\nAnother?", "response": "Blue.", "helpfulness": 4, "correctness": 4,
     "coherence": 4, "complexity": 0, "verbosity": 0},
    {"prompt": "<extra_id_0>System\nBe terse.\n<extra_id_1>User\nName a colour.\n<extra_id_1>Assistant\nRed."
               "\n<extra_id_1>User\nAnother?", "response": "Red, again.", "helpfulness": 1, "correctness": 2,
     "coherence": 3, "complexity": 0, "verbosity": 1},
]


def helpsteer2_rows_of(export_rows: list[dict]) -> list[dict]:
    """The helpsteer2 export read back as HelpSteer2's own rows (one per response)."""
    attributes = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
    return [{"prompt": row["prompt"], "response": row[f"response_{k}"],
             **{name: row[f"response_{k}_{name}"] for name in attributes}}
            for row in export_rows for k in (1, 2)]


def test_helpsteer2_rows_come_back_exactly_from_the_helpsteer2_export(project):
    items_import_text(project=project, text=jsonl(HS2_ROWS))
    exported = export(project, format="helpsteer2")
    assert helpsteer2_rows_of(exported) == HS2_ROWS
    assert {row["preference_strength"] for row in exported} == {None}, "nobody stated a preference"

    again = ProjectFactory(rubric_version=project.rubric_version)
    report = items_import_text(project=again, text=jsonl(exported))
    assert report.format == "helpsteer2" and report.judgments["created"] == len(exported)
    assert items_of(again) == items_of(project)
    assert export(again, format="helpsteer2") == exported
    # The attributes are ratings of the imported annotator in both projects, so rubric_scores agree too.
    assert CriterionJudgment.objects.filter(judgment__item__project=again).count() == 5 * len(HS2_ROWS)
    def ratings(rows):  # each import stamps its own judgment ids and times
        return [{**row, "judgment_id": None, "scored_at": None} for row in rows]

    assert ratings(export(again, format="rubric_scores")) == ratings(export(project, format="rubric_scores"))


IMPORTS = {
    "native": [{"id": "n-1", "messages": [{"role": "system", "content": "Be kind."},
                                          {"role": "user", "content": "Pick a prime."}],
                "responses": [{"id": "a", "model": "m1", "content": "7"}, {"id": "b", "model": "m2", "content": "8"}],
                "metadata": {"source": "hand-written", "difficulty": 2}}],
    "trl": [{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
            {"prompt_id": "p-9", "prompt": [{"role": "developer", "content": "Answer in French."},
                                            {"role": "user", "content": "Hello"}],
             "chosen": "Bonjour", "rejected": "Hello", "score_chosen": 8.0}],
    "helpsteer2": [{"prompt": "hi\n<extra_id_1>Assistant\nHello!\n<extra_id_1>User\nhow are you?",
                    "response_1": "Fine.", "response_2": "Go away.", "preference_strength": -2, "split": "train"}],
    "rewardbench": [{"id": 17, "prompt": "Sort a list in Python?", "chosen": "sorted(xs)", "rejected": "You can't.",
                     "chosen_model": "a", "rejected_model": "b", "subset": "hep-python"}],
    "rewardbench2": [{"id": "rb2-1", "prompt": "2+2?", "chosen": ["4"], "rejected": ["5"], "models": ["x", "y"],
                      "subset": "Math"}],
}


def judge_against_the_file(project, users):
    """Human judgments that reverse the file's order on every other item, so the label is the
    people's, not the file's."""
    for k, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        for user in users:
            make_judgment(item, user, preference=2 if k % 2 else -1)


@pytest.mark.parametrize("file_format", list(IMPORTS))
def test_every_import_format_round_trips_through_helpsteer2_and_trl(project, annotator, file_format):
    from tests.factories import UserFactory

    items_import_text(project=project, text=jsonl(IMPORTS[file_format]), file_format=file_format)
    judge_against_the_file(project, [annotator, UserFactory()])
    original = items_of(project)

    # helpsteer2 keeps the stored order: the same items, and the label as the gold strength.
    hs2 = export(project, format="helpsteer2")
    assert len(hs2) == len(original)
    again = ProjectFactory(rubric_version=project.rubric_version)
    items_import_text(project=again, text=jsonl(hs2), gold=True)
    assert items_of(again) == original
    assert {i.external_id: i.gold_preference for i in Item.objects.filter(project=again)} == \
        {row["item_id"]: row["preference_strength"] for row in hs2}

    # trl writes chosen first: the same prompts, metadata and responses, and the same chosen response.
    trl = export(project, format="trl")
    assert {row["subset"] for row in trl} == {IMPORTS[file_format][0].get("subset", "")}
    third = ProjectFactory(rubric_version=project.rubric_version)
    items_import_text(project=third, text=jsonl(trl), gold=True)
    assert {k: (p, m, sorted(r)) for k, (p, m, r) in items_of(third).items()} == \
        {k: (p, m, sorted(r)) for k, (p, m, r) in original.items()}
    assert gold_labels(third) == {row["item_id"]: row["chosen_id"] for row in trl}


def test_judgments_round_trip_with_their_items(project, annotator):
    """Items through helpsteer2 and judgments through the judgments export: the second project's
    exports equal the first's (the annotators now imported/<name>)."""
    from tests.factories import UserFactory

    for file_format in ("native", "helpsteer2"):
        items_import_text(project=project, text=jsonl(IMPORTS[file_format]))
    second = UserFactory(username="second")
    for item in Item.objects.filter(project=project):
        make_judgment(item, annotator, preference=-2, rationale="Left is right.")
        make_judgment(item, second, preference=1, rationale="")
    again = ProjectFactory(rubric_version=project.rubric_version)
    items_import_text(project=again, text=jsonl(export(project, format="helpsteer2")))
    judgments_import_text(project=again, text=jsonl(export(project, format="judgments")))

    assert export(again, format="helpsteer2") == export(project, format="helpsteer2")

    def comparable(rows):
        return [{**row, "judgment_id": None, "annotator": row["annotator"].removeprefix("imported/")} for row in rows]

    assert comparable(export(again, format="judgments")) == comparable(export(project, format="judgments"))


def test_helpsteer2_rows_follow_the_export_filters_like_any_row(project, annotator):
    items_import_text(project=project, text=jsonl(HS2_ROWS))
    assert len(export(project, format="helpsteer2")) == len(HS2_ROWS) // 2
    assert export(project, format="helpsteer2", min_judgments="2") == []
    assert export(project, format="helpsteer2", rubric_version=str(project.rubric_version_id)) == []
    # A person's preference joins the imported ratings: the row carries both.
    item = Item.objects.filter(project=project).order_by("id").first()
    make_judgment(item, annotator, preference=-2, rationale="The first is right.")
    rows = {r["item_id"]: r for r in export(project, format="helpsteer2")}
    row = rows[item.external_id]
    assert (row["preference_strength"], row["n_judgments"], row["response_1_helpfulness"]) == (-2, 2, 3)
    assert row["justification"] == "The first is right."
