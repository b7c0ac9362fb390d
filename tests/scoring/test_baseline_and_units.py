"""A fresh install has the `length` baseline ready; its numbers are named characters (and words),
never tokens, wherever they are shown."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string

from scoring import services
from scoring.models import Scorer
from scoring.selectors import response_scores_for_items
from scoring.units import score_units
from tests.factories import ScorerFactory

from .helpers import make_items

pytestmark = pytest.mark.django_db


def test_a_fresh_install_gets_the_length_baseline_once():
    Scorer.objects.all().delete()
    out = StringIO()
    call_command("baseline_scorer", stdout=out)
    call_command("baseline_scorer", stdout=out)
    scorer = Scorer.objects.get()
    assert (scorer.name, scorer.backend, scorer.options, scorer.is_active) == ("length", "length", {"unit": "chars"},
                                                                             True)
    assert out.getvalue().count("created") == 1


def test_an_install_with_scorers_is_left_alone():
    Scorer.objects.all().delete()
    ScorerFactory(name="my-rm", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model="/models/rm")
    assert services.scorer_baseline_ensure() is None
    assert list(Scorer.objects.values_list("name", flat=True)) == ["my-rm"]


def test_make_run_creates_the_baseline_before_the_demo():
    from pathlib import Path

    launch = (Path(__file__).resolve().parents[2] / "config" / "launch.py").read_text()
    assert launch.index('_manage("baseline_scorer")') < launch.index('_manage("load_demo"')
    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    assert "manage.py baseline_scorer" in compose


@pytest.mark.parametrize(("backend", "options", "value", "count"), [
    ("length", {}, "characters", "words"),
    ("length", {"unit": "chars"}, "characters", "words"),
    ("length", {"unit": "words"}, "words", "words"),
    ("hf_sequence_classifier", {}, "reward", "tokens"),
    ("openai_judge", {"mode": "criteria"}, "score", "tokens"),
])
def test_each_backend_names_its_units(backend, options, value, count):
    units = score_units(backend=backend, options=options)
    assert (units.value, units.count) == (value, count)


def _scored_length_item(project, project_admin, scorer):
    (item,) = make_items(project, 1, contents=[["four", "twelve chars"]])
    run = services.scoring_run_start(project=project, scorer=scorer, actor=project_admin)
    services.scoring_batch_execute(batch_id=run.batches.get().id, worker="w")
    return item, run


def test_length_scores_read_as_characters_not_tokens(project, project_admin):
    scorer = ScorerFactory(name="length", backend=Scorer.Backend.LENGTH, options={"unit": "chars"})
    item, _ = _scored_length_item(project, project_admin, scorer)
    html = render_to_string("scoring/_item_scores.html",
                            {"item": item, "scores": response_scores_for_items(item_ids=[item.id])})
    assert "(characters)" in html
    assert 'title="12 characters · 2 words"' in html and 'title="4 characters · 1 word"' in html
    assert "tokens" not in html


def test_the_run_page_counts_words_for_the_length_baseline(client_for, project, project_admin):
    scorer = ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)
    _, run = _scored_length_item(project, project_admin, scorer)
    body = client_for(project_admin).get(f"/scoring/runs/{run.id}/").content.decode()
    assert "<dt>Words / s</dt>" in body and "<dt>Words</dt>" in body and "Tokens" not in body
    assert '<dd id="run-tokens">3</dd>' in body


def test_the_scorer_list_names_the_length_unit(client_for, staff_admin):
    ScorerFactory(name="length", backend=Scorer.Backend.LENGTH, options={"unit": "chars"})
    body = client_for(staff_admin).get("/scoring/").content.decode()
    assert "counts characters" in body and "chars<" not in body
