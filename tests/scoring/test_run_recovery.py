"""Runs never hang (issue 10, problem 1): PostgreSQL is the truth for work to do, the broker only
carries hints. The worker's side is called in-process; the broker is mocked here (tests/faults/ has
the same with a real Redis and real worker processes)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from config.errors import ApplicationError, ConflictError
from scoring import services
from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun
from tests.factories import ScorerFactory

from .helpers import make_items

pytestmark = pytest.mark.django_db
SEND = "scoring.tasks.score_batch.apply_async"


@pytest.fixture
def length_scorer(db):
    return ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)


@pytest.fixture
def small_batches(settings):
    settings.SCORING_RESPONSES_PER_BATCH = 2
    settings.SCORING_RESEND_SECONDS = 60


def start(project, scorer, actor, captured, **kw):
    with captured(execute=True):
        return services.scoring_run_start(project=project, scorer=scorer, actor=actor, **kw)


def work(run) -> ScoringRun:
    """A worker takes every message it was sent (here: every pending batch)."""
    for batch_id in run.batches.filter(status="pending").order_by("index").values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="w")
    run.refresh_from_db()
    return run


def age_messages(run, seconds: int = 600):
    ScoringBatch.objects.filter(run=run, sent_at__isnull=False).update(
        sent_at=timezone.now() - timedelta(seconds=seconds))


def sent_ids(send) -> list[int]:
    return [c.args[0][0] for c in send.call_args_list]


def test_a_run_started_while_the_broker_is_down_is_saved_and_sent_when_it_returns(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 3)
    with mock.patch(SEND, side_effect=BrokerError("Retry limit exceeded while trying to reconnect")) as send:
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    assert run.status == ScoringRun.Status.QUEUED and run.batches.count() == 3
    assert send.call_count == 1  # the first failure stops the sending: the caller does not wait on a dead broker
    assert not run.batches.filter(sent_at__isnull=False).exists()
    with mock.patch(SEND, side_effect=BrokerError("still down")):
        assert services.scoring_reconcile().sent == []
    with mock.patch(SEND) as send:  # the broker is back
        result = services.scoring_reconcile()
    assert sorted(result.sent) == sorted(run.batches.values_list("pk", flat=True)) == sorted(sent_ids(send))
    with mock.patch(SEND) as send:
        assert services.scoring_reconcile().sent == [] and send.call_count == 0  # sent once, not every pass
    run = work(run)
    assert run.status == ScoringRun.Status.DONE and (run.done, run.total) == (6, 6)


def test_pending_batches_whose_messages_the_broker_lost_are_sent_again(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 3)
    with mock.patch(SEND):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    batches = list(run.batches.order_by("index"))
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=0):
        assert services.scoring_reconcile().resent == []  # sent a moment ago: not yet overdue
    age_messages(run)
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=3):
        assert services.scoring_reconcile().resent == []  # every pending batch has its message waiting
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=None):
        assert services.scoring_reconcile().resent == []  # the broker cannot say: decide nothing
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=0):
        result = services.scoring_reconcile()  # Redis restarted empty
    assert result.resent == [b.pk for b in batches] == sent_ids(send)
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=0):
        assert services.scoring_reconcile().resent == []  # just resent: not overdue again yet
    assert work(run).status == ScoringRun.Status.DONE


def test_only_as_many_as_are_missing_are_resent_oldest_first(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 3)
    with mock.patch(SEND):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    first, *rest = run.batches.order_by("index")
    age_messages(run, 300)
    ScoringBatch.objects.filter(pk=first.pk).update(sent_at=timezone.now() - timedelta(seconds=900))
    # One message is gone: a worker received it and was SIGKILLed before it began.
    with mock.patch(SEND) as send, mock.patch.object(services, "broker_waiting_messages", return_value=2):
        assert services.scoring_reconcile().resent == [first.pk] == sent_ids(send)


def test_two_reconcilers_at_once_send_a_batch_once(project, project_admin, length_scorer, small_batches,
                                                    django_capture_on_commit_callbacks):
    make_items(project, 2)
    with mock.patch(SEND, side_effect=BrokerError("down")):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    pending = ScoringBatch.objects.filter(run=run, sent_at__isnull=True)
    first = services._claim_for_sending(pending)
    second = services._claim_for_sending(ScoringBatch.objects.filter(run=run, sent_at__isnull=True))
    assert len(first) == 2 and second == []


def test_retry_after_a_cancel_reruns_what_did_not_run_even_when_earlier_runs_scored_it(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 3)
    with mock.patch(SEND):
        assert work(start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)).status == "done"
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)  # scope: all
    first, *rest = run.batches.order_by("index")
    services.scoring_batch_execute(batch_id=first.pk, worker="w")
    services.scoring_run_cancel(run=run, actor=project_admin)
    with mock.patch(SEND):
        run = start_retry = services.scoring_run_retry(run=run, actor=project_admin)
    new = run.batches.filter(status="pending")
    assert sorted(r for b in new for r in b.response_ids) == sorted(r for b in rest for r in b.response_ids)
    assert start_retry.status == ScoringRun.Status.QUEUED
    run = work(run)
    assert run.status == ScoringRun.Status.DONE and (run.done, run.failed, run.total) == (6, 0, 6)
    assert ResponseScore.objects.filter(run=run).count() == 6


def test_retry_on_a_queued_run_sends_its_waiting_batches_again(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 2)
    with mock.patch(SEND, side_effect=BrokerError("down")):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    with mock.patch(SEND) as send:
        run = services.scoring_run_retry(run=run, actor=project_admin)
    assert sorted(sent_ids(send)) == sorted(run.batches.values_list("pk", flat=True))
    assert run.status == ScoringRun.Status.QUEUED
    assert work(run).status == ScoringRun.Status.DONE


def test_retry_on_a_running_run_takes_back_a_dead_workers_batch(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 1)
    with mock.patch(SEND):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    batch = run.batches.get()
    services.scoring_batch_claim(batch_id=batch.pk, worker="dead")
    with pytest.raises(ConflictError):  # a live lease: the worker is on it
        services.scoring_run_retry(run=run, actor=project_admin)
    ScoringBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with mock.patch(SEND) as send:
        services.scoring_run_retry(run=run, actor=project_admin)
    assert sent_ids(send) == [batch.pk]
    assert work(run).status == ScoringRun.Status.DONE


def test_retry_of_a_finished_run_with_nothing_missing_says_so(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 1)
    with mock.patch(SEND):
        run = work(start(project, length_scorer, project_admin, django_capture_on_commit_callbacks))
    with pytest.raises(ApplicationError, match="nothing to retry"):
        services.scoring_run_retry(run=run, actor=project_admin)


def test_an_active_run_with_nothing_left_open_is_closed_by_the_reconciler(
        project, project_admin, length_scorer, small_batches, django_capture_on_commit_callbacks):
    make_items(project, 1)
    with mock.patch(SEND):
        run = start(project, length_scorer, project_admin, django_capture_on_commit_callbacks)
    services.scoring_batch_execute(batch_id=run.batches.get().pk, worker="w")
    # The worker died between its batch's last write and closing the run.
    ScoringRun.objects.filter(pk=run.pk).update(status=ScoringRun.Status.RUNNING, finished_at=None)
    assert services.scoring_reconcile().finished == [run.pk]
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE and run.done == 2


@pytest.mark.django_db(transaction=True)  # the messages are sent on commit, before the page answers
def test_the_start_page_says_when_the_run_waits_for_the_broker(client_for, project, project_admin, length_scorer,
                                                               small_batches):
    make_items(project, 1)
    with mock.patch(SEND, side_effect=BrokerError("down")):
        response = client_for(project_admin).post(f"/scoring/projects/{project.id}/runs/start/",
                                                  {"scorer": length_scorer.pk, "scope": "all"}, follow=True)
    assert response.status_code == 200
    assert "task queue" in response.content.decode()
    assert ScoringRun.objects.get().status == ScoringRun.Status.QUEUED
