"""The export page: who sees it, the matching-rows partial, downloads, Parquet jobs and agreement."""

import csv
import io

import pyarrow.parquet as pq
import pytest
from django.test import Client

from exports.jobs import export_job_run
from exports.models import ExportJob

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"


def url(project, suffix=""):
    return f"/projects/{project.id}/export/{suffix}"


def test_admins_and_reviewers_get_the_export_page(client_for, labeled):
    for user in (labeled.admin, labeled.reviewer):
        response = client_for(user).get(url(labeled.project))
        assert response.status_code == 200
        body = response.content.decode()
        assert 'id="export-form"' in body and "TRL preference pairs" in body
        assert labeled.version.rubric_set.name in body, "the rubric versions the project used are offered"


def test_annotators_get_403_outsiders_404_and_anonymous_users_the_login(client_for, labeled, outsider):
    for user, status in ((labeled.annotator, 403), (outsider, 404)):
        assert client_for(user).get(url(labeled.project)).status_code == status
        assert client_for(user).get(url(labeled.project, "download"), {"format": "trl"}).status_code == status
        assert client_for(user).post(url(labeled.project), {"format": "trl"}).status_code == status
    response = Client().get(url(labeled.project))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_matching_rows_partial_counts_the_export(client_for, labeled):
    client = client_for(labeled.admin)
    response = client.get(url(labeled.project, "count"), {"format": "trl"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="match-count">6 <small>rows' in body
    assert 'curl -H "Authorization: Bearer $RUBRICATE_TOKEN"' in body
    assert f"/api/v1/projects/{labeled.project.id}/export?format=trl&amp;" in body
    assert f"manage.py export {labeled.project.id} --format trl --as jsonl" in body
    response = client.get(url(labeled.project, "count"), {"format": "trl", "tie_policy": "keep"}, **HTMX)
    assert 'id="match-count">8 <small>rows' in response.content.decode()


def test_bad_filters_show_the_field_in_the_partial(client_for, labeled):
    response = client_for(labeled.admin).get(url(labeled.project, "count"), {"format": "trl",
                                                                    "min_agreement": "5"}, **HTMX)
    assert response.status_code == 200  # htmx swaps it in; the error box says what is wrong
    body = response.content.decode()
    assert "error-box" in body and "min_agreement" in body


def test_download_streams_the_chosen_file(client_for, labeled):
    response = client_for(labeled.admin).get(url(labeled.project, "download"),
                                             {"format": "helpsteer2", "as": "csv", "tie_policy": "keep"})
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment; filename=" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 7 and rows[0]["preference_strength"] == "-3"


def test_download_refuses_parquet_and_bad_filters_with_a_page(client_for, labeled):
    client = client_for(labeled.admin)
    response = client.get(url(labeled.project, "download"), {"format": "trl", "as": "parquet"})
    assert response.status_code == 400 and "export job" in response.content.decode()
    response = client.get(url(labeled.project, "download"), {"format": "trl", "min_judgments": "x"})
    assert response.status_code == 400 and "min_judgments" in response.content.decode()


def test_starting_a_parquet_export_shows_the_job_and_polls_it(client_for, labeled, django_capture_on_commit_callbacks):
    client = client_for(labeled.admin)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url(labeled.project), {"format": "trl", "min_judgments": "2"}, **HTMX)
    assert response.status_code == 200
    job = ExportJob.objects.get()
    assert job.params == {"format": "trl", "min_judgments": "2", "tie_policy": "drop"}
    body = response.content.decode()
    assert f'id="export-job-{job.id}"' in body and 'hx-trigger="every 2s"' in body
    poll = client.get(url(labeled.project, f"jobs/{job.id}"), **HTMX)
    assert poll.status_code == 200 and "Queued" in poll.content.decode()
    export_job_run(job_id=job.id)
    poll = client.get(url(labeled.project, f"jobs/{job.id}"), **HTMX)
    assert poll.status_code == 286, "286 stops htmx polling"
    assert "every 2s" not in poll.content.decode() and f"?job={job.id}" in poll.content.decode()


def test_a_finished_jobs_file_downloads_from_the_page(client_for, labeled, tmp_path,
                                                      django_capture_on_commit_callbacks):
    client = client_for(labeled.admin)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(url(labeled.project), {"format": "judgments"})
    job = ExportJob.objects.get()
    export_job_run(job_id=job.id)
    response = client.get(url(labeled.project, "download"), {"job": job.id})
    assert response.status_code == 200
    path = tmp_path / "job.parquet"
    path.write_bytes(b"".join(response.streaming_content))
    assert pq.read_table(path).num_rows == 16


def test_a_plain_post_redirects_back_to_the_page_with_the_filters(client_for, labeled,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(labeled.admin).post(url(labeled.project), {"format": "trl", "tie_policy": "keep"})
    assert response.status_code == 302
    assert response["Location"].startswith(url(labeled.project)) and "tie_policy=keep" in response["Location"]


def test_another_projects_job_is_404_here(client_for, labeled, outsider, foreign):
    job = ExportJob.objects.create(project=foreign, requested_by=outsider, export_format="trl", status="done")
    client = client_for(labeled.admin)
    assert client.get(url(labeled.project, f"jobs/{job.id}"), **HTMX).status_code == 404
    assert client.get(url(labeled.project, "download"), {"job": job.id}).status_code == 404
    assert client.get(url(labeled.project, "download"), {"job": "x"}).status_code == 404


def test_the_agreement_partial_shows_alpha_and_kappa(client_for, labeled):
    response = client_for(labeled.reviewer).get(url(labeled.project, "agreement"), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Krippendorff" in body and "Fleiss" in body and 'id="alpha-winner"' in body
    assert "Criterion 1" in body and "ann2" in body


def test_the_export_page_needs_csrf_to_start_a_job(labeled):
    client = Client(enforce_csrf_checks=True)
    client.force_login(labeled.admin)
    assert client.post(url(labeled.project), {"format": "trl"}).status_code == 403
    assert not ExportJob.objects.exists()
