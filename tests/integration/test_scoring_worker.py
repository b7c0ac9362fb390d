"""Scoring runs through a real Celery worker process and Redis, with a tiny model built locally.

A run over 200 responses ends with exactly 200 scores; so does a run whose worker is SIGKILLed in
the middle of a batch and replaced: the watchdog re-enqueues the batch whose lease ran out, the new
worker finishes it, and upserts on the unique keys keep every response scored once.
"""

import time
from pathlib import Path

import pytest

from annotator.models import Item, Response
from scoring import services
from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.integration

# Loaded by the worker through PYTHONPATH: slows every forward pass a little, so the test can kill
# the worker while a batch is half done. Production code has no such hook.
SLOW_FORWARD = '''
from celery.signals import worker_process_init

@worker_process_init.connect
def _slow_forward(**kwargs):
    import time
    from scoring.backends import hf

    real = hf.HFSequenceClassifier.forward

    def forward(self, sequences):
        time.sleep(0.25)
        return real(self, sequences)

    hf.HFSequenceClassifier.forward = forward
'''


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(tmp_path_factory.mktemp("worker-rm")))


def make_project(n_items: int):
    admin = UserFactory(username=f"admin-{time.monotonic_ns()}")
    project = ProjectFactory()
    MembershipFactory(project=project, user=admin, role="admin")
    items = Item.objects.bulk_create([
        Item(project=project, external_id=f"i{i}", prompt=[{"role": "user", "content": f"Question {i}: why?"}])
        for i in range(n_items)
    ])
    Response.objects.bulk_create([
        Response(item=item, external_id=f"{item.external_id}-{pos}", position=pos,
                 content=("Because " + "it is so " * ((item.pk * 7 + pos * 3) % 12)).strip())
        for item in items for pos in range(2)
    ])
    return project, admin


def wait_for(predicate, timeout: float, worker=None, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    log = worker.log[-4000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def assert_scored_once(run, scorer, n: int):
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE, run.error
    assert (run.done, run.failed, run.total) == (n, 0, n)
    scores = ResponseScore.objects.filter(scorer=scorer)
    assert scores.count() == n
    assert scores.values("response_id").distinct().count() == n
    assert set(run.batches.values_list("status", flat=True)) == {ScoringBatch.Status.DONE}


def test_a_run_over_200_responses_finishes_with_exactly_200_scores(celery_worker_factory, model_dir, settings):
    settings.SCORING_RESPONSES_PER_BATCH = 40
    project, admin = make_project(100)
    scorer = Scorer.objects.create(name="tiny", backend="hf_sequence_classifier", model=model_dir,
                                   dtype="float32", max_length=128, batch_token_budget=1024)
    worker = celery_worker_factory(queues="gpu")
    run = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
    assert run.batches.count() == 5
    wait_for(lambda: ScoringRun.objects.get(pk=run.pk).is_finished, 180, worker, "the run to finish")
    assert_scored_once(run, scorer, 200)
    assert "scoring watchdog runs every" in worker.log
    assert run.tokens > 0 and run.started_at and run.finished_at


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(celery_worker_factory, model_dir, settings,
                                                                       tmp_path):
    settings.SCORING_RESPONSES_PER_BATCH = 50
    project, admin = make_project(100)
    scorer = Scorer.objects.create(name="tiny-slow", backend="hf_sequence_classifier", model=model_dir,
                                   dtype="float32", max_length=64, batch_token_budget=256)
    hook = tmp_path / "slowhook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_FORWARD)
    env = {"PYTHONPATH": str(hook), "SCORING_BATCH_LEASE_SECONDS": "4", "SCORING_WATCHDOG_SECONDS": "1"}
    first = celery_worker_factory(queues="gpu", extra_env=env)
    run = services.scoring_run_start(project=project, scorer=scorer, actor=admin)

    def half_done_batch():
        return ScoringBatch.objects.filter(run=run, status="running", done__gt=0, done__lt=50) \
            .exclude(index=0).first()

    victim = wait_for(half_done_batch, 180, first, "a batch half done")
    first.kill()
    victim.refresh_from_db()
    assert victim.status == ScoringBatch.Status.RUNNING and 0 < victim.done < 50  # killed mid-batch
    partial = ResponseScore.objects.filter(scorer=scorer, response_id__in=victim.response_ids).count()
    assert partial > 0

    second = celery_worker_factory(queues="gpu", extra_env=env)
    wait_for(lambda: ScoringRun.objects.get(pk=run.pk).is_finished, 240, second, "the run to finish")
    assert_scored_once(run, scorer, 200)
    victim.refresh_from_db()
    assert victim.attempts == 2 and victim.done == 50
    assert "requeued 1 scoring batch" in second.log
    assert Path(first.log_path).exists()
