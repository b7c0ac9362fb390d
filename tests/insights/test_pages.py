"""Insights pages, API, roles, the background computation and the rubric draft."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from insights.models import InsightsSnapshot
from insights.services import insights_refresh, insights_snapshot_compute
from insights.tables import TABLES
from rubrics.models import RubricVersion
from tests.factories import UserFactory

PAGES = ["", "agreement/", "annotators/", "scorers/", "rubric/", "leaderboard/"]


@pytest.fixture
def computed(simulated):
    """The simulated project with its Insights computed (the task's body, run here)."""
    with mock.patch("insights.tasks.insights_compute_task.delay"):
        snapshot = insights_refresh(project=simulated.project, user=simulated.admin)
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "done"
    return simulated


def _urls(project_id):
    base = f"/projects/{project_id}/insights/"
    api = f"/api/v1/projects/{project_id}/insights/"
    return [base + page for page in PAGES] + [api, api + "tables/leaderboard", api + "tables/annotators?as=csv"]


def test_outsiders_get_404_everywhere(computed, client_for, outsider):
    c = client_for(outsider)
    for url in _urls(computed.project.id):
        assert c.get(url).status_code == 404, url
    assert c.post(f"/projects/{computed.project.id}/insights/refresh/").status_code == 404
    assert c.post(f"/api/v1/projects/{computed.project.id}/insights/refresh").status_code == 404


def test_annotators_get_403_everywhere(computed, client_for):
    c = client_for(computed.annotator)
    for url in _urls(computed.project.id):
        assert c.get(url).status_code == 403, url
    assert c.post(f"/projects/{computed.project.id}/insights/refresh/").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in_and_the_api_answers_401(computed, client):
    assert client.get(f"/projects/{computed.project.id}/insights/").status_code == 302
    assert client.get(f"/api/v1/projects/{computed.project.id}/insights/").status_code in (401, 403)


@pytest.mark.parametrize("role", ["admin", "reviewer"])
def test_admins_and_reviewers_see_every_page_with_its_charts_and_tables(computed, client_for, role):
    c = client_for(getattr(computed, role))
    for page in PAGES:
        response = c.get(f"/projects/{computed.project.id}/insights/{page}")
        assert response.status_code == 200, page
    body = c.get(f"/projects/{computed.project.id}/insights/agreement/").content.decode()
    assert 'data-chart="chart-agreement-data"' in body and 'id="chart-agreement-data" type="application/json"' in body
    assert f"/api/v1/projects/{computed.project.id}/insights/tables/agreement-overall?as=csv" in body
    rubric_page = c.get(f"/projects/{computed.project.id}/insights/rubric/").content.decode()
    assert "points the wrong way" in rubric_page and "reversed" in rubric_page


def test_pages_are_served_from_the_snapshot_with_a_few_queries(computed, client_for):
    c = client_for(computed.admin)
    c.get(f"/projects/{computed.project.id}/insights/")  # session and first-use costs
    for page in PAGES:
        with CaptureQueriesContext(connection) as queries:
            assert c.get(f"/projects/{computed.project.id}/insights/{page}").status_code == 200
        assert len(queries) <= 6, (page, [q["sql"][:120] for q in queries])
        assert not any("annotator_judgment" in q["sql"] for q in queries), page


def test_every_table_is_served_as_json_and_csv(computed, client_for):
    c = client_for(computed.reviewer)
    for slug, table in TABLES.items():
        data = c.get(f"/api/v1/projects/{computed.project.id}/insights/tables/{slug}").json()
        assert data["table"] == slug and [col["key"] for col in data["columns"]] == table.keys
        csv = c.get(f"/api/v1/projects/{computed.project.id}/insights/tables/{slug}", {"as": "csv"})
        assert csv["Content-Type"].startswith("text/csv")
        lines = csv.content.decode().splitlines()
        assert lines[0] == ",".join(table.keys) and len(lines) == len(data["rows"]) + 1
    board = c.get(f"/api/v1/projects/{computed.project.id}/insights/tables/leaderboard").json()
    assert {r["source"] for r in board["rows"]} == {"humans", "rm-good"}
    assert c.get(f"/api/v1/projects/{computed.project.id}/insights/tables/nope").status_code == 404
    assert c.get(f"/api/v1/projects/{computed.project.id}/insights/tables/annotators", {"as": "xml"}).status_code == 400


def test_the_api_lists_the_status_and_the_tables(computed, client_for):
    data = client_for(computed.admin).get(f"/api/v1/projects/{computed.project.id}/insights/").json()
    assert data["status"] == "done" and data["judgments"] == 180 and data["summary"]["annotators"] == 3
    assert {t["table"] for t in data["tables"]} == set(TABLES)


def test_the_openapi_schema_documents_the_insights_endpoints(client_for, computed):
    schema = client_for(computed.admin).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    for path in (
        "/api/v1/projects/{project_id}/insights/",
        "/api/v1/projects/{project_id}/insights/refresh",
        "/api/v1/projects/{project_id}/insights/tables/{table}",
    ):
        assert path in text, path
    assert "leaderboard" in text and "text/csv" in text


def test_a_refresh_queues_one_task_and_a_second_click_starts_nothing(simulated, django_capture_on_commit_callbacks):
    with mock.patch("insights.tasks.insights_compute_task.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            first = insights_refresh(project=simulated.project, user=simulated.admin)
        with django_capture_on_commit_callbacks(execute=True):
            second = insights_refresh(project=simulated.project, user=simulated.admin)
    assert first.pk == second.pk and second.status == InsightsSnapshot.Status.QUEUED
    delay.assert_called_once_with(first.pk)


def test_the_task_claims_the_snapshot_once_and_stores_every_section(simulated):
    with mock.patch("insights.tasks.insights_compute_task.delay"):
        snapshot = insights_refresh(project=simulated.project, user=simulated.admin)
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "done"
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "not claimed"  # a redelivery
    snapshot.refresh_from_db()
    assert snapshot.status == "done" and snapshot.progress == 1.0 and snapshot.judgments == 180
    assert snapshot.agreement["overall"] and snapshot.rubric["criteria"] and snapshot.leaderboard["rows"]


def test_a_computation_whose_worker_died_is_claimed_again_after_its_lease(simulated):
    from datetime import timedelta

    from django.utils import timezone

    snapshot = InsightsSnapshot.objects.create(
        project=simulated.project, status="running", lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "not claimed"
    InsightsSnapshot.objects.filter(pk=snapshot.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert insights_snapshot_compute(snapshot_id=snapshot.pk) == "done"


def test_the_progress_partial_polls_while_running_and_reloads_the_page_when_done(simulated, client_for):
    c = client_for(simulated.admin)
    snapshot = InsightsSnapshot.objects.create(
        project=simulated.project, status="running", progress=0.4, stage="Reading judgments: 40 of 100 items"
    )
    running = c.get(f"/projects/{simulated.project.id}/insights/progress/?was=running")
    assert running.status_code == 200 and b"Reading judgments: 40 of 100 items" in running.content
    assert b'hx-trigger="every 2s"' in running.content
    InsightsSnapshot.objects.filter(pk=snapshot.pk).update(status="done")
    done = c.get(f"/projects/{simulated.project.id}/insights/progress/?was=running")
    assert done.status_code == 286 and done["HX-Refresh"] == "true"


def test_a_page_before_the_first_computation_offers_to_compute(simulated, client_for):
    body = client_for(simulated.reviewer).get(f"/projects/{simulated.project.id}/insights/rubric/").content
    assert b"have not been computed" in body and b'id="insights-refresh"' in body


def test_the_project_page_links_insights_for_staff_only(simulated, client_for):
    url = f"/projects/{simulated.project.id}/"
    assert b'id="insights-link"' in client_for(simulated.reviewer).get(url).content
    assert b'id="insights-link"' not in client_for(simulated.annotator).get(url).content


def test_a_site_admin_opens_a_rubric_draft_with_the_suggested_points(computed, client_for):
    site_admin = UserFactory(username="site-admin", is_staff=True)
    from tests.factories import MembershipFactory

    from .builders import Role

    MembershipFactory(project=computed.project, user=site_admin, role=Role.ADMIN)
    response = client_for(site_admin).post(f"/projects/{computed.project.id}/insights/rubric/draft/")
    version = computed.project.rubric_version
    draft = RubricVersion.objects.get(rubric_set=version.rubric_set, status="draft")
    assert response.status_code == 302 and response["Location"].endswith(f"/v/{draft.number}/")
    points = {c.key: (c.points, c.importance) for c in draft.criteria.all()}
    suggested = {r["criterion"]: r["suggested_points"] for r in InsightsSnapshot.objects.get().rubric["criteria"]}
    assert {k: p for k, (p, _i) in points.items()} == suggested
    assert points["reversed"][1] == "pitfall" and points["reversed"][0] < 0
    assert "Weights suggested by Insights" in draft.notes
    # The published version is untouched.
    assert {c.key: c.points for c in version.criteria.all()}["reversed"] == 2


def test_a_project_admin_who_is_not_a_site_admin_cannot_open_a_draft(computed, client_for):
    response = client_for(computed.admin).post(f"/projects/{computed.project.id}/insights/rubric/draft/", follow=True)
    assert b"Only site administrators edit rubrics" in response.content
    assert not RubricVersion.objects.filter(status="draft").exists()
