"""Export jobs through broker faults (issue 10: "the same rule for export jobs"), with a private Redis
and a real worker on the default queue: each job ends done, written once."""

import time

import pyarrow.parquet as pq
import pytest

from exports.models import ExportJob
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import valid_input

from .conftest import app_call, app_env, wait_for

pytestmark = pytest.mark.faults


@pytest.fixture
def labeled_project():
    from annotator.services import assignment_next_for_user, judgment_submit
    from tests.factories import ItemFactory

    project = ProjectFactory(overlap=1)
    admin = UserFactory(username=f"export-admin-{time.monotonic_ns()}")
    MembershipFactory(project=project, user=admin, role="admin")
    for i in range(5):
        ItemFactory(project=project, external_id=f"e{i}")
    MembershipFactory(project=project, user=(annotator := UserFactory()))
    while (assignment := assignment_next_for_user(project=project, user=annotator)) is not None:
        judgment_submit(assignment=assignment, data=valid_input(assignment, preference=-2))
    return project, admin


def done(job_id):
    return ExportJob.objects.filter(pk=job_id, status__in=["done", "failed"]).exists()


def test_an_export_requested_while_redis_is_down_and_one_whose_message_redis_lost_are_both_written(
        private_redis, workers, labeled_project, tmp_path):
    project, admin = labeled_project
    env = app_env(redis=private_redis, EXPORT_ROOT=str(tmp_path / "exports"), EXPORT_JOB_RESEND_SECONDS=2,
                  SCORING_WATCHDOG_SECONDS=1)
    # 1. Redis is down when the job is requested: the request answers, the job waits, queued.
    private_redis.kill()
    down = app_call(env, "request_export", project_id=project.pk, user_id=admin.pk, export_format="trl")
    assert down["created"] and down["status"] == "queued" and down["seconds"] < 10
    # 2. Redis is up, the job is requested (its message is queued), then Redis restarts empty.
    private_redis.start()
    lost = app_call(env, "request_export", project_id=project.pk, user_id=admin.pk, export_format="judgments")
    assert private_redis.client().llen("default") == 1
    private_redis.kill()
    private_redis.start()
    assert private_redis.client().llen("default") == 0
    worker = workers(env, queues="default")  # the first worker after both faults
    for job_id in (down["job"], lost["job"]):
        wait_for(lambda job_id=job_id: done(job_id), 90, f"export job {job_id}", lambda: worker.log)
    for job_id, rows in ((down["job"], 5), (lost["job"], 5)):
        job = ExportJob.objects.get(pk=job_id)
        assert job.status == "done" and job.attempts == 1 and job.row_count == rows, job.error
        assert pq.read_table(job.file_path).num_rows == rows
    assert "export jobs sent again" in worker.log
