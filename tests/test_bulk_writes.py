"""config/db.py: the bulk writers store every value as the ORM would (COPY's text format on PostgreSQL)."""

import math

import pytest

from annotator.models import Item, Response
from config.db import bulk_insert, bulk_update
from scoring.models import ResponseScore, Scorer

AWKWARD = "tab\there, newline\nthere, CR\r, backslash \\ and \\N, quote \" é 😀 \u2028"


@pytest.mark.django_db
def test_bulk_insert_stores_awkward_text_json_nulls_and_defaults_as_given(project):
    metadata = {"path": "C:\\temp\\n", "text": AWKWARD, "n": [1, 2.5, None, True], "big": 2**70}
    item_id, = bulk_insert(Item, [{"project_id": project.pk, "external_id": AWKWARD,
                                   "prompt": [{"role": "user", "content": AWKWARD}], "metadata": metadata,
                                   "gold_preference": None, "is_gold": True}])
    response_ids = bulk_insert(Response, [{"item_id": item_id, "external_id": "a", "content": AWKWARD, "position": 1},
                                          {"item_id": item_id, "external_id": "b", "content": "\\", "model_name": ""}])
    item = Item.objects.get(pk=item_id)
    assert (item.external_id, item.prompt[0]["content"], item.metadata) == (AWKWARD, AWKWARD, metadata)
    assert item.is_gold and item.gold_preference is None and item.gold_ranking == [] and item.is_open
    first, second = Response.objects.filter(pk__in=response_ids).order_by("external_id")
    assert (first.content, first.position, first.metadata) == (AWKWARD, 1, {})
    assert (second.content, second.position) == ("\\", 0)


@pytest.mark.django_db
def test_bulk_update_sets_floats_and_json_with_backslashes(project):
    item_id, = bulk_insert(Item, [{"project_id": project.pk, "external_id": "x", "prompt": []}])
    response_id, = bulk_insert(Response, [{"item_id": item_id, "external_id": "a", "content": "A"}])
    scorer = Scorer.objects.create(name="length", backend="length")
    score = ResponseScore.objects.create(response_id=response_id, scorer=scorer, input_hash="h", value=0.0)
    bulk_update(ResponseScore, [{"id": score.pk, "value": math.inf, "components": {"a\\b": -0.5, "t": "\t"}}],
                ["value", "components"])
    bulk_update(Item, [{"id": item_id, "metadata": {"note": AWKWARD}, "gold_preference": -2}],
                ["metadata", "gold_preference"])
    score.refresh_from_db()
    assert score.value == math.inf and score.components == {"a\\b": -0.5, "t": "\t"}
    item = Item.objects.get(pk=item_id)
    assert item.metadata == {"note": AWKWARD} and item.gold_preference == -2
