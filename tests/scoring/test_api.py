"""Scoring API: start a run, read its status, cancel/retry, list model scores, the report."""

import pytest

from accounts.services import api_token_create
from scoring import services
from scoring.models import Scorer, ScoringRun
from tests.factories import JudgmentFactory, ScorerFactory

from .helpers import make_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def length_scorer(db):
    return ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)


def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def finish(run):
    for batch_id in run.batches.values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")


def test_a_project_admin_starts_a_run_and_reads_its_status(project, project_admin, length_scorer):
    make_items(project, 2)
    response = api(project_admin).post(f"/api/v1/projects/{project.id}/scoring-runs/",
                                       {"scorer": length_scorer.id, "scope": "all"}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "queued" and data["total"] == 4 and data["scorer"]["name"] == "length"
    assert data["progress"]["percent"] == 0 and data["progress"]["batches"]["pending"] == 1
    finish(ScoringRun.objects.get(pk=data["id"]))
    status = api(project_admin).get(f"/api/v1/scoring-runs/{data['id']}/").json()
    assert status["status"] == "done" and status["done"] == 4 and status["progress"]["percent"] == 100
    assert status["progress"]["responses_per_s"] is not None


def test_the_api_answers_with_a_bearer_token(project, project_admin, length_scorer):
    from rest_framework.test import APIClient

    make_items(project, 1)
    _, secret = api_token_create(user=project_admin, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id},
                       format="json").status_code == 201


def test_outsiders_get_404_annotators_403_and_reviewers_cannot_start(project, reviewer, outsider, annotator,
                                                                     length_scorer):
    make_items(project, 1)
    for user, status in ((outsider, 404), (annotator, 403)):
        assert api(user).get(f"/api/v1/projects/{project.id}/scoring-runs/").status_code == status
        assert api(user).get(f"/api/v1/projects/{project.id}/model-scores/").status_code == status
        assert api(user).get(f"/api/v1/projects/{project.id}/scoring-report/").status_code == status
    for user, status in ((outsider, 404), (reviewer, 403), (annotator, 403)):
        response = api(user).post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id},
                                  format="json")
        assert response.status_code == status
    assert ScoringRun.objects.filter(project=project).count() == 0
    assert api(reviewer).get(f"/api/v1/projects/{project.id}/scoring-runs/").status_code == 200


def test_errors_are_json_with_fields(project, project_admin, length_scorer):
    c = api(project_admin)
    assert c.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": 999999}, format="json").json() == {
        "error": "invalid", "message": "No such scorer.", "fields": {"scorer": "unknown id"}}
    bad = c.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id, "scope": "some"},
                 format="json")
    assert bad.status_code == 400 and "scope" in bad.json()["fields"]
    empty = c.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id}, format="json")
    assert empty.status_code == 400 and empty.json()["error"] == "nothing_to_score"
    assert not ScoringRun.objects.exists()


def test_a_second_active_run_is_409(project, project_admin, length_scorer):
    make_items(project, 1)
    c = api(project_admin)
    assert c.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id},
                  format="json").status_code == 201
    second = c.post(f"/api/v1/projects/{project.id}/scoring-runs/", {"scorer": length_scorer.id}, format="json")
    assert second.status_code == 409 and second.json()["error"] == "run_active"
    assert ScoringRun.objects.filter(project=project).count() == 1


def test_cancel_and_retry_through_the_api(project, project_admin, length_scorer):
    make_items(project, 1)
    run = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    c = api(project_admin)
    assert c.post(f"/api/v1/scoring-runs/{run.id}/cancel/").json()["status"] == "cancelled"
    cancelled = ScoringRun.objects.values().get(pk=run.id)
    assert c.post(f"/api/v1/scoring-runs/{run.id}/cancel/").status_code == 409
    assert ScoringRun.objects.values().get(pk=run.id) == cancelled
    assert c.post(f"/api/v1/scoring-runs/{run.id}/retry/").json()["status"] == "queued"


def test_model_scores_are_listed_with_keyset_pagination_and_filters(project, project_admin, length_scorer):
    make_items(project, 3)
    run = services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin)
    finish(run)
    c = api(project_admin)
    first = c.get(f"/api/v1/projects/{project.id}/model-scores/?page_size=4&scorer={length_scorer.id}").json()
    assert len(first["results"]) == 4 and first["next"]
    row = first["results"][0]
    assert {"item", "response", "scorer_name", "value", "components", "truncated", "input_hash"} <= set(row)
    second = c.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert c.get(f"/api/v1/projects/{project.id}/model-scores/?run=abc").status_code == 400


def test_the_report_gives_accuracy_and_length_bias_per_scorer(project, project_admin, length_scorer):
    items = make_items(project, 2)
    for item in items:
        JudgmentFactory(item=item, preference=2)  # humans prefer the second, longer response
    finish(services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin))
    (row,) = api(project_admin).get(f"/api/v1/projects/{project.id}/scoring-report/").json()
    assert row["scorer"]["name"] == "length" and row["accuracy"] == 1.0 and row["compared"] == 2
    assert row["length_bias"]["model_prefers_longer"] == 1.0 and row["length_bias"]["humans_prefer_longer"] == 1.0


def test_the_scorer_list_is_readable_by_members(annotator, length_scorer):
    assert [s["name"] for s in api(annotator).get("/api/v1/scorers/").json()] == ["length"]


def test_the_openapi_schema_documents_the_scoring_operations(client_for, staff_admin):
    schema = client_for(staff_admin).get("/api/v1/schema/?format=json").json()
    ops = {op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op}
    assert {"scoring_runs_start", "scoring_runs_retrieve", "scoring_runs_cancel", "scoring_runs_retry",
            "model_scores_list", "scoring_report", "scorers_list"} <= ops


def test_the_report_falls_back_to_imported_gold_and_gives_the_human_reference_beside_it(project, project_admin,
                                                                                        length_scorer):
    from annotator.services import items_import_text

    line = ('{"id": "g1", "prompt": "Q?", "chosen": "a long and careful answer", "rejected": "no", '
            '"subset": "donotanswer"}')
    items_import_text(project=project, text=line, file_format="rewardbench", gold=True)
    finish(services.scoring_run_start(project=project, scorer=length_scorer, actor=project_admin))
    (row,) = api(project_admin).get(f"/api/v1/projects/{project.id}/scoring-report/").json()
    assert row["reference"] == "gold" and row["accuracy"] == 1.0 and row["compared"] == 1
    assert row["rewardbench"]["sections"] == {"Safety": 1.0}
    assert row["other_reference"]["reference"] == "human" and row["other_reference"]["compared"] == 0


def test_rubric_scores_are_readable_by_staff_only(project, project_admin, annotator):
    assert api(project_admin).get(f"/api/v1/projects/{project.id}/rubric-scores/").json() == []
    assert api(annotator).get(f"/api/v1/projects/{project.id}/rubric-scores/").status_code in (403, 404)
