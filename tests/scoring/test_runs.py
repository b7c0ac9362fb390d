"""Runs: start, claim, score, write, finish, cancel, retry, watchdog. Worker side called in-process."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import ApplicationError, ConflictError, NotFoundError
from scoring import services
from scoring.models import CriterionScore, PairwiseScore, ResponseScore, Scorer, ScoringBatch, ScoringRun
from tests.factories import ScorerFactory

from .fake_openai import FakeOpenAI
from .helpers import make_items

pytestmark = pytest.mark.django_db


def start(project, scorer, actor, **kw):
    return services.scoring_run_start(project=project, scorer=scorer, actor=actor, **kw)


def run_all(run):
    for batch_id in run.batches.order_by("index").values_list("id", flat=True):
        services.scoring_batch_execute(batch_id=batch_id, worker="test-worker")
    run.refresh_from_db()
    return run


@pytest.fixture
def length_scorer(db):
    return ScorerFactory(name="length", backend=Scorer.Backend.LENGTH)


@pytest.fixture
def hf_scorer(db, tiny_model_path):
    return ScorerFactory(name="tiny-rm", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model=tiny_model_path,
                         dtype="float32", max_length=40, batch_token_budget=256)


def test_starting_a_run_creates_batches_cut_at_item_boundaries_and_enqueues_after_commit(
        project, project_admin, length_scorer, settings, django_capture_on_commit_callbacks):
    settings.SCORING_RESPONSES_PER_BATCH = 5
    make_items(project, 6)
    with django_capture_on_commit_callbacks() as callbacks:
        from unittest import mock

        with mock.patch("scoring.tasks.score_batch.apply_async") as send:
            run = start(project, length_scorer, project_admin)
            assert send.call_count == 0  # nothing is sent before the commit
    assert len(callbacks) == 1
    with mock.patch("scoring.tasks.score_batch.apply_async") as send:
        callbacks[0]()
    batches = list(run.batches.order_by("index"))
    assert run.status == ScoringRun.Status.QUEUED and run.total == 12
    assert [len(b.response_ids) for b in batches] == [6, 6]  # 5 would split an item: cut after it
    assert [c.args[0] for c in send.call_args_list] == [(b.id,) for b in batches]
    assert all(b.sent_at is not None for b in run.batches.all())
    assert run.scorer_config["backend"] == "length"


def test_only_project_admins_start_runs_and_outsiders_learn_nothing(project, reviewer, outsider, length_scorer):
    make_items(project, 1)
    for user in (reviewer, outsider):
        with pytest.raises(NotFoundError):
            start(project, length_scorer, user)
    assert not ScoringRun.objects.exists()


def test_a_second_active_run_of_the_same_scorer_is_a_conflict(project, project_admin, length_scorer):
    make_items(project, 2)
    start(project, length_scorer, project_admin)
    with pytest.raises(ConflictError):
        start(project, length_scorer, project_admin)
    assert ScoringRun.objects.count() == 1 and ScoringBatch.objects.count() == 1


def test_a_run_scores_every_response_and_finishes(project, project_admin, length_scorer):
    items = make_items(project, 4)
    run = run_all(start(project, length_scorer, project_admin))
    assert run.status == ScoringRun.Status.DONE and (run.done, run.failed, run.total) == (8, 0, 8)
    assert run.started_at and run.finished_at
    first = items[0].responses.first()
    score = ResponseScore.objects.get(response=first, scorer=length_scorer)
    assert score.value == len(first.content) and score.run_id == run.id


def test_running_a_batch_twice_changes_nothing(project, project_admin, hf_scorer):
    make_items(project, 3)
    run = run_all(start(project, hf_scorer, project_admin))
    before = list(ResponseScore.objects.order_by("id").values("id", "response_id", "value", "input_hash",
                                                               "components", "token_count", "truncated"))
    batch = run.batches.get()
    ScoringBatch.objects.filter(pk=batch.pk).update(status=ScoringBatch.Status.PENDING)
    ScoringRun.objects.filter(pk=run.pk).update(status=ScoringRun.Status.RUNNING)
    assert services.scoring_batch_execute(batch_id=batch.pk, worker="other") == "done"
    after = list(ResponseScore.objects.order_by("id").values("id", "response_id", "value", "input_hash",
                                                              "components", "token_count", "truncated"))
    run.refresh_from_db()
    assert after == before and len(after) == 6
    assert (run.done, run.failed) == (6, 0)  # recomputed, not added twice


def test_a_model_run_stores_truncation_flags_and_token_counts(project, project_admin, hf_scorer):
    make_items(project, 2, contents=[["Hi.", "word " * 200], ["Hello.", "Fine."]])
    run_all(start(project, hf_scorer, project_admin))
    rows = {s.response.content[:5]: s for s in ResponseScore.objects.select_related("response")}
    assert rows["word "].truncated and rows["word "].token_count == 40
    assert not rows["Hi."].truncated and rows["Hi."].token_count < 40
    assert rows["Hi."].model_revision == "local"


def test_a_multi_head_model_stores_its_components_by_name(project, project_admin, multi_head_model_path):
    scorer = ScorerFactory(name="armo-like", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER,
                           model=multi_head_model_path, dtype="float32", options={"main_component": "correctness"})
    make_items(project, 1)
    run_all(start(project, scorer, project_admin))
    score = ResponseScore.objects.filter(scorer=scorer).first()
    assert set(score.components) == {"helpfulness", "correctness", "verbosity"}
    assert score.value == pytest.approx(score.components["correctness"])


def test_a_gated_model_run_stores_its_gating_weights(project, project_admin, gated_model_path):
    scorer = ScorerFactory(name="gated", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model=gated_model_path,
                           dtype="float32", trust_remote_code=True)
    make_items(project, 1)
    run_all(start(project, scorer, project_admin))
    score = ResponseScore.objects.filter(scorer=scorer).first()
    assert list(score.gating) == list(score.components) and sum(score.gating.values()) == pytest.approx(1.0)


def test_a_criteria_judge_run_stores_how_many_criteria_did_not_parse(project, project_admin, monkeypatch):
    from scoring.backends import judge as judge_backend
    from scoring.backends.judge import Completion

    class Client:
        def __init__(self, spec):
            pass

        def complete(self, messages):
            text = messages[-1]["content"]
            return Completion("garbage" if "Criterion 1" in text else '{"criteria_met": true}', 1)

        def close(self):
            pass

    scorer = ScorerFactory(name="grader", backend=Scorer.Backend.OPENAI_JUDGE, model="m",
                           options={"base_url": "https://judge.example/v1", "parse_retries": 0})
    make_items(project, 1)
    monkeypatch.setattr(judge_backend, "ChatClient", Client)
    run_all(start(project, scorer, project_admin))
    scores = list(ResponseScore.objects.filter(scorer=scorer))
    assert len(scores) == 2 and all(s.unparsed_criteria == 1 for s in scores)
    # c0 +3 met, c1 unparsed (left out), c2 −2 met: (3 − 2) / 3
    assert all(s.value == pytest.approx(1 / 3) for s in scores)


def test_only_unscored_responses_are_picked_when_asked(project, project_admin, length_scorer):
    items = make_items(project, 3)
    run_all(start(project, length_scorer, project_admin))
    new = make_items(project, 1, contents=[["new one", "new two"]])
    del items
    run = start(project, length_scorer, project_admin, scope=ScoringRun.Scope.UNSCORED)
    assert run.total == 2
    assert sorted(run.batches.get().response_ids) == sorted(new[0].responses.values_list("id", flat=True))
    run_all(run)
    with pytest.raises(ApplicationError, match="already has a score"):
        start(project, length_scorer, project_admin, scope=ScoringRun.Scope.UNSCORED)
    assert ScoringRun.objects.count() == 2


def test_a_batch_held_under_a_live_lease_is_not_taken_but_an_expired_one_is(project, project_admin, length_scorer):
    make_items(project, 1)
    run = start(project, length_scorer, project_admin)
    batch = run.batches.get()
    assert services.scoring_batch_claim(batch_id=batch.pk, worker="w1") is not None
    assert services.scoring_batch_claim(batch_id=batch.pk, worker="w2") is None
    ScoringBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = services.scoring_batch_claim(batch_id=batch.pk, worker="w2")
    assert taken.worker == "w2" and taken.attempts == 2
    assert ScoringRun.objects.get(pk=run.pk).status == ScoringRun.Status.RUNNING


def test_a_worker_that_lost_its_lease_stops_writing_counters(project, project_admin, length_scorer, monkeypatch):
    make_items(project, 1)
    run = start(project, length_scorer, project_admin)
    batch = run.batches.get()
    real = services._write_chunk

    def stolen(**kw):
        real(**kw)
        ScoringBatch.objects.filter(pk=batch.pk).update(worker="someone-else")

    monkeypatch.setattr(services, "_write_chunk", stolen)
    assert services.scoring_batch_execute(batch_id=batch.pk, worker="me") == "lost-lease"
    assert ScoringBatch.objects.get(pk=batch.pk).status == ScoringBatch.Status.RUNNING


def test_cancel_stops_further_batches(project, project_admin, length_scorer, settings):
    settings.SCORING_RESPONSES_PER_BATCH = 2
    make_items(project, 3)
    run = start(project, length_scorer, project_admin)
    first, *rest = run.batches.order_by("index")
    services.scoring_batch_execute(batch_id=first.pk, worker="w")
    services.scoring_run_cancel(run=run, actor=project_admin)
    assert [services.scoring_batch_execute(batch_id=b.pk, worker="w") for b in rest] == ["skipped", "skipped"]
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.CANCELLED and run.done == 2
    assert set(run.batches.values_list("status", flat=True)) == {"done", "cancelled"}
    cancelled = ScoringRun.objects.values().get(pk=run.pk)
    with pytest.raises(ConflictError):
        services.scoring_run_cancel(run=run, actor=project_admin)
    assert ScoringRun.objects.values().get(pk=run.pk) == cancelled


def test_retry_reruns_only_what_failed(project, project_admin, hf_scorer, tiny_model_path, settings):
    settings.SCORING_RESPONSES_PER_BATCH = 2
    make_items(project, 3)
    Scorer.objects.filter(pk=hf_scorer.pk).update(model="/nonexistent/model")
    hf_scorer.refresh_from_db()
    run = start(project, hf_scorer, project_admin)
    batches = list(run.batches.order_by("index"))
    services.scoring_batch_execute(batch_id=batches[0].pk, worker="w")  # fails: no model there
    ScoringRun.objects.filter(pk=run.pk).update(scorer_config={**run.scorer_config, "model": tiny_model_path})
    for b in batches[1:]:
        services.scoring_batch_execute(batch_id=b.pk, worker="w")
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE and (run.done, run.failed) == (4, 2)
    failed_ids = sorted(batches[0].response_ids)
    assert sorted(int(k) for k in ScoringBatch.objects.get(pk=batches[0].pk).errors) == failed_ids

    run = services.scoring_run_retry(run=run, actor=project_admin)
    new = run.batches.exclude(pk__in=[b.pk for b in batches]).get()
    assert sorted(new.response_ids) == failed_ids
    assert run.status == ScoringRun.Status.QUEUED and run.failed == 0
    services.scoring_batch_execute(batch_id=new.pk, worker="w")
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.DONE and (run.done, run.failed, run.total) == (6, 0, 6)
    assert ResponseScore.objects.filter(scorer=hf_scorer).count() == 6
    done = ScoringRun.objects.values().get(pk=run.pk), run.batches.count()
    with pytest.raises(ApplicationError, match="Nothing failed"):
        services.scoring_run_retry(run=run, actor=project_admin)
    assert (ScoringRun.objects.values().get(pk=run.pk), run.batches.count()) == done


def test_a_run_where_everything_fails_is_failed_with_the_reason(project, project_admin, db):
    scorer = ScorerFactory(name="broken", backend=Scorer.Backend.HF_SEQUENCE_CLASSIFIER, model="/no/such/dir")
    make_items(project, 1)
    run = run_all(start(project, scorer, project_admin))
    assert run.status == ScoringRun.Status.FAILED and run.failed == 2
    assert "/no/such/dir" in run.error


def test_the_watchdog_requeues_batches_whose_worker_died(project, project_admin, length_scorer,
                                                          django_capture_on_commit_callbacks):
    make_items(project, 2)
    run = start(project, length_scorer, project_admin)
    batch = run.batches.get()
    services.scoring_batch_claim(batch_id=batch.pk, worker="dead-worker")
    assert services.scoring_batches_requeue_stale() == []  # the lease is still live
    ScoringBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))
    from unittest import mock

    with mock.patch("scoring.tasks.score_batch.apply_async") as send, \
            django_capture_on_commit_callbacks(execute=True):
        assert services.scoring_batches_requeue_stale() == [batch.pk]
    assert send.call_count == 1 and send.call_args.args[0] == (batch.pk,)
    assert ScoringBatch.objects.get(pk=batch.pk).status == ScoringBatch.Status.PENDING
    assert services.scoring_batch_execute(batch_id=batch.pk, worker="new-worker") == "done"


def test_the_watchdog_gives_up_on_a_batch_that_keeps_killing_workers(project, project_admin, length_scorer,
                                                                       settings):
    settings.SCORING_BATCH_MAX_ATTEMPTS = 2
    make_items(project, 1)
    run = start(project, length_scorer, project_admin)
    batch = run.batches.get()
    ScoringBatch.objects.filter(pk=batch.pk).update(status="running", attempts=2,
                                                    lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.scoring_batches_requeue_stale() == []
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.FAILED and run.failed == 2 and "died 2 times" in run.error


@pytest.fixture
def judge_env(settings):
    settings.SCORING_JUDGE_ALLOWED_HOSTS = "127.0.0.1"


def test_a_criteria_judge_run_writes_criterion_scores_and_a_rubric_score(project, project_admin, staff_admin,
                                                                         judge_env):
    make_items(project, 1)
    reply = '{"explanation": "fine", "criteria_met": true}'
    with FakeOpenAI(lambda b, h: reply) as server:
        scorer = services.scorer_create(actor=staff_admin, name="judge", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url, "mode": "criteria"})
        run = run_all(start(project, scorer, project_admin))
    assert run.status == "done" and run.done == 2 and run.tokens == 2 * 3 * 30
    assert CriterionScore.objects.filter(scorer=scorer, parse_status="ok").count() == 2 * 3
    # 3 criteria: +3, +3, −2 (pitfall) all met → (3 + 3 − 2) / 6
    assert ResponseScore.objects.filter(scorer=scorer).first().value == pytest.approx(4 / 6)


def test_judge_parse_failures_are_counted_on_the_run(project, project_admin, staff_admin, judge_env):
    make_items(project, 1)
    with FakeOpenAI(lambda b, h: "no verdict here") as server:
        scorer = services.scorer_create(actor=staff_admin, name="judge", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url, "parse_retries": 0})
        run = run_all(start(project, scorer, project_admin))
    assert run.parse_failures == 6 and run.failed == 2 and run.status == "failed"
    assert CriterionScore.objects.filter(parse_status="failed").count() == 6
    assert CriterionScore.objects.first().raw_output == "no verdict here"


def test_a_pairwise_judge_run_writes_pair_verdicts(project, project_admin, staff_admin, judge_env):
    make_items(project, 2)
    with FakeOpenAI(lambda b, h: "[[A]]") as server:
        scorer = services.scorer_create(actor=staff_admin, name="pairwise", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url, "mode": "pairwise"})
        run = run_all(start(project, scorer, project_admin))
    assert run.status == "done" and run.done == 4
    pairs = PairwiseScore.objects.filter(scorer=scorer)
    assert pairs.count() == 2 and not any(p.consistent for p in pairs)
    assert {p.preference_a for p in pairs} == {0.5}


def test_scorer_settings_are_validated(staff_admin, project_admin):
    with pytest.raises(ApplicationError) as exc:
        services.scorer_create(actor=staff_admin, name="j", backend="openai_judge", model="m",
                               options={"base_url": "http://169.254.169.254/v1"})
    assert "options.base_url" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        services.scorer_create(actor=staff_admin, name="j", backend="openai_judge", model="m",
                               options={"base_url": "https://93.184.216.34/v1", "api_key_env": "sk-live-123"})
    assert "options.api_key_env" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        services.scorer_create(actor=staff_admin, name="l", backend="length", trust_remote_code=True)
    assert "trust_remote_code" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        services.scorer_create(actor=project_admin, name="x", backend="length")
    assert exc.value.status == 403
    assert not Scorer.objects.exists()


def test_editing_a_scorer_does_not_change_a_started_run(project, project_admin, staff_admin, hf_scorer):
    make_items(project, 1)
    run = start(project, hf_scorer, project_admin)
    services.scorer_update(scorer=hf_scorer, actor=staff_admin, max_length=16)
    run_all(run)
    assert ResponseScore.objects.filter(scorer=hf_scorer, token_count__gt=16).exists()


def test_a_judge_run_stores_rating_distributions_beside_the_verdicts(project, project_admin, staff_admin, judge_env):
    import json
    from pathlib import Path

    make_items(project, 1)
    criteria_body = json.loads((Path(__file__).parent / "data" / "logprobs_criteria_json.json").read_text())
    pair_body = json.loads((Path(__file__).parent / "data" / "logprobs_pairwise.json").read_text())
    with FakeOpenAI(lambda b, h: criteria_body) as server:
        scorer = services.scorer_create(actor=staff_admin, name="judge", backend="openai_judge", model="j",
                                        options={"base_url": server.base_url})
        run_all(start(project, scorer, project_admin))
    verdict = CriterionScore.objects.filter(scorer=scorer).first()
    assert verdict.met is True and verdict.distribution["true"] == pytest.approx(0.82 / 0.99)
    assert verdict.score is None and verdict.expected_score == pytest.approx(0.82 / 0.99)  # P(met)
    assert "expected" in ResponseScore.objects.filter(scorer=scorer).first().components
    with FakeOpenAI(lambda b, h: pair_body) as server:
        pairwise = services.scorer_create(actor=staff_admin, name="pairwise", backend="openai_judge", model="j",
                                          options={"base_url": server.base_url, "mode": "pairwise"})
        run_all(start(project, pairwise, project_admin))
    pair = PairwiseScore.objects.get(scorer=pairwise)
    assert pair.distribution_ab["b"] == pytest.approx(0.7 / 0.99) and pair.expected_preference_a == pytest.approx(0.5)
@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "HOME"])
def test_a_scorer_cannot_name_a_variable_an_operator_did_not_allow_as_its_key(staff_admin, name):
    with pytest.raises(ApplicationError) as exc:
        services.scorer_create(actor=staff_admin, name="j", backend="openai_judge", model="m",
                               options={"base_url": "https://93.184.216.34/v1", "api_key_env": name})
    assert "RUBRICATE_JUDGE_KEY_" in exc.value.fields["options.api_key_env"]
    assert not Scorer.objects.filter(name="j").exists()
    scorer = services.scorer_create(actor=staff_admin, name="ok", backend="openai_judge", model="m",
                                    options={"base_url": "https://93.184.216.34/v1",
                                             "api_key_env": "RUBRICATE_JUDGE_KEY_OPENAI"})
    assert scorer.options["api_key_env"] == "RUBRICATE_JUDGE_KEY_OPENAI"
