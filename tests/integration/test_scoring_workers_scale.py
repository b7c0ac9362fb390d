"""k scoring workers on one run share its batches without overlap: two real `celery worker -Q gpu`
processes (one process per device, one torch thread each) on one run of 200 responses give exactly
one score per response for the scorer, and both workers did part of the work.
"""

import pytest

from scoring import services
from scoring.models import ResponseScore, Scorer, ScoringBatch, ScoringRun

from .test_scoring_worker import SLOW_FORWARD, assert_scored_once, make_project, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from scoring.tiny_model import build_reward_model

    return str(build_reward_model(tmp_path_factory.mktemp("scale-rm")))

def test_two_workers_on_one_run_score_every_response_exactly_once(celery_worker_factory, model_dir, settings,
                                                                 tmp_path):
    settings.SCORING_RESPONSES_PER_BATCH = 10
    project, admin = make_project(100)
    scorer = Scorer.objects.create(name="tiny-shared", backend="hf_sequence_classifier", model=model_dir,
                                   dtype="float32", max_length=64, batch_token_budget=512)
    hook = tmp_path / "slowhook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_FORWARD)  # batches last long enough to be shared
    env = {"PYTHONPATH": str(hook), "SCORING_TORCH_THREADS": "1"}
    workers = [celery_worker_factory(queues="gpu", extra_env=env) for _ in range(2)]
    run = services.scoring_run_start(project=project, scorer=scorer, actor=admin)
    assert run.batches.count() == 20
    wait_for(lambda: ScoringRun.objects.get(pk=run.pk).is_finished, 240, workers[1], "the run to finish")
    assert_scored_once(run, scorer, 200)
    # Each batch claimed once, by one of two different worker processes, and both took part.
    batches = ScoringBatch.objects.filter(run=run)
    assert set(batches.values_list("attempts", flat=True)) == {1}
    assert len(set(batches.values_list("worker", flat=True))) == 2
    assert ResponseScore.objects.filter(scorer=scorer).values("response_id", "scorer_id").distinct().count() == 200
