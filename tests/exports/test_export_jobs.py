"""Export jobs are claimed under a lease: one job runs once, even when two workers get its message."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from exports import jobs
from exports.jobs import export_job_claim, export_job_run
from exports.models import ExportJob


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"


def new_job(project, user) -> ExportJob:
    return ExportJob.objects.create(project=project, requested_by=user, export_format="trl", params={"format": "trl"})


@pytest.mark.django_db
def test_a_job_is_claimed_by_one_worker_until_its_lease_runs_out(project, project_admin):
    job = new_job(project, project_admin)
    assert export_job_claim(job_id=job.id, worker="w1") is not None
    assert export_job_claim(job_id=job.id, worker="w2") is None, "the lease is held"
    assert export_job_run(job_id=job.id, worker="w2") == "busy"

    ExportJob.objects.filter(pk=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = export_job_claim(job_id=job.id, worker="w2")
    assert taken is not None and taken.worker == "w2" and taken.attempts == 2


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_written_by_the_next_claim(project, project_admin, labeled):
    job = new_job(project, project_admin)
    export_job_claim(job_id=job.id, worker="w1")
    ExportJob.objects.filter(pk=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert export_job_run(job_id=job.id, worker="w2") == "done"
    job.refresh_from_db()
    assert job.status == "done" and job.worker == "w2" and job.row_count == 6


@pytest.mark.django_db
def test_a_job_whose_workers_keep_dying_is_failed_after_the_last_attempt(project, project_admin, settings):
    settings.EXPORT_JOB_MAX_ATTEMPTS = 2
    job = new_job(project, project_admin)
    for worker in ("w1", "w2"):
        assert export_job_claim(job_id=job.id, worker=worker) is not None
        ExportJob.objects.filter(pk=job.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert export_job_claim(job_id=job.id, worker="w3") is None
    job.refresh_from_db()
    assert job.status == "failed" and "2 times" in job.error and job.finished_at


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_job_at_once_write_it_once(project, project_admin, monkeypatch):
    job = new_job(project, project_admin)
    writes = []
    both_claimed = threading.Barrier(2)
    real = jobs.export_write_parquet

    def slow_write(**kwargs):
        writes.append(threading.current_thread().name)
        threading.Event().wait(0.5)  # the other worker's claim comes while this one writes
        return real(**kwargs)

    monkeypatch.setattr(jobs, "export_write_parquet", slow_write)
    outcomes = {}

    def worker(name):
        try:
            both_claimed.wait(timeout=10)
            outcomes[name] = export_job_run(job_id=job.id, worker=name)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(name,), name=name) for name in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes.values()) == ["busy", "done"]
    assert len(writes) == 1, "one worker wrote the file"
    job.refresh_from_db()
    assert job.status == "done" and job.attempts == 1 and job.worker == writes[0]


@pytest.mark.django_db
def test_a_busy_job_is_looked_at_again_once_the_lease_could_have_run_out(project, project_admin, monkeypatch,
                                                                           settings):
    from celery.exceptions import Retry

    from exports.tasks import export_job_run_task

    settings.EXPORT_JOB_LEASE_SECONDS = 120
    job = new_job(project, project_admin)
    export_job_claim(job_id=job.id, worker="another-host:1")
    retries = []

    def retry(**kwargs):
        retries.append(kwargs)
        return Retry()

    monkeypatch.setattr(export_job_run_task, "retry", retry)
    with pytest.raises(Retry):
        export_job_run_task.run(job.id)
    assert retries == [{"countdown": 120.0}]
