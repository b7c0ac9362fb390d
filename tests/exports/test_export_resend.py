"""Export jobs follow the same rule as scoring runs (issue 10): PostgreSQL is the truth for work to
do. Requesting a job while the broker is down answers at once and the job waits, queued; the
workers' reconciler sends again a job whose message never left, was lost, or died with its worker."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from exports import jobs
from exports.jobs import export_job_claim, export_job_request, export_jobs_reconcile
from exports.models import ExportJob
from exports.params import export_params_parse

pytestmark = pytest.mark.django_db
SEND = "exports.tasks.export_job_run_task.apply_async"


@pytest.fixture(autouse=True)
def export_settings(settings, tmp_path):
    settings.EXPORT_ROOT = tmp_path / "exports"
    settings.EXPORT_JOB_RESEND_SECONDS = 60


def request_job(project, user, captured):
    with captured(execute=True):
        return export_job_request(project=project, user=user, params=export_params_parse({"format": "trl"},
                                                                                          project=project))


def age(job, seconds=600):
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def sent_ids(send) -> list[int]:
    return [c.args[0][0] for c in send.call_args_list]


def test_a_job_requested_while_the_broker_is_down_is_saved_and_sent_when_it_returns(
        project, project_admin, django_capture_on_commit_callbacks):
    with mock.patch(SEND, side_effect=BrokerError("Retry limit exceeded while trying to reconnect")) as send:
        job, created = request_job(project, project_admin, django_capture_on_commit_callbacks)
    assert created and send.call_count == 1
    assert ExportJob.objects.get(pk=job.pk).status == ExportJob.Status.QUEUED
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=0):
        assert export_jobs_reconcile() == []  # just requested: its message may still be on its way
    age(job)
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=None):
        assert export_jobs_reconcile() == []  # the broker is still down
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=0):
        assert export_jobs_reconcile() == [job.pk] == sent_ids(send)
    assert jobs.export_job_run(job_id=job.pk, worker="w") == "done"


def test_a_job_whose_message_still_waits_is_not_sent_twice(project, project_admin,
                                                           django_capture_on_commit_callbacks):
    with mock.patch(SEND):
        job, _ = request_job(project, project_admin, django_capture_on_commit_callbacks)
    age(job)
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=1):
        assert export_jobs_reconcile() == [] and send.call_count == 0


def test_a_running_job_whose_worker_died_is_sent_again_when_its_lease_runs_out(
        project, project_admin, django_capture_on_commit_callbacks):
    with mock.patch(SEND):
        job, _ = request_job(project, project_admin, django_capture_on_commit_callbacks)
    export_job_claim(job_id=job.pk, worker="dead-worker")
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=0):
        assert export_jobs_reconcile() == []  # its lease is live
    ExportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with mock.patch(SEND) as send, mock.patch.object(jobs, "broker_waiting_messages", return_value=0):
        assert export_jobs_reconcile() == [job.pk] == sent_ids(send)
    assert jobs.export_job_run(job_id=job.pk, worker="new-worker") == "done"
    assert ExportJob.objects.get(pk=job.pk).attempts == 2
