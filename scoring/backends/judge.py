"""`openai_judge`: a generative judge behind an OpenAI-compatible chat endpoint (vLLM, SGLang, a
hosted API).

Modes (`options.mode`):
- `criteria` (default): one request per response × rubric criterion, HealthBench style; the
  verdict is JSON {"explanation", "criteria_met"}. A response's value is the HealthBench rubric
  score: Σ points of criteria met / Σ positive points (a met negative criterion subtracts).
- `pairwise`: for each pair of responses of an item, MT-Bench style ("[[A]]", "[[B]]", "[[C]]"
  for a tie; RM-R1's "<answer>[[A]]</answer>" too), asked in both A/B orders; position consistency
  is recorded. A response's value is its share of comparisons won (tie = ½).

Parsing is tolerant (JSON with or without a code fence, "[RESULT] n", "<answer>…</answer>", the
last verdict mark in free text). Transport errors (timeouts, 429, 5xx) and unparseable verdicts
are retried a capped number of times, with exponential back-off and jitter; a 429's Retry-After
is honoured, and pauses every request of the worker, not only the one that got it. The raw output
is always kept and a verdict that never parses is counted, not fatal.

Concurrency: `options.concurrency` requests in flight (default SCORING_JUDGE_CONCURRENCY), from a
thread pool that is kept full: work is handed out as requests finish, not in waves, and a
response's result is passed on as soon as its last request is back (so the caller writes results
while the next requests are in flight).

Probabilistic verdicts: with `options.logprobs` (default on) the request asks for `logprobs` and
`top_logprobs`; where the endpoint returns them, the probabilities of the rating tokens at the
verdict's position (true/false, 1–5, A/B/C) are stored beside the parsed verdict with their
expected value. An endpoint that refuses the parameter (HTTP 400 naming it) is asked again
without it, once per worker.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import combinations

from .. import conf
from ..definitions import DEFAULT_UNPARSED_POLICY, Grade, credit_from_verdict, rubric_score

# The verdict parsers live in scoring.verdicts (every judge output format in one place).
from ..verdicts import CriterionParse, parse_criterion_verdict, parse_pairwise_verdict  # noqa: F401
from .base import (
    Backend,
    BackendError,
    CriterionSpec,
    CriterionVerdict,
    PairVerdict,
    ScoredChunk,
    ScoreInput,
    ScoreResult,
    ScorerSpec,
    ScoringContext,
    message_text,
    stable_hash,
)

PROMPT_VERSION = "rubricate-judge-v1"

CRITERION_PROMPT = """Your job is to look at a conversation and a rubric item, and decide whether the last turn \
(the assistant's response) meets the rubric item.

# Conversation
{conversation}

# Rubric item
[{points}] {title}
{guidance}

# Instructions
Return a JSON object with two fields: "explanation" and "criteria_met".
- "explanation": a short string saying why the response does or does not meet the rubric item.
- "criteria_met": a boolean. If the rubric item has several parts, all must hold for true. Where it \
says "such as", "for example" or "including", the response need not include every example listed.
- Some rubric items describe undesirable behaviour (negative points). Still answer whether the \
response does what the item describes: true if it does, even though that is bad.

# Example
```json
{{"explanation": "The response names the capital but not the population the user asked for.", "criteria_met": false}}
```

Return just the JSON object in a markdown code block, with no other text."""

PAIRWISE_SYSTEM = """Please act as an impartial judge and evaluate the quality of the responses provided by two \
AI assistants to the conversation displayed below. Choose the assistant that answers the user's last \
message better: consider helpfulness, correctness, relevance, depth and clarity{criteria}. Avoid any \
position bias: the order in which the responses are presented must not influence your decision. \
Do not let the length of the responses influence you, and do not favour a name of an assistant. \
Be as objective as possible. First explain your reasoning briefly, then output your final verdict \
strictly in this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and \
"[[C]]" for a tie."""

PAIRWISE_USER = """[The Start of the Conversation]
{conversation}
[The End of the Conversation]

[The Start of Assistant A's Answer]
{answer_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{answer_b}
[The End of Assistant B's Answer]"""


def render_conversation(prompt: list[dict], response: str | None = None) -> str:
    lines = [f"{m.get('role', 'user')}: {message_text(m.get('content'))}" for m in prompt if isinstance(m, dict)]
    if response is not None:
        lines.append(f"assistant: {response}")
    return "\n\n".join(lines)


# --- probabilistic verdicts (logprobs) ----------------------------------------------------------------
# Where the verdict's token sits in the output, per kind of verdict: the last match wins, as in parsing.
_VERDICT_SITES = {
    "binary": [
        re.compile(r"""criteri(?:a|on)_met["']?\s*[:=]\s*["']?(true|false|yes|no)""", re.I),
        re.compile(r"""["'](?:met|verdict|answer|result)["']\s*:\s*["']?(true|false|yes|no)""", re.I),
        re.compile(r"<answer>\s*\[*\s*(true|false|yes|no)", re.I),
        re.compile(r"\[RESULT\]\s*:?\s*\(?(true|false|yes|no)", re.I),
    ],
    "likert": [re.compile(r"\[RESULT\]\s*:?\s*\(?(\d+)")],
    "pairwise": [
        re.compile(r"\[\[\s*(A|B|C)\s*\]\]"),
        re.compile(r"<answer>\s*\[*\s*(A|B|C)\b"),
        re.compile(r"\[RESULT\]\s*:?\s*(A|B|C)\b"),
    ],
}
_RATING_LABELS = {
    "binary": {"true": "true", "yes": "true", "false": "false", "no": "false"},
    "likert": {str(n): str(n) for n in range(11)},
    "pairwise": {"a": "a", "b": "b", "c": "tie"},
}


def _token_label(token: str, kind: str) -> str | None:
    return _RATING_LABELS[kind].get(token.strip().strip("[]\"'<>*:,.(){}").strip().lower())


def rating_distribution(content: list[dict] | None, kind: str) -> dict[str, float]:
    """Probabilities of the rating tokens at the verdict's position, from an OpenAI-style
    `choices[0].logprobs.content` list ({"token", "logprob", "top_logprobs": [...]}) — renormalised
    over the ratings (`kind`: binary → {"true", "false"}, likert → {"1".."5"…}, pairwise →
    {"a", "b", "tie"} as shown to the judge). Empty when the verdict's token cannot be found or is
    not a rating token itself (a tokenizer that merged it with its neighbours)."""
    if not content:
        return {}
    tokens = [t for t in content if isinstance(t, dict) and isinstance(t.get("token"), str)]
    text = "".join(t["token"] for t in tokens)
    matches = [m for pattern in _VERDICT_SITES[kind] for m in pattern.finditer(text)]
    if not matches:
        return {}
    position = max(m.start(1) for m in matches)
    offset, chosen = 0, None
    for token in tokens:
        if offset <= position < offset + len(token["token"]):
            chosen = token
            break
        offset += len(token["token"])
    if chosen is None or _token_label(chosen["token"], kind) is None:
        return {}
    alternatives = {alt["token"]: alt.get("logprob") for alt in chosen.get("top_logprobs") or []
                    if isinstance(alt, dict) and isinstance(alt.get("token"), str)}
    alternatives.setdefault(chosen["token"], chosen.get("logprob"))
    probs: dict[str, float] = dict.fromkeys(
        sorted(set(_RATING_LABELS[kind].values())) if kind != "likert" else [], 0.0)
    for token, logprob in alternatives.items():
        label = _token_label(token, kind)
        if label is not None and isinstance(logprob, (int, float)) and math.isfinite(logprob):
            probs[label] = probs.get(label, 0.0) + math.exp(logprob)
    total = sum(probs.values())
    if total <= 0:
        return {}
    return {label: p / total for label, p in probs.items()}


def expected_rating(distribution: dict[str, float], kind: str) -> float | None:
    """binary: P(true); likert: Σ n·p(n); pairwise: P(A) + ½ P(tie)."""
    if not distribution:
        return None
    if kind == "binary":
        return distribution.get("true", 0.0)
    if kind == "likert":
        return sum(int(label) * p for label, p in distribution.items())
    return distribution.get("a", 0.0) + 0.5 * distribution.get("tie", 0.0)


# --- transport -----------------------------------------------------------------------------------
class JudgeRequestError(Exception):
    pass


@dataclass
class Completion:
    text: str
    tokens: int
    logprobs: list[dict] | None = None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def judge_concurrency(spec: ScorerSpec) -> int:
    """Requests in flight: the scorer's `concurrency` option, else SCORING_JUDGE_CONCURRENCY; 1–64."""
    return max(1, min(64, int(spec.options.get("concurrency") or conf.judge_concurrency())))


class ChatClient:
    """POST {base_url}/chat/completions with SSRF pinning, timeouts and capped retries.

    Thread-safe: one client serves all of a backend's concurrent requests over one connection pool
    sized to the concurrency."""

    def __init__(self, spec: ScorerSpec):
        import httpx

        from ..ssrf import check_judge_url

        options = spec.options
        self.base_url = str(options.get("base_url", "")).strip()
        if not self.base_url:
            raise BackendError("The judge has no base URL (options.base_url).")
        self.checked = check_judge_url(self.base_url)
        self.check = check_judge_url
        self.model = spec.model
        if not self.model:
            raise BackendError("The judge has no model name.")
        key_env = str(options.get("api_key_env", "")).strip()
        if key_env and not conf.judge_key_env_allowed(key_env):
            raise BackendError(f"The environment variable {key_env} may not be sent to a judge: allow it with "
                               "SCORING_JUDGE_KEY_PREFIX or SCORING_JUDGE_KEY_VARIABLES.")
        self.api_key = os.environ.get(key_env, "") if key_env else ""
        if key_env and not self.api_key:
            raise BackendError(f"The environment variable {key_env} (the judge's API key) is not set on the worker.")
        self.timeout = float(options.get("timeout", 60))
        self.max_retries = max(0, min(10, int(options.get("max_retries", 2))))
        self.backoff = float(options.get("retry_backoff", 1.0))
        self.max_wait = conf.judge_max_retry_wait()
        self.temperature = float(options.get("temperature", 0.0))
        self.max_tokens = int(options.get("max_tokens", 1024))
        self.logprobs = bool(options.get("logprobs", True))
        self.top_logprobs = max(1, min(20, int(options.get("top_logprobs", 5))))
        self.extra_body = dict(options.get("extra_body", {}) or {})
        # A 429 with Retry-After pauses every request of this client until then (monotonic clock).
        self._not_before = 0.0
        self._lock = threading.Lock()
        self.sleep = time.sleep
        # trust_env=False: no proxy or .netrc from the environment can redirect the request.
        pool = judge_concurrency(spec)  # one connection per request in flight
        self.http = httpx.Client(
            timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.httpx = httpx

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry `attempt` (1, 2, …): the server's Retry-After when it gave one,
        else exponential with jitter (½–1 of backoff·2^(attempt−1)); capped at max_wait."""
        if retry_after is not None:
            return min(self.max_wait, retry_after)
        return min(self.max_wait, 30.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)

    def _pause_all(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + min(self.max_wait, seconds))

    def _wait_for_pause(self) -> None:
        delay = self._not_before - time.monotonic()
        if delay > 0:
            self.sleep(delay)

    def _body(self, messages: list[dict]) -> dict:
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=self.top_logprobs)
        return {**body, **self.extra_body}

    def complete(self, messages: list[dict]) -> Completion:
        """One completion; retries transport errors, 429 and 5xx with back-off (Retry-After first)."""
        last_error, wait_s = "", 0.0
        attempt = 0
        while attempt <= self.max_retries:
            if attempt:
                self.sleep(wait_s)
            self._wait_for_pause()
            attempt += 1
            # Re-checked per request: DNS may have changed since the scorer was saved.
            checked = self.check(self.base_url)
            url, headers, extensions = checked.pinned_url("/chat/completions")
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            body = self._body(messages)
            try:
                response = self.http.post(url, json=body, headers=headers, extensions=extensions)
            except self.httpx.TimeoutException:
                last_error, wait_s = f"timed out after {self.timeout:g}s", self._backoff(attempt, None)
                continue
            except self.httpx.TransportError as exc:
                last_error, wait_s = f"connection failed: {exc.__class__.__name__}", self._backoff(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                retry_after = retry_after_seconds(response.headers.get("retry-after"))
                if response.status_code == 429 and retry_after:
                    self._pause_all(retry_after)
                last_error, wait_s = f"HTTP {response.status_code}", self._backoff(attempt, retry_after)
                continue
            if response.status_code == 400 and body.get("logprobs") and "logprob" in response.text.lower():
                # An endpoint without logprobs support: ask again without them (not a retry).
                self.logprobs = False
                attempt -= 1
                wait_s = 0.0
                continue
            if response.status_code >= 400:
                raise JudgeRequestError(f"HTTP {response.status_code}: {response.text[:300]}")
            if 300 <= response.status_code < 400:
                raise JudgeRequestError(f"HTTP {response.status_code}: redirects are not followed")
            try:
                data = response.json()
                choice = data["choices"][0]
                text = choice["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                last_error = f"not an OpenAI chat completion: {response.text[:200]!r}"
                wait_s = self._backoff(attempt, None)
                continue
            usage = data.get("usage") or {}
            tokens = int(usage.get("total_tokens") or 0)
            logprobs = (choice.get("logprobs") or {}).get("content") if isinstance(choice, dict) else None
            return Completion(text=str(text), tokens=tokens,
                              logprobs=logprobs if isinstance(logprobs, list) else None)
        raise JudgeRequestError(f"{last_error} (after {self.max_retries + 1} attempts)")

    def close(self) -> None:
        self.http.close()


# --- the backend -----------------------------------------------------------------------------------
@dataclass
class Answer:
    """One question put to the judge: the parsed verdict (or None), what came back, and the cost."""

    parsed: object = None
    raw: str = ""
    tokens: int = 0
    failures: int = 0
    error: str = ""
    logprobs: list[dict] | None = None


@dataclass
class _Unit:
    """Requests whose results make one part of the output (a response's criteria; an item's pairs)."""

    futures: list[Future]
    finish: Callable[[list[Future]], ScoredChunk]
    left: int = 0


class OpenAIJudge(Backend):
    name = "openai_judge"
    # How long finished results may wait before they are handed to the caller (bounds the writes
    # per second when many small results arrive, without holding results back for long).
    HAND_OVER_SECONDS = 0.2

    def __init__(self, spec: ScorerSpec, *, client: ChatClient | None = None):

        super().__init__(spec)
        self.mode = spec.options.get("mode", "criteria")
        if self.mode not in ("criteria", "pairwise"):
            raise BackendError(f"Unknown judge mode {self.mode!r} (criteria or pairwise).")
        self.concurrency = judge_concurrency(spec)
        self.client = client or ChatClient(spec)
        self.parse_retries = max(0, min(5, int(spec.options.get("parse_retries", 1))))
        self.threshold = float(spec.options.get("result_pass_threshold", 3))
        self.unparsed_policy = spec.options.get("unparsed_policy", DEFAULT_UNPARSED_POLICY)
        self.revision = f"{spec.model}@{PROMPT_VERSION}"

    def _ask(self, messages: list[dict], parse) -> Answer:
        """Ask once; re-ask on a parse failure (`parse_retries` times)."""
        answer = Answer()
        for _ in range(self.parse_retries + 1):
            try:
                completion = self.client.complete(messages)
            except JudgeRequestError as exc:
                answer.parsed, answer.error = None, str(exc)
                return answer
            answer.raw, answer.logprobs = completion.text, completion.logprobs
            answer.tokens += completion.tokens
            parsed = parse(answer.raw)
            if parsed is not None and getattr(parsed, "ok", True):
                answer.parsed = parsed
                return answer
            answer.failures += 1
        return answer

    # criteria mode
    def _judge_criterion(self, inp: ScoreInput, criterion: CriterionSpec):
        prompt = CRITERION_PROMPT.format(
            conversation=render_conversation(inp.prompt, inp.response), points=f"{criterion.points:g}",
            title=criterion.title, guidance=criterion.guidance or "",
        )
        answer = self._ask(
            [{"role": "user", "content": prompt}],
            lambda text: parse_criterion_verdict(text, result_pass_threshold=self.threshold),
        )
        parsed, raw, error = answer.parsed, answer.raw, answer.error
        if error:
            verdict = CriterionVerdict(criterion.id, None, None, "", raw or error, "error")
        elif parsed is None:
            verdict = CriterionVerdict(criterion.id, None, None, "", raw, "failed")
        else:
            # `score` is the judge's native grade (Prometheus 1–5, a JSON score) or None: one unit.
            verdict = CriterionVerdict(criterion.id, bool(parsed.met), parsed.score, parsed.explanation, raw, "ok")
            kind = "likert" if parsed.score is not None else "binary"
            verdict.distribution = rating_distribution(answer.logprobs, kind)
            # P(met) for a true/false verdict; Σ n·p(n) on the native grade's scale otherwise.
            verdict.expected_score = expected_rating(verdict.distribution, kind)
        return verdict, answer.tokens, (1 if verdict.parse_status == "failed" else 0), error

    def _p_met(self, verdict: CriterionVerdict) -> float | None:
        """P(met) from the verdict's distribution (a grade: P(n ≥ threshold)); None without one."""
        dist = verdict.distribution
        if not dist:
            return None
        if "true" in dist or "false" in dist:
            return dist.get("true", 0.0)
        return sum(p for label, p in dist.items() if float(label) >= self.threshold)

    def _score_criteria(self, inp: ScoreInput, criteria: list[CriterionSpec], outcomes: list) -> ScoreResult:
        """One response's result from its criteria verdicts (outcomes in criteria order)."""
        verdicts = [o[0] for o in outcomes]
        tokens = sum(o[1] for o in outcomes)
        failures = sum(o[2] for o in outcomes)
        by_id = {c.id: c for c in criteria}
        parsed = [v for v in verdicts if v.parse_status == "ok"]
        input_hash = stable_hash(self.name, self.mode, PROMPT_VERSION, self.spec.model, inp.prompt, inp.response,
                                 [(c.key, c.title, c.guidance, c.points) for c in criteria],
                                 *([self.unparsed_policy] if self.unparsed_policy != DEFAULT_UNPARSED_POLICY else []))
        result = ScoreResult(response_id=inp.response_id, value=None, input_hash=input_hash, token_count=tokens,
                             model_revision=self.revision, criteria=verdicts, parse_failures=failures)
        if not parsed:
            errors = [o[3] for o in outcomes if o[3]]
            result.error = (f"judge request failed: {errors[0]}" if errors
                            else "no criterion verdict could be parsed")
            return result
        score = rubric_score(
            [Grade(by_id[v.criterion_id].points, credit_from_verdict(v.met) if v.parse_status == "ok" else None,
                   key=by_id[v.criterion_id].key) for v in verdicts],
            unparsed=self.unparsed_policy,
        )
        result.unparsed_criteria = score.unparsed
        if score.value is None:
            result.error = (f"{score.unparsed} criterion verdict(s) could not be parsed (unparsed_policy=fail)"
                            if score.unparsed else "the rubric has no criterion with positive points to score")
            return result
        result.value = score.value
        result.components = {by_id[v.criterion_id].key: 1.0 if v.met else 0.0 for v in parsed}
        if any(v.distribution for v in parsed):
            # The rubric score in expectation (credit = P(met) where the verdict has a distribution,
            # its 1/0 otherwise; same unparsed policy): breaks ties between responses whose parsed
            # verdicts agree.
            expected = rubric_score(
                [Grade(by_id[v.criterion_id].points,
                       (self._p_met(v) if v.distribution else credit_from_verdict(v.met))
                       if v.parse_status == "ok" else None, key=by_id[v.criterion_id].key) for v in verdicts],
                unparsed=self.unparsed_policy,
            )
            if expected.value is not None:
                result.components["expected"] = expected.value
        return result

    # pairwise mode
    def _judge_order(self, prompt: list[dict], first: str, second: str, criteria: list[CriterionSpec]) -> Answer:
        crit = ""
        if criteria:
            crit = "; and the project's rubric: " + "; ".join(c.title for c in criteria)
        messages = [
            {"role": "system", "content": PAIRWISE_SYSTEM.format(criteria=crit)},
            {"role": "user", "content": PAIRWISE_USER.format(
                conversation=render_conversation(prompt), answer_a=first, answer_b=second)},
        ]
        return self._ask(messages, parse_pairwise_verdict)

    def _pair_verdict(self, a: ScoreInput, b: ScoreInput, criteria, ab: Answer, ba: Answer) -> tuple[PairVerdict, str]:
        swap = {"a": "b", "b": "a", "tie": "tie"}
        pair = PairVerdict(
            item_id=a.item_id, response_a=a.response_id, response_b=b.response_id,
            input_hash=stable_hash(self.name, "pairwise", PROMPT_VERSION, self.spec.model, a.prompt,
                                   a.response, b.response, [c.title for c in criteria]),
            verdict_ab=ab.parsed or "", verdict_ba=swap[ba.parsed] if ba.parsed else "",
            raw_output_ab=ab.raw or ab.error, raw_output_ba=ba.raw or ba.error,
            parse_failures=(0 if ab.parsed or ab.error else 1) + (0 if ba.parsed or ba.error else 1),
            tokens=ab.tokens + ba.tokens,
        )
        if ab.parsed:
            pair.distribution_ab = rating_distribution(ab.logprobs, "pairwise")
        if ba.parsed:
            pair.distribution_ba = {swap[k]: v for k, v in rating_distribution(ba.logprobs, "pairwise").items()}
        return pair, ab.error or ba.error

    def _pairwise_results(self, group: list[ScoreInput], outcomes: list[tuple[PairVerdict, str]]) -> list[ScoreResult]:
        """Per response: its share of comparisons won (tie = ½) and its position consistency."""
        wins: dict[int, list[float]] = {i.response_id: [] for i in group}
        expected: dict[int, list[float]] = {i.response_id: [] for i in group}
        errors: dict[int, str] = {}
        for pair, error in outcomes:
            if pair.preference_a is not None:
                wins[pair.response_a].append(pair.preference_a)
                wins[pair.response_b].append(1.0 - pair.preference_a)
            elif error:
                errors[pair.response_a] = errors[pair.response_b] = f"judge request failed: {error}"
            if pair.expected_preference_a is not None:
                expected[pair.response_a].append(pair.expected_preference_a)
                expected[pair.response_b].append(1.0 - pair.expected_preference_a)
        pairs = [p for p, _ in outcomes]
        results = []
        for inp in group:
            mine = [p for p in pairs if inp.response_id in (p.response_a, p.response_b)]
            result = ScoreResult(
                response_id=inp.response_id, value=None,
                input_hash=stable_hash(*[p.input_hash for p in mine]), model_revision=self.revision,
                token_count=sum(p.tokens for p in mine) // 2,
            )
            if wins[inp.response_id]:
                result.value = sum(wins[inp.response_id]) / len(wins[inp.response_id])
                consistent = [p.consistent for p in mine if p.consistent is not None]
                if consistent:
                    result.components = {"position_consistency": sum(consistent) / len(consistent)}
                if expected[inp.response_id]:
                    result.components["expected"] = sum(expected[inp.response_id]) / len(expected[inp.response_id])
            else:
                result.error = errors.get(inp.response_id) or "no pairwise verdict could be parsed"
            results.append(result)
        return results

    # scheduling
    def _criteria_unit(self, inp: ScoreInput, criteria: list[CriterionSpec], pool) -> _Unit:
        futures = [pool.submit(self._judge_criterion, inp, c) for c in criteria]

        def finish(done: list[Future]) -> ScoredChunk:
            result = self._score_criteria(inp, criteria, [f.result() for f in done])
            return ScoredChunk(results=[result], tokens=result.token_count)

        return _Unit(futures, finish)

    def _pairwise_unit(self, group: list[ScoreInput], criteria: list[CriterionSpec], pool) -> _Unit:
        if len(group) < 2:
            return _Unit([], lambda done: ScoredChunk(results=[
                ScoreResult(response_id=i.response_id, value=None,
                            error="pairwise judging needs at least two responses") for i in group]))
        pairs = list(combinations(group, 2))
        # Both orders of every pair: A shown first, then B first (position bias shows as disagreement).
        futures = [f for a, b in pairs for f in (
            pool.submit(self._judge_order, a.prompt, a.response, b.response, criteria),
            pool.submit(self._judge_order, a.prompt, b.response, a.response, criteria))]

        def finish(done: list[Future]) -> ScoredChunk:
            outcomes = [self._pair_verdict(a, b, criteria, done[2 * k].result(), done[2 * k + 1].result())
                        for k, (a, b) in enumerate(pairs)]
            chunk = ScoredChunk(results=self._pairwise_results(group, outcomes), pairs=[p for p, _ in outcomes])
            chunk.tokens = sum(p.tokens for p in chunk.pairs)
            return chunk

        return _Unit(futures, finish)

    def _run_units(self, make_units: Iterator[Callable[[], _Unit]], context: ScoringContext) -> Iterator[ScoredChunk]:
        """Keep the pool full: open units while fewer than 2 × concurrency requests are queued or
        in flight; hand finished units over as they complete, merged when they come close together."""
        waiting = deque(make_units)
        open_units: list[_Unit] = []
        owner: dict[Future, _Unit] = {}
        finished: list[ScoredChunk] = []
        last_hand_over = time.monotonic()
        try:
            while waiting or owner or finished:
                while waiting and len(owner) < 2 * self.concurrency:
                    unit = waiting.popleft()()
                    unit.left = len(unit.futures)
                    if not unit.futures:
                        finished.append(unit.finish([]))
                        continue
                    open_units.append(unit)
                    owner.update(dict.fromkeys(unit.futures, unit))
                if owner:
                    timeout = None
                    if finished:
                        timeout = max(0.0, self.HAND_OVER_SECONDS - (time.monotonic() - last_hand_over))
                    done, _ = wait(list(owner), timeout=timeout, return_when=FIRST_COMPLETED)
                    for future in done:
                        unit = owner.pop(future)
                        unit.left -= 1
                        if unit.left == 0:
                            open_units.remove(unit)
                            finished.append(unit.finish(unit.futures))
                due = time.monotonic() - last_hand_over >= self.HAND_OVER_SECONDS
                if finished and (due or not (waiting or owner)):
                    if context.should_stop():
                        return
                    chunk = ScoredChunk()
                    for part in finished:
                        chunk.results.extend(part.results)
                        chunk.pairs.extend(part.pairs)
                        chunk.tokens += part.tokens
                    finished = []
                    yield chunk
                    last_hand_over = time.monotonic()
        finally:
            for future in owner:
                future.cancel()

    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        criteria = context.criteria
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="judge") as pool:
            if self.mode == "pairwise":
                groups: dict[int, list[ScoreInput]] = {}
                for inp in inputs:
                    groups.setdefault(inp.item_id, []).append(inp)
                items = [sorted(g, key=lambda i: (i.position, i.response_id)) for g in groups.values()]
                units = (lambda g=g: self._pairwise_unit(g, criteria, pool) for g in items)
            else:
                if not criteria:
                    raise BackendError("Criteria mode needs a rubric: the project has no rubric version.")
                units = (lambda i=i: self._criteria_unit(i, criteria, pool) for i in inputs)
            yield from self._run_units(units, context)

    def close(self) -> None:
        self.client.close()
