"""Scoring pages: who sees what, forms, the live progress partial, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scoring import services
from scoring.models import Scorer, ScoringRun
from tests.factories import JudgmentFactory, ScorerFactory

from .helpers import make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def length_scorer(db):
    return ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)


@pytest.fixture
def run(project, project_admin, length_scorer):
    make_items(project, 3)
    return services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)


def test_the_index_lists_scorers_and_runs_of_my_projects_only(client_for, staff_admin, project_admin, run, outsider):
    page = client_for(project_admin).get("/scoring/")
    assert page.status_code == 200
    assert f"/scoring/runs/{run.id}/" in page.content.decode() and "length" in page.content.decode()
    other = client_for(outsider).get("/scoring/")
    assert f"/scoring/runs/{run.id}/" not in other.content.decode()
    assert "New scorer" in client_for(staff_admin).get("/scoring/").content.decode()
    assert "New scorer" not in page.content.decode()


def test_only_site_admins_manage_scorers(client_for, project_admin, length_scorer):
    c = client_for(project_admin)
    before = Scorer.objects.values().get(pk=length_scorer.pk)
    assert c.get("/scoring/scorers/new/").status_code == 403
    assert c.post("/scoring/scorers/new/", {"name": "x", "backend": "length"}).status_code == 403
    assert c.get(f"/scoring/scorers/{length_scorer.id}/").status_code == 403
    assert c.post(f"/scoring/scorers/{length_scorer.id}/", {"name": "renamed", "backend": "length"}).status_code == 403
    assert Scorer.objects.count() == 1 and Scorer.objects.values().get(pk=length_scorer.pk) == before


def test_a_site_admin_creates_a_scorer_with_the_form(client_for, staff_admin):
    response = client_for(staff_admin).post("/scoring/scorers/new/", {
        "name": "Skywork", "backend": "hf_sequence_classifier", "model": "Skywork/Skywork-Reward-V2-Qwen3-0.6B",
        "revision": "main", "dtype": "auto", "max_length": 8192, "batch_token_budget": 32768,
        "input_format": "chat_template", "is_active": "on", "base_url": "ignored for this backend",
    })
    assert response.status_code == 302
    scorer = Scorer.objects.get(name="Skywork")
    assert scorer.options == {"input_format": "chat_template"} and scorer.max_length == 8192


def test_the_form_shows_an_ssrf_refusal_next_to_the_url(client_for, staff_admin):
    response = client_for(staff_admin).post("/scoring/scorers/new/", {
        "name": "judge", "backend": "openai_judge", "model": "gpt-judge", "dtype": "auto", "max_length": 4096,
        "batch_token_budget": 16384, "base_url": "http://169.254.169.254/v1", "mode": "criteria",
    })
    assert response.status_code == 400
    assert "SCORING_JUDGE_ALLOWED_HOSTS" in response.content.decode()
    assert not Scorer.objects.filter(name="judge").exists()


def test_a_site_admin_edits_a_scorer(client_for, staff_admin, length_scorer):
    c = client_for(staff_admin)
    form = c.get(f"/scoring/scorers/{length_scorer.id}/")
    assert form.status_code == 200 and 'value="length"' in form.content.decode()
    response = c.post(f"/scoring/scorers/{length_scorer.id}/", {
        "name": "length (words)", "backend": "length", "dtype": "auto", "max_length": 4096,
        "batch_token_budget": 16384, "unit": "words", "is_active": "on",
    })
    assert response.status_code == 302
    length_scorer.refresh_from_db()
    assert length_scorer.name == "length (words)" and length_scorer.options == {"unit": "words"}


@pytest.mark.parametrize("who, status", [("project_admin", 200), ("reviewer", 200), ("annotator", 403),
                                         ("outsider", 404)])
def test_the_project_runs_page_is_for_admins_and_reviewers(request, client_for, project, who, status, run):
    user = request.getfixturevalue(who)
    assert client_for(user).get(f"/scoring/projects/{project.id}/runs/").status_code == status
    assert client_for(user).get(f"/scoring/runs/{run.id}/").status_code == status
    assert client_for(user).get(f"/scoring/runs/{run.id}/progress/").status_code == status


def test_only_project_admins_see_the_start_form(client_for, project, project_admin, reviewer, length_scorer):
    url = f"/scoring/projects/{project.id}/runs/"
    assert "Start run" in client_for(project_admin).get(url).content.decode()
    assert "Start run" not in client_for(reviewer).get(url).content.decode()


def test_starting_a_run_from_the_page_redirects_to_its_live_page(client_for, project, project_admin, length_scorer):
    make_items(project, 2)
    response = client_for(project_admin).post(f"/scoring/projects/{project.id}/runs/start/",
                                              {"scorer": length_scorer.id, "scope": "all"})
    run = ScoringRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/scoring/runs/{run.id}/"
    page = client_for(project_admin).get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Cancel run" in page


@pytest.mark.parametrize("who, status", [("reviewer", 403), ("outsider", 404), ("annotator", 403)])
def test_others_cannot_start_cancel_or_retry(request, client_for, project, length_scorer, run, who, status):
    c = client_for(request.getfixturevalue(who))
    assert c.post(f"/scoring/projects/{project.id}/runs/start/", {"scorer": length_scorer.id}).status_code == status
    assert c.post(f"/scoring/runs/{run.id}/cancel/").status_code == status
    assert c.post(f"/scoring/runs/{run.id}/retry/").status_code == status
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.QUEUED


def test_writes_need_post(client_for, project_admin, run):
    assert client_for(project_admin).get(f"/scoring/runs/{run.id}/cancel/").status_code == 405


def test_the_progress_partial_polls_until_the_run_ends_then_answers_286(client_for, project_admin, run):
    c = client_for(project_admin)
    live = c.get(f"/scoring/runs/{run.id}/progress/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'id="run-live"' in live.content.decode()
    assert "<html" not in live.content.decode() and "every 2s" in live.content.decode()
    for batch_id in run.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")
    done = c.get(f"/scoring/runs/{run.id}/progress/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and "every 2s" not in done.content.decode()
    assert "6 / 6" in done.content.decode()


def test_cancel_and_retry_from_the_page(client_for, project_admin, run):
    c = client_for(project_admin)
    assert c.post(f"/scoring/runs/{run.id}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.CANCELLED
    page = c.get(f"/scoring/runs/{run.id}/").content.decode()
    assert "Retry what did not run" in page
    assert c.post(f"/scoring/runs/{run.id}/retry/").status_code == 302
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.QUEUED


def test_the_report_and_disagreements_show_on_the_project_page(client_for, project, project_admin, length_scorer):
    items = make_items(project, 3)
    for item in items:
        JudgmentFactory(item=item, preference=-2)  # humans prefer the shorter; length prefers the longer
    run = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    for batch_id in run.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")
    page = client_for(project_admin).get(f"/scoring/projects/{project.id}/runs/").content.decode()
    assert "0.0%" in page  # accuracy of the length baseline against these humans
    assert 'id="disagreements"' in page and f'id="item-model-scores-{items[0].id}"' in page


def test_the_run_page_needs_the_same_queries_however_many_batches(client_for, project, project_admin, settings,
                                                                  length_scorer, django_assert_max_num_queries):
    c = client_for(project_admin)
    make_items(project, 2)
    small = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    services.scoring_run_cancel(run=small, actor=project_admin)
    settings.SCORING_RESPONSES_PER_BATCH = 2
    make_items(project, 20)
    big = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    assert big.batches.count() == 22
    counts = []
    for run in (small, big):
        for url in (f"/scoring/runs/{run.id}/", f"/scoring/runs/{run.id}/progress/"):
            with CaptureQueriesContext(connection) as queries:
                assert c.get(url).status_code in (200, 286)
            counts.append(len(queries))
    assert counts[:2] == counts[2:]
    with django_assert_max_num_queries(20):
        c.get(f"/scoring/projects/{project.id}/runs/")


def test_the_item_scores_partial_renders_scores_labels_and_preference(project, project_admin, length_scorer):
    from django.template.loader import render_to_string

    from scoring.selectors import response_scores_for_items

    (item,) = make_items(project, 1, contents=[["short", "a much longer answer"]])
    run = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    services.scoring_batch_execute(batch_id=run.batches.get().id, worker="w")
    first, second = item.responses.order_by("position")
    scores = response_scores_for_items(item_ids=[item.id])
    html = render_to_string("scoring/_item_scores.html", {"item": item, "scores": scores,
                                                          "order": [second.id, first.id]})
    assert "length" in html and ">20<" in html and ">5<" in html
    assert "P(A ≻ B)" in html and "1.00" in html  # A is the longer one here: σ(15) ≈ 1
    assert render_to_string("scoring/_item_scores.html", {"item": item, "scores": scores, "hide": True}).strip() == ""
    marked = render_to_string("scoring/_item_scores.html", {"item": item, "scores": scores, "chosen": first.id,
                                                            "show_content": True})
    assert "human pick" in marked and "a much longer answer" in marked


def test_model_scores_are_visible_to_annotators_only_when_the_project_allows(project, annotator, reviewer, outsider):
    from scoring.selectors import model_scores_visible

    assert model_scores_visible(project=project, user=reviewer, annotating=False)
    assert not model_scores_visible(project=project, user=reviewer, annotating=True)
    assert not model_scores_visible(project=project, user=annotator, annotating=False)
    assert not model_scores_visible(project=project, user=outsider, annotating=False)
    project.show_model_scores = True
    assert model_scores_visible(project=project, user=annotator, annotating=True)


def test_judge_endpoints_and_model_paths_are_shown_to_site_admins_only(client_for, staff_admin, project_admin,
                                                                       annotator, outsider):
    """Security finding 8: /scoring/ showed every judge's base URL to any logged-in user."""
    ScorerFactory(name="secret-judge", backend="openai_judge", model="judge-model-x",
                  options={"base_url": "https://judge.internal.example/v1", "mode": "criteria"})
    for user in (project_admin, annotator, outsider):
        page = client_for(user).get("/scoring/").content.decode()
        assert "secret-judge" in page
        assert "judge.internal.example" not in page and "judge-model-x" not in page
    page = client_for(staff_admin).get("/scoring/").content.decode()
    assert "judge.internal.example" in page and "judge-model-x" in page


def test_the_project_page_shows_gold_accuracy_and_human_rubric_scores(client_for, project, project_admin,
                                                                       length_scorer):
    from annotator.services import items_import_text

    line = ('{"id": "g1", "prompt": "Q?", "chosen": "a long and careful answer", "rejected": "no", '
            '"subset": "donotanswer"}')
    items_import_text(project=project, text=line, file_format="rewardbench", gold=True)
    item = project.items.get()
    criterion = project.rubric_version.criteria.order_by("position").first()
    JudgmentFactory(item=item, preference=-1, scores={(item.responses.first(), criterion): 1})
    run = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    for batch_id in run.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")
    page = client_for(project_admin).get(f"/scoring/projects/{project.id}/runs/").content.decode()
    assert "1 / 1 · human" in page and "1 / 1 · gold" in page
    assert 'id="rubric-scores"' in page and "RewardBench Safety" in page
