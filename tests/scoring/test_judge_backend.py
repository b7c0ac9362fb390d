"""The openai_judge backend against a local fake OpenAI-compatible server (real HTTP, real parsing)."""

import re

import pytest

from scoring.backends import BackendError, ScorerSpec, build_backend
from scoring.backends.base import CriterionSpec, ScoreInput, ScoringContext
from scoring.backends.judge import parse_criterion_verdict, parse_pairwise_verdict
from scoring.ssrf import UnsafeURLError

from .fake_openai import FakeOpenAI

CRITERIA = [
    CriterionSpec(id=1, key="greets", title="Greets the user", points=3),
    CriterionSpec(id=2, key="concise", title="Is concise", points=2),
    CriterionSpec(id=3, key="rude", title="Is rude to the user", points=-4),
]


@pytest.fixture(autouse=True)
def allow_local_judge(settings):
    settings.SCORING_JUDGE_ALLOWED_HOSTS = "127.0.0.1"


def judge(server, **options):
    opts = {"base_url": server.base_url, "timeout": 5, "max_retries": 2, "retry_backoff": 0.01, **options}
    return build_backend(ScorerSpec(id=7, name="judge", backend="openai_judge", model="judge-model", options=opts))


def responses():
    return [
        ScoreInput(response_id=1, item_id=10, position=0, prompt=[{"role": "user", "content": "Say hello"}],
                   response="Hello there!"),
        ScoreInput(response_id=2, item_id=10, position=1, prompt=[{"role": "user", "content": "Say hello"}],
                   response="Go away, this is a long and rude answer."),
    ]


def healthbench_grader(body, headers):
    prompt = body["messages"][-1]["content"]
    answer = re.search(r"assistant: (.*)\n\n# Rubric item", prompt, re.S).group(1)
    title = re.search(r"# Rubric item\n\[[-\d.]+\] (.*)\n", prompt).group(1)
    met = {"Greets the user": "Hello" in answer, "Is concise": len(answer) < 20,
           "Is rude to the user": "Go away" in answer}[title]
    return f'```json\n{{"explanation": "checked {title}", "criteria_met": {str(met).lower()}}}\n```'


def test_criteria_mode_gives_healthbench_scores_from_json_verdicts():
    with FakeOpenAI(healthbench_grader) as server:
        results = judge(server).score(responses(), ScoringContext(criteria=CRITERIA))
    good, bad = results
    assert good.ok and good.value == pytest.approx(5 / 5)  # greets + concise, not rude
    assert bad.value == pytest.approx(-4 / 5)  # only the (negative) rude criterion met
    assert good.components == {"greets": 1.0, "concise": 1.0, "rude": 0.0}
    verdict = {v.criterion_id: v for v in good.criteria}
    assert verdict[1].met is True and verdict[1].parse_status == "ok"
    assert verdict[1].explanation == "checked Greets the user"
    assert "criteria_met" in verdict[1].raw_output
    assert len(server.requests) == 6 and good.token_count == 90


def test_the_api_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("RUBRICATE_JUDGE_KEY_TEST", "sk-test-123")
    with FakeOpenAI(lambda body, headers: '{"criteria_met": true, "explanation": "ok"}') as server:
        scorer = judge(server, api_key_env="RUBRICATE_JUDGE_KEY_TEST")
        scorer.score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-123"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["model"] == "judge-model"


def test_a_missing_api_key_variable_is_an_error_that_names_it(monkeypatch):
    monkeypatch.delenv("RUBRICATE_JUDGE_KEY_MISSING", raising=False)
    with FakeOpenAI(lambda b, h: "x") as server, pytest.raises(BackendError, match="RUBRICATE_JUDGE_KEY_MISSING"):
        judge(server, api_key_env="RUBRICATE_JUDGE_KEY_MISSING")


def test_a_malformed_verdict_is_asked_again_and_then_parsed():
    replies = iter(["I think it is fine.", '{"criteria_met": "yes", "explanation": "fine"}'])
    with FakeOpenAI(lambda b, h: next(replies)) as server:
        result = judge(server, parse_retries=1).score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert result.ok and result.criteria[0].met is True
    assert result.parse_failures == 0 and len(server.requests) == 2


def test_verdicts_that_never_parse_are_kept_raw_counted_and_not_fatal():
    def grader(body, headers):
        prompt = body["messages"][-1]["content"]
        if "Is concise" in prompt:
            return "Well, it depends on what you mean by concise."
        return '{"criteria_met": true, "explanation": "yes"}'

    with FakeOpenAI(grader) as server:
        result = judge(server, parse_retries=1).score(responses()[:1], ScoringContext(criteria=CRITERIA))[0]
    assert result.ok  # the other criteria still give a score
    by_id = {v.criterion_id: v for v in result.criteria}
    assert by_id[2].parse_status == "failed" and by_id[2].met is None
    assert by_id[2].raw_output == "Well, it depends on what you mean by concise."
    assert result.parse_failures == 1
    assert "concise" not in result.components
    # "Scored on the criteria that parsed": concise (+2) leaves numerator and denominator alike.
    assert result.value == pytest.approx((3 - 4) / 3)  # greets and rude met, concise unknown
    assert result.unparsed_criteria == 1


def _garbage_on(title):
    def grader(body, headers):
        prompt = body["messages"][-1]["content"]
        if title in prompt:
            return "%%% no verdict here %%%"
        met = "Is rude" not in prompt and "Worth ten" not in prompt
        return f'{{"criteria_met": {str(met).lower()}, "explanation": "x"}}'
    return grader


ISSUE_RUBRIC = [
    CriterionSpec(id=1, key="ten", title="Worth ten points", points=10),
    CriterionSpec(id=2, key="five", title="Worth five points", points=5),
    CriterionSpec(id=3, key="rude", title="Is rude to the user", points=-7),
]


@pytest.mark.parametrize("policy, value, unparsed", [
    ("exclude", 5 / 5, 1),  # default: +10 left out of both sums, the score is partial
    ("unmet", 5 / 15, 1),  # the old behaviour, now a choice: +10 stays in the denominator
    ("fail", None, 1),  # no score at all
])
def test_an_unparsed_criterion_follows_the_scorers_policy(policy, value, unparsed):
    """HealthBench (simple-evals calculate_score): Σ points met / Σ positive points. Its grader
    re-asks until the JSON parses; Rubricate stops after parse_retries, so a policy decides. Garbage
    on +10, met on +5, unmet on −7: before, 0.333 with no flag."""
    with FakeOpenAI(_garbage_on("Worth ten")) as server:
        result = judge(server, parse_retries=0, unparsed_policy=policy).score(
            responses()[:1], ScoringContext(criteria=ISSUE_RUBRIC))[0]
    assert result.value == (pytest.approx(value) if value is not None else None)
    assert result.unparsed_criteria == unparsed
    assert result.ok is (value is not None)


def test_an_unparsed_pitfall_marks_the_score_partial():
    """A pitfall (negative points) that did not parse cannot subtract: counted as unmet it silently
    raises the score, so by default the score says it is partial."""
    rubric = [CriterionSpec(id=1, key="greets", title="Greets the user", points=5),
              CriterionSpec(id=2, key="rude", title="Is rude to the user", points=-7)]
    with FakeOpenAI(_garbage_on("Is rude")) as server:
        result = judge(server, parse_retries=0).score(responses()[:1], ScoringContext(criteria=rubric))[0]
    assert result.value == pytest.approx(1.0) and result.unparsed_criteria == 1


def test_a_criterion_verdict_keeps_the_judges_grade_not_the_points():
    """One unit per column: a yes/no verdict has no grade (the points are the criterion's); a
    Prometheus "[RESULT] 4" keeps its 1–5 grade. Before, a met JSON verdict stored the points (10)."""
    rubric = [CriterionSpec(id=1, key="ten", title="Worth ten points", points=10)]
    with FakeOpenAI(lambda b, h: '{"criteria_met": true, "explanation": "x"}') as server:
        (verdict,) = judge(server).score(responses()[:1], ScoringContext(criteria=rubric))[0].criteria
    assert (verdict.met, verdict.score) == (True, None)
    with FakeOpenAI(lambda b, h: "Feedback: good. [RESULT] 4") as server:
        (verdict,) = judge(server).score(responses()[:1], ScoringContext(criteria=rubric))[0].criteria
    assert (verdict.met, verdict.score) == (True, 4.0)


def test_a_response_whose_every_verdict_fails_is_failed_with_the_reason():
    with FakeOpenAI(lambda b, h: "no idea") as server:
        result = judge(server, parse_retries=0).score(responses()[:1], ScoringContext(criteria=CRITERIA[:2]))[0]
    assert not result.ok and "parsed" in result.error
    assert [v.parse_status for v in result.criteria] == ["failed", "failed"]


def test_timeouts_are_retried_a_capped_number_of_times_then_reported():
    with FakeOpenAI(lambda b, h: (200, '{"criteria_met": true}', 1.5)) as server:
        backend = judge(server, timeout=0.3, max_retries=2)
        result = backend.score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert not result.ok and "timed out" in result.error
    assert result.criteria[0].parse_status == "error"
    assert len(server.requests) == 3  # one try + two retries


def test_server_errors_are_retried_and_a_later_success_counts():
    replies = iter([(503, {"error": "overloaded"}), (429, {"error": "slow down"}),
                    '{"criteria_met": false, "explanation": "no"}'])
    with FakeOpenAI(lambda b, h: next(replies)) as server:
        result = judge(server, max_retries=3).score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert result.ok and result.criteria[0].met is False and len(server.requests) == 3


def test_a_client_error_is_not_retried():
    with FakeOpenAI(lambda b, h: (400, {"error": {"message": "bad model"}})) as server:
        result = judge(server, max_retries=3).score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert not result.ok and "HTTP 400" in result.error and len(server.requests) == 1


def test_a_body_that_is_not_a_chat_completion_is_retried_then_reported():
    with FakeOpenAI(lambda b, h: {"unexpected": True}) as server:
        result = judge(server, max_retries=1).score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert "not an OpenAI chat completion" in result.error and len(server.requests) == 2


def test_pairwise_mode_asks_both_orders_and_records_position_consistency():
    def fair(body, headers):
        text = body["messages"][-1]["content"]
        a = text.split("[The Start of Assistant A's Answer]")[1]
        return "A is polite. [[A]]" if a.strip().startswith("Hello") else "B is polite. [[B]]"

    with FakeOpenAI(fair) as server:
        chunks = list(judge(server, mode="pairwise").score_chunks(responses(), ScoringContext()))
    pair = chunks[0].pairs[0]
    assert len(server.requests) == 2
    assert (pair.verdict_ab, pair.verdict_ba, pair.consistent) == ("a", "a", True)
    values = {r.response_id: r.value for r in chunks[0].results}
    assert values == {1: 1.0, 2: 0.0}


def test_a_judge_that_always_picks_the_first_position_is_inconsistent():
    with FakeOpenAI(lambda b, h: "<think>first looks good</think><answer>[[A]]</answer>") as server:
        chunk = next(judge(server, mode="pairwise").score_chunks(responses(), ScoringContext()))
    pair = chunk.pairs[0]
    assert (pair.verdict_ab, pair.verdict_ba, pair.consistent, pair.preference_a) == ("a", "b", False, 0.5)
    assert all(r.components == {"position_consistency": 0.0} for r in chunk.results)


def test_pairwise_needs_two_responses():
    with FakeOpenAI(lambda b, h: "[[A]]") as server:
        result = judge(server, mode="pairwise").score(responses()[:1])[0]
    assert "two responses" in result.error and not server.requests


def test_a_judge_url_on_a_private_address_is_refused_without_the_allow_list(settings):
    settings.SCORING_JUDGE_ALLOWED_HOSTS = ""
    with FakeOpenAI(lambda b, h: "[[A]]") as server, pytest.raises(UnsafeURLError, match="loopback"):
        judge(server)
    assert not server.requests


@pytest.mark.parametrize("text, met", [
    ('{"explanation": "ok", "criteria_met": true}', True),
    ('```json\n{"explanation": "no", "criteria_met": false}\n```', False),
    ('Reasoning first.\n```\n{"criteria_met": "True", "explanation": "x"}\n```\nDone.', True),
    ('{"explanation": "unterminated, "criteria_met": false', False),
    ("{'explanation': 'python dict', 'criteria_met': True}", True),
    ("The response meets it.\n[RESULT] yes", True),
    ("Feedback: weak answer. [RESULT] 2", False),
    ("Feedback: strong answer. [RESULT] 5", True),
    ("<answer>no</answer>", False),
    ('{"verdict": "met"}', True),
    ("I cannot decide.", None),
    ("", None),
])
def test_criterion_verdicts_parse_in_their_common_forms(text, met):
    assert parse_criterion_verdict(text).met is met


@pytest.mark.parametrize("text, verdict", [
    ("Both fine but A is better. [[A]]", "a"),
    ("[[B]]", "b"),
    ("It is a tie. [[C]]", "tie"),
    ("At first [[A]] seemed better, but on reflection: [[B]]", "b"),
    ("<think>hmm</think>\n<answer>[[B]]</answer>", "b"),
    ("<answer>A</answer>", "a"),
    ('{"winner": "Assistant B"}', "b"),
    ('{"verdict": "tie"}', "tie"),
    ("[RESULT] A", "a"),
    ("Final verdict: B", "b"),
    ("Both have merits.", None),
])
def test_pairwise_verdicts_parse_in_their_common_forms(text, verdict):
    assert parse_pairwise_verdict(text) == verdict


def test_requests_run_concurrently_up_to_the_configured_limit():
    import threading
    import time

    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(body, headers):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return '{"criteria_met": true}'

    with FakeOpenAI(slow) as server:
        results = judge(server, concurrency=4).score(responses() * 2, ScoringContext(criteria=CRITERIA))
    assert all(r.ok for r in results) and len(server.requests) == 12
    assert 1 < state["max"] <= 4


# --- concurrency, back-off, Retry-After ---------------------------------------------------------
def test_concurrent_requests_never_exceed_the_bound_and_keep_it_filled():
    import time

    with FakeOpenAI(lambda b, h: (200, '{"criteria_met": true}', 0.1)) as server:
        backend = judge(server, concurrency=8)
        start = time.monotonic()
        results = backend.score(responses() * 20, ScoringContext(criteria=CRITERIA[:1]))
        elapsed = time.monotonic() - start
    assert all(r.ok for r in results) and len(server.requests) == 40
    assert server.max_in_flight == 8
    assert elapsed < 40 * 0.1 / 8 * 2.5  # about 5 waves of 0.1 s, not 40 requests one by one


def test_results_are_handed_over_while_requests_are_still_in_flight():
    with FakeOpenAI(lambda b, h: (200, '{"criteria_met": true}', 0.05)) as server:
        backend = judge(server, concurrency=4)
        backend.HAND_OVER_SECONDS = 0.0
        seen_in_flight = []
        for _chunk in backend.score_chunks(responses() * 10, ScoringContext(criteria=CRITERIA[:1])):
            seen_in_flight.append(server.in_flight)
    assert len(seen_in_flight) > 2 and max(seen_in_flight) > 0


def test_a_429_with_retry_after_is_honoured_and_pauses_the_other_requests():
    import threading

    lock, state = threading.Lock(), {"n": 0, "limited_at": None}

    def limited(body, headers):
        import time

        with lock:
            state["n"] += 1
            first = state["n"] == 1
            if first:
                state["limited_at"] = time.monotonic()
        if first:
            return 429, {"error": "rate limited"}, 0.0, {"Retry-After": "1"}
        return 200, '{"criteria_met": true}', 0.05

    with FakeOpenAI(limited) as server:
        backend = judge(server, concurrency=2, max_retries=2)
        results = backend.score(responses() * 3, ScoringContext(criteria=CRITERIA[:1]))
    assert all(r.ok for r in results) and len(server.requests) == 7
    t429 = state["limited_at"]
    later = [r["at"] for r in server.requests if r["at"] > t429 + 0.02]
    assert later and min(later) >= t429 + 0.95  # nobody asked again before the server said


def test_back_off_is_exponential_with_jitter_and_capped(settings):
    settings.SCORING_JUDGE_MAX_RETRY_WAIT = 0.3
    with FakeOpenAI(lambda b, h: (503, {"error": "overloaded"})) as server:
        backend = judge(server, max_retries=4, retry_backoff=0.1)
        waits = []
        backend.client.sleep = waits.append
        result = backend.score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert not result.ok and "HTTP 503 (after 5 attempts)" in result.error and len(server.requests) == 5
    assert len(waits) == 4
    assert 0.05 <= waits[0] <= 0.1 and 0.1 <= waits[1] <= 0.2
    assert all(w <= 0.3 for w in waits)  # capped


def test_a_retry_after_longer_than_the_cap_waits_the_cap(settings):
    settings.SCORING_JUDGE_MAX_RETRY_WAIT = 2
    replies = iter([(429, {"error": "slow"}, 0.0, {"Retry-After": "3600"}), '{"criteria_met": true}'])
    with FakeOpenAI(lambda b, h: next(replies)) as server:
        backend = judge(server)
        waits = []
        backend.client.sleep = waits.append
        result = backend.score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))[0]
    assert result.ok and waits and max(waits) == pytest.approx(2, abs=0.05)


def test_retry_after_reads_seconds_and_http_dates():
    import email.utils
    import time

    from scoring.backends.judge import retry_after_seconds

    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(email.utils.formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# --- probabilistic verdicts -----------------------------------------------------------------------
def recorded(name):
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "data" / f"logprobs_{name}.json").read_text())


def test_the_logprob_parser_reads_the_rating_distribution_at_the_verdict():
    from scoring.backends.judge import expected_rating, rating_distribution

    content = recorded("criteria_json")["choices"][0]["logprobs"]["content"]
    dist = rating_distribution(content, "binary")
    # " true" .80 + " True" .02 against " false" .17 (a stray '"' is not a rating): renormalised
    assert dist == pytest.approx({"true": 0.82 / 0.99, "false": 0.17 / 0.99})
    assert expected_rating(dist, "binary") == pytest.approx(0.82 / 0.99)
    # the earlier word "true" inside the explanation is not the verdict's position
    likert = rating_distribution(recorded("prometheus")["choices"][0]["logprobs"]["content"], "likert")
    assert likert == pytest.approx({"4": 0.6 / 0.98, "5": 0.25 / 0.98, "3": 0.1 / 0.98, "2": 0.03 / 0.98})
    assert expected_rating(likert, "likert") == pytest.approx((2.4 + 1.25 + 0.3 + 0.06) / 0.98)
    pair = rating_distribution(recorded("pairwise")["choices"][0]["logprobs"]["content"], "pairwise")
    assert pair == pytest.approx({"a": 0.2 / 0.99, "b": 0.7 / 0.99, "tie": 0.09 / 0.99})  # the last [[…]]
    assert rating_distribution(recorded("merged_token")["choices"][0]["logprobs"]["content"], "binary") == {}
    assert rating_distribution(None, "binary") == {} and rating_distribution([], "pairwise") == {}


def test_a_judge_stores_the_distribution_and_expectation_beside_the_verdict():
    body = recorded("criteria_json")
    with FakeOpenAI(lambda b, h: body) as server:
        result = judge(server).score(responses()[:1], ScoringContext(criteria=CRITERIA[:2]))[0]
    assert server.requests[0]["body"]["logprobs"] is True and server.requests[0]["body"]["top_logprobs"] == 5
    verdict = result.criteria[0]
    assert verdict.met is True and verdict.score is None  # a yes/no verdict has no grade of its own
    assert verdict.distribution["true"] == pytest.approx(0.82 / 0.99)
    assert verdict.expected_score == pytest.approx(0.82 / 0.99)  # P(met)
    assert result.value == 1.0
    assert result.components["expected"] == pytest.approx(0.82 / 0.99)  # (3 p + 2 p) / 5


def test_pairwise_distributions_are_mapped_to_stored_order_and_give_an_expected_preference():
    body = recorded("pairwise")
    with FakeOpenAI(lambda b, h: body) as server:  # always "[[B]]" shown second, p(B) = .7
        chunk = next(judge(server, mode="pairwise").score_chunks(responses(), ScoringContext()))
    pair = chunk.pairs[0]
    assert pair.distribution_ab["b"] == pytest.approx(0.7 / 0.99)
    assert pair.distribution_ba["a"] == pytest.approx(0.7 / 0.99)  # B shown first is stored A
    assert pair.expected_preference_a == pytest.approx(0.5)
    assert chunk.results[0].components["expected"] == pytest.approx(0.5)


def test_an_endpoint_that_refuses_logprobs_is_asked_again_without_them():
    def no_logprobs(body, headers):
        if body.get("logprobs"):
            return 400, {"error": {"message": "logprobs is not supported for this model"}}
        return '{"criteria_met": false}'

    with FakeOpenAI(no_logprobs) as server:
        backend = judge(server, max_retries=0)
        results = backend.score(responses(), ScoringContext(criteria=CRITERIA[:1]))
    assert all(r.ok for r in results) and results[0].criteria[0].distribution == {}
    assert [bool(r["body"].get("logprobs")) for r in server.requests][-1] is False
    assert sum(bool(r["body"].get("logprobs")) for r in server.requests) <= 2  # learned once


def test_logprobs_are_not_asked_for_when_switched_off():
    with FakeOpenAI(lambda b, h: '{"criteria_met": true}') as server:
        judge(server, logprobs=False).score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))
    assert "logprobs" not in server.requests[0]["body"]
@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RUBRICATE_JUDGE_KEY_"])
def test_a_judge_never_sends_a_variable_an_operator_did_not_allow(monkeypatch, name):
    """Security finding 2: api_key_env=SECRET_KEY used to send Django's key as the Bearer token."""
    monkeypatch.setenv(name, "do-not-send")
    with FakeOpenAI(lambda b, h: "x") as server, pytest.raises(BackendError, match="may not be sent"):
        judge(server, api_key_env=name)
    assert server.requests == []


def test_an_operator_may_allow_an_explicit_variable(monkeypatch, settings):
    settings.SCORING_JUDGE_KEY_VARIABLES = "OPENAI_API_KEY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-allowed")
    with FakeOpenAI(lambda body, headers: '{"criteria_met": true, "explanation": "ok"}') as server:
        judge(server, api_key_env="OPENAI_API_KEY").score(responses()[:1], ScoringContext(criteria=CRITERIA[:1]))
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-allowed"
