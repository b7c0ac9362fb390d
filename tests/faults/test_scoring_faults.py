"""Scoring runs through broker and worker faults (issue 10, problem 1), with a private Redis.

Every test ends with the same check: the run is done, every response has exactly one score from
the scorer, the run's counters equal the batches' sums, and every batch is done.
"""

import time

import pytest

from annotator.models import Item, Response
from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

from .conftest import app_call, app_env, wait_for

pytestmark = pytest.mark.faults

# Short leases and a fast watchdog, so recovery happens in seconds (production: 600 s, 30 s, 60 s).
FAST = {"SCORING_RESPONSES_PER_BATCH": 4, "SCORING_BATCH_LEASE_SECONDS": 4, "SCORING_WATCHDOG_SECONDS": 1,
        "SCORING_RESEND_SECONDS": 3}


def make_project(n_items: int, *, poison: int | None = None):
    admin = UserFactory(username=f"admin-{time.monotonic_ns()}")
    project = ProjectFactory()
    MembershipFactory(project=project, user=admin, role="admin")
    items = Item.objects.bulk_create([
        Item(project=project, external_id=f"i{i}", prompt=[{"role": "user", "content": f"Question {i}: why?"}])
        for i in range(n_items)
    ])
    Response.objects.bulk_create([
        Response(item=item, external_id=f"{item.external_id}-{pos}", position=pos,
                 content=("why " * 400) if poison == i and pos == 0 else
                 ("Because " + "it is so " * ((i * 7 + pos * 3) % 12)).strip())
        for i, item in enumerate(items) for pos in range(2)
    ])
    return project, admin


def length_scorer() -> Scorer:
    return Scorer.objects.create(name=f"length-{time.monotonic_ns()}", backend="length")


def start(env, project, scorer, admin) -> ScoringRun:
    answer = app_call(env, "start_run", project_id=project.pk, scorer_id=scorer.pk, actor_id=admin.pk)
    run = ScoringRun.objects.get(pk=answer["run"])
    run.answer = answer
    return run


def finished(run):
    return ScoringRun.objects.filter(pk=run.pk, status__in=["done", "failed", "cancelled"]).exists()


def assert_scored_exactly_once(run, n: int, *, failed: int = 0):
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE, run.error
    assert (run.total, run.done, run.failed) == (n, n - failed, failed)
    scores = ResponseScore.objects.filter(scorer_id=run.scorer_id)
    assert scores.count() == n - failed
    assert scores.values("response_id").distinct().count() == n - failed
    batches = ScoringBatch.objects.filter(run=run)
    assert set(batches.values_list("status", flat=True)) == {ScoringBatch.Status.DONE}
    assert sum(b.done for b in batches) == n - failed


def test_redis_killed_and_restarted_empty_mid_run_the_run_still_completes(private_redis, workers):
    project, admin = make_project(40)  # 80 responses, 20 batches of 4
    scorer = length_scorer()
    env = app_env(redis=private_redis, **FAST, FAULT_SLOW_BATCH_SECONDS=0.3)
    worker = workers(env)
    run = start(env, project, scorer, admin)
    assert run.answer["unsent"] == 0 and run.answer["batches"] == 20
    wait_for(lambda: ScoringBatch.objects.filter(run=run, status="done").count() >= 4, 60, "a few batches done",
             lambda: worker.log)
    private_redis.kill()  # every queued message is gone
    time.sleep(1.0)
    private_redis.start()  # back, empty
    assert private_redis.client().llen("gpu") == 0
    pending = ScoringBatch.objects.filter(run=run, status="pending").count()
    assert pending > 0  # work the broker no longer knows about
    wait_for(lambda: finished(run), 120, "the run to finish", lambda: worker.log)
    assert_scored_exactly_once(run, 80)
    assert "message was lost" in worker.log and worker.alive


def test_a_run_started_while_redis_is_down_is_saved_and_runs_when_redis_returns(private_redis, workers):
    project, admin = make_project(10)
    scorer = length_scorer()
    env = app_env(redis=private_redis, **FAST)
    private_redis.kill()
    run = start(env, project, scorer, admin)  # answers; no "Retry limit exceeded"
    assert run.answer["status"] == "queued" and run.answer["unsent"] == run.answer["batches"] == 5
    assert run.answer["seconds"] < 10
    worker = workers(env, wait_ready=False)  # keeps trying to reach the broker
    time.sleep(2)
    assert ScoringRun.objects.get(pk=run.pk).status == ScoringRun.Status.QUEUED
    private_redis.start()
    wait_for(lambda: finished(run), 120, "the run to finish", lambda: worker.log)
    assert_scored_exactly_once(run, 20)
    assert not ScoringBatch.objects.filter(run=run, sent_at__isnull=True).exists()


def test_a_worker_killed_after_receiving_a_message_before_starting_it_loses_nothing(private_redis, workers,
                                                                                   tmp_path):
    project, admin = make_project(10)
    scorer = length_scorer()
    env = app_env(redis=private_redis, **FAST)
    first = workers({**env, "FAULT_KILL_BEFORE_TASK": str(tmp_path / "killed-before")})
    run = start(env, project, scorer, admin)
    wait_for(lambda: not first.alive, 60, "the first worker to die", lambda: first.log)
    assert (tmp_path / "killed-before").exists()
    assert not ScoringBatch.objects.filter(run=run).exclude(status="pending").exists()  # nothing was claimed
    # Its message sits unacknowledged at Redis until the visibility timeout (2 h); the reconciler does
    # not wait for that: the pending batches outnumber the waiting messages.
    second = workers(env)
    began = time.monotonic()
    wait_for(lambda: finished(run), 60, "the run to finish", lambda: second.log)
    assert time.monotonic() - began < 60
    assert_scored_exactly_once(run, 20)
    assert set(ScoringBatch.objects.filter(run=run).values_list("attempts", flat=True)) == {1}


def test_a_worker_killed_during_a_batch_is_replaced_within_the_lease(private_redis, workers, tmp_path):
    project, admin = make_project(10)
    scorer = length_scorer()
    env = app_env(redis=private_redis, **FAST)
    first = workers({**env, "FAULT_KILL_AFTER_WRITE": str(tmp_path / "killed-during")})
    run = start(env, project, scorer, admin)
    wait_for(lambda: not first.alive, 60, "the first worker to die", lambda: first.log)
    victim = ScoringBatch.objects.get(run=run, status="running")  # claimed, scores written, never finished
    assert ResponseScore.objects.filter(response_id__in=victim.response_ids).count() == len(victim.response_ids)
    second = workers(env)
    wait_for(lambda: finished(run), 60, "the run to finish", lambda: second.log)
    assert_scored_exactly_once(run, 20)  # the batch's scores were rewritten, not duplicated
    victim.refresh_from_db()
    assert victim.attempts == 2 and victim.status == "done"
    assert "whose worker died" in second.log


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(tmp_path_factory.mktemp("fault-rm")))


def test_out_of_memory_splits_batches_fails_only_the_poison_item_and_the_worker_survives(private_redis, workers,
                                                                                          model_dir):
    # Response 0 of item 3 is 256 tokens, the others 30 to 85: a batch of 16 does not fit (400 padded
    # tokens at most), the poison does not fit even alone (200 tokens at most).
    project, admin = make_project(8, poison=3)
    scorer = Scorer.objects.create(name="tiny-oom", backend="hf_sequence_classifier", model=model_dir,
                                   dtype="float32", max_length=256, batch_token_budget=4096)
    env = app_env(redis=private_redis, **{**FAST, "SCORING_BATCH_LEASE_SECONDS": 60, "SCORING_RESPONSES_PER_BATCH": 16},
                  FAULT_OOM_BATCH_TOKENS=400, FAULT_OOM_SEQUENCE_TOKENS=200)
    worker = workers(env)
    run = start(env, project, scorer, admin)
    wait_for(lambda: finished(run), 120, "the run to finish", lambda: worker.log)
    poison = Response.objects.get(item__project=project, external_id="i3-0")
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE and (run.total, run.done, run.failed) == (16, 15, 1)
    batch = ScoringBatch.objects.get(run=run)
    assert list(batch.errors) == [str(poison.pk)] and "out of memory" in batch.errors[str(poison.pk)]
    assert batch.attempts == 1  # handled inside the batch: no worker died, no redelivery
    assert not ResponseScore.objects.filter(response=poison).exists()
    assert ResponseScore.objects.filter(scorer=scorer).count() == 15
    assert "CUDA out of memory on" in worker.log  # the batch was halved, then halved again
    assert worker.alive
    # The same worker goes on with the next run.
    other, other_admin = make_project(2)
    second = start(env, other, length_scorer(), other_admin)
    wait_for(lambda: finished(second), 60, "the next run to finish", lambda: worker.log)
    assert_scored_exactly_once(second, 4)
