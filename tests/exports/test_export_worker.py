"""A Parquet export job end to end: the API queues it, a real Celery worker process writes the file,
the API serves it. PostgreSQL and Redis are real; rows are committed (transactional_db)."""

import time

import pyarrow.parquet as pq
import pytest

from accounts.services import api_token_create
from tests.integration.conftest import celery_worker_factory  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_writes_the_parquet_file_the_api_then_serves(celery_worker_factory, labeled,  # noqa: F811
                                                                   settings, tmp_path, client):
    settings.EXPORT_ROOT = tmp_path / "exports"
    celery_worker_factory(queues="default", extra_env={"EXPORT_ROOT": str(settings.EXPORT_ROOT)})
    _, raw = api_token_create(user=labeled.admin, name="worker test")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    response = client.get(f"/api/v1/projects/{labeled.project.id}/export", {"format": "judgments", "as": "parquet"},
                          **headers)
    assert response.status_code == 202
    status_url = response.json()["status_url"]
    deadline = time.monotonic() + 60
    while True:
        job = client.get(status_url, **headers).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert job["status"] == "done", job
    assert job["row_count"] == 16

    download = client.get(job["download_url"], **headers)
    path = tmp_path / "download.parquet"
    path.write_bytes(b"".join(download.streaming_content))
    table = pq.read_table(path)
    assert table.num_rows == 16 and table.column_names[0] == "judgment_id"
    assert not list((tmp_path / "exports").rglob("*.partial")), "no half-written file is left behind"
