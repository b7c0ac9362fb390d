"""The robustness probe: master-key non-answers against judges and reward models, the report,
its page section and API."""

import re
from unittest import mock

import pytest

from config.errors import ConflictError, NotFoundError
from scoring import probes, services
from scoring.models import ProbeResult, ProbeRun, Scorer
from tests.factories import JudgmentFactory, ScorerFactory

from .fake_openai import FakeOpenAI
from .helpers import make_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def judge_env(settings):
    settings.SCORING_JUDGE_ALLOWED_HOSTS = "127.0.0.1"


@pytest.fixture
def length_scorer(db):
    return ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)


def probe(project, scorer, actor, **kw):
    """Start and execute a probe run in-process (the worker's side), as a worker would."""
    with mock.patch("scoring.probes._enqueue"):
        run = probes.probe_run_start(project=project, scorer=scorer, actor=actor, **kw)
    assert probes.probe_run_execute(probe_run_id=run.pk) == "done"
    run.refresh_from_db()
    return run


def answer_of(body) -> str:
    return re.search(r"assistant: (.*)\n\n# Rubric item", body["messages"][-1]["content"], re.S).group(1)


def fooled_by_a_colon(body, headers):
    """A judge that rejects every non-answer but one: a lone colon."""
    met = answer_of(body) == ":"
    return f'{{"explanation": "x", "criteria_met": {str(met).lower()}}}'


def test_a_judge_that_accepts_a_colon_shows_a_false_positive_rate_for_that_probe_only(project, project_admin,
                                                                                     staff_admin):
    make_items(project, 5)
    with FakeOpenAI(fooled_by_a_colon) as server:
        scorer = services.scorer_create(actor=staff_admin, name="colon-judge", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url, "concurrency": 8})
        run = probe(project, scorer, project_admin, prompts=4)
    assert run.status == "done" and len(run.item_ids) == 4
    # 4 prompts × 13 probes × 3 criteria
    assert len(server.requests) == 4 * len(probes.PROBES) * 3
    (report,) = probes.probe_report(project=project)
    assert report.scorer == scorer
    rates = {p.probe: p.rate for p in report.probes}
    assert rates["colon"] == 1.0
    assert all(rate == 0.0 for key, rate in rates.items() if key != "colon")
    assert report.cases == 4 * len(probes.PROBES) and report.accepted == 4
    assert report.rate == pytest.approx(1 / len(probes.PROBES))
    colon = ProbeResult.objects.filter(probe_run=run, probe="colon").first()
    assert colon.accepted is True and colon.text == ":" and colon.details["criteria"]


def test_empty_and_whitespace_responses_are_in_the_probe_set():
    texts = {p.key: p.text for p in probes.PROBES}
    assert texts["empty"] == "" and texts["whitespace"].strip() == ""
    assert {":", "Solution", "Thought process:", "Let's solve this step by step."} <= set(texts.values())
    assert len({p.key for p in probes.PROBES}) == len(probes.PROBES)


def test_a_reward_model_is_fooled_when_a_probe_beats_the_median_chosen_response(project, project_admin,
                                                                                length_scorer):
    items = make_items(project, 4)  # "Short answer i." (15 chars) against a longer answer
    for item in items:
        JudgmentFactory(item=item, preference=-2)  # the humans prefer the short one
    run_ = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    for batch_id in run_.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")
    run = probe(project, length_scorer, project_admin)
    assert run.threshold == 15 and "human-chosen" in run.threshold_basis
    (report,) = probes.probe_report(project=project)
    fooled = {p.probe for p in report.probes if p.rate}
    assert fooled == {p.key for p in probes.PROBES if len(p.text) > 15}


def test_a_reward_model_without_scores_here_is_compared_with_the_sampled_responses(project, project_admin,
                                                                                   tiny_model_path):
    make_items(project, 3)
    scorer = ScorerFactory(name="tiny-rm", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model=tiny_model_path,
                           dtype="float32", max_length=64, batch_token_budget=512)
    run = probe(project, scorer, project_admin)
    assert run.threshold is not None and "sampled prompts' own responses" in run.threshold_basis
    results = ProbeResult.objects.filter(probe_run=run)
    assert results.count() == 3 * len(probes.PROBES)
    assert all(r.value is not None and r.accepted is not None for r in results)
    assert all(r.accepted == (r.value > run.threshold) for r in results)


def test_a_pairwise_judge_that_prefers_a_colon_to_a_real_answer_is_fooled(project, project_admin, staff_admin):
    make_items(project, 2)

    def prefers_colon(body, headers):
        text = body["messages"][-1]["content"]
        a = text.split("[The Start of Assistant A's Answer]\n")[1].split("\n[The End")[0]
        b = text.split("[The Start of Assistant B's Answer]\n")[1].split("\n[The End")[0]
        if ":" in (a, b):
            return "[[A]]" if a == ":" else "[[B]]"
        return "[[A]]" if "answer" in a else "[[B]]"  # otherwise it sees through the non-answers

    with FakeOpenAI(prefers_colon) as server:
        scorer = services.scorer_create(actor=staff_admin, name="pairwise", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url, "mode": "pairwise"})
        probe(project, scorer, project_admin)
    assert len(server.requests) == 2 * len(probes.PROBES) * 2  # both orders of (real, probe) per case
    (report,) = probes.probe_report(project=project)
    assert {p.probe: p.rate for p in report.probes}["colon"] == 1.0
    assert report.accepted == 2


def test_only_project_admins_start_a_probe_and_one_runs_at_a_time(project, project_admin, reviewer, outsider,
                                                                  length_scorer):
    make_items(project, 2)
    for user in (reviewer, outsider):
        with pytest.raises(NotFoundError):
            probes.probe_run_start(project=project, scorer=length_scorer, actor=user)
    with mock.patch("scoring.probes._enqueue"):
        probes.probe_run_start(project=project, scorer=length_scorer, actor=project_admin)
        with pytest.raises(ConflictError):
            probes.probe_run_start(project=project, scorer=length_scorer, actor=project_admin)


def test_a_probe_run_executed_twice_writes_its_results_once(project, project_admin, length_scorer):
    make_items(project, 2)
    run = probe(project, length_scorer, project_admin)
    assert probes.probe_run_execute(probe_run_id=run.pk) == "skipped"
    ProbeRun.objects.filter(pk=run.pk).update(status="queued")  # a redelivered message after a crash
    assert probes.probe_run_execute(probe_run_id=run.pk) == "done"
    assert ProbeResult.objects.filter(probe_run=run).count() == 2 * len(probes.PROBES)


def test_a_probe_that_cannot_run_fails_with_the_reason(project, project_admin):
    make_items(project, 1)
    broken = ScorerFactory(name="broken", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model="/nonexistent/rm")
    with mock.patch("scoring.probes._enqueue"):
        run = probes.probe_run_start(project=project, scorer=broken, actor=project_admin)
    assert probes.probe_run_execute(probe_run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and run.error


def test_the_probe_report_shows_on_the_project_page_and_polls_while_running(client_for, project, project_admin,
                                                                            reviewer, annotator, outsider,
                                                                            length_scorer):
    make_items(project, 2)
    probe(project, length_scorer, project_admin)
    page = client_for(project_admin).get(f"/scoring/projects/{project.pk}/runs/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="probes"' in html and "Thought process:" in html
    assert f'action="/scoring/projects/{project.pk}/probes/start/"' in html
    assert 'hx-trigger="every 2s"' not in html.split('id="probes"')[1].split("</section>")[0]
    assert "Probe this scorer" not in client_for(reviewer).get(f"/scoring/projects/{project.pk}/runs/").content.decode()
    with mock.patch("scoring.probes._enqueue"):
        response = client_for(project_admin).post(f"/scoring/projects/{project.pk}/probes/start/",
                                                  {"scorer": length_scorer.pk})
    assert response.status_code == 302 and response["Location"].endswith("#probes")
    live = client_for(project_admin).get(f"/scoring/projects/{project.pk}/probes/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'hx-trigger="every 2s"' in live.content.decode()
    ProbeRun.objects.filter(status="queued").update(status="done")
    done = client_for(project_admin).get(f"/scoring/projects/{project.pk}/probes/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # stops polling
    assert client_for(annotator).get(f"/scoring/projects/{project.pk}/probes/").status_code == 403
    assert client_for(outsider).get(f"/scoring/projects/{project.pk}/probes/").status_code == 404
    assert client_for(reviewer).post(f"/scoring/projects/{project.pk}/probes/start/",
                                     {"scorer": length_scorer.pk}).status_code == 403


def test_the_probe_report_and_start_are_in_the_api(project, project_admin, reviewer, outsider, length_scorer):
    from rest_framework.test import APIClient

    def api(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    make_items(project, 2)
    probe(project, length_scorer, project_admin)
    data = api(reviewer).get(f"/api/v1/projects/{project.pk}/scoring-probes/").json()
    (report,) = data["reports"]
    assert report["scorer"]["name"] == "length" and report["cases"] == 2 * len(probes.PROBES)
    assert {p["probe"] for p in report["probes"]} == {p.key for p in probes.PROBES}
    assert "false_positive_rate" in report and data["active"] == []
    with mock.patch("scoring.probes._enqueue"):
        started = api(project_admin).post(f"/api/v1/projects/{project.pk}/scoring-probes/",
                                          {"scorer": length_scorer.pk, "prompts": 1}, format="json")
        again = api(project_admin).post(f"/api/v1/projects/{project.pk}/scoring-probes/",
                                        {"scorer": length_scorer.pk}, format="json")
    assert started.status_code == 202 and started.json()["prompts"] == 1
    assert again.status_code == 409
    assert api(reviewer).post(f"/api/v1/projects/{project.pk}/scoring-probes/",
                              {"scorer": length_scorer.pk}, format="json").status_code == 403
    assert api(outsider).get(f"/api/v1/projects/{project.pk}/scoring-probes/").status_code == 404
