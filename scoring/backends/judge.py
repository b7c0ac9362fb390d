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
are retried a capped number of times; the raw output is always kept and a verdict that never
parses is counted, not fatal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


# --- transport -----------------------------------------------------------------------------------
class JudgeRequestError(Exception):
    pass


@dataclass
class Completion:
    text: str
    tokens: int


class ChatClient:
    """POST {base_url}/chat/completions with SSRF pinning, timeouts and capped retries."""

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
        self.temperature = float(options.get("temperature", 0.0))
        self.max_tokens = int(options.get("max_tokens", 1024))
        self.extra_body = dict(options.get("extra_body", {}) or {})
        # trust_env=False: no proxy or .netrc from the environment can redirect the request.
        self.http = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False)
        self.httpx = httpx

    def complete(self, messages: list[dict]) -> Completion:
        """One completion; retries transport errors, 429 and 5xx with exponential backoff."""
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, **self.extra_body}
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(30.0, self.backoff * 2 ** (attempt - 1)))
            # Re-checked per request: DNS may have changed since the scorer was saved.
            checked = self.check(self.base_url)
            url, headers, extensions = checked.pinned_url("/chat/completions")
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            try:
                response = self.http.post(url, json=body, headers=headers, extensions=extensions)
            except self.httpx.TimeoutException:
                last_error = f"timed out after {self.timeout:g}s"
                continue
            except self.httpx.TransportError as exc:
                last_error = f"connection failed: {exc.__class__.__name__}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise JudgeRequestError(f"HTTP {response.status_code}: {response.text[:300]}")
            if 300 <= response.status_code < 400:
                raise JudgeRequestError(f"HTTP {response.status_code}: redirects are not followed")
            try:
                data = response.json()
                text = data["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                last_error = f"not an OpenAI chat completion: {response.text[:200]!r}"
                continue
            usage = data.get("usage") or {}
            tokens = int(usage.get("total_tokens") or 0)
            return Completion(text=str(text), tokens=tokens)
        raise JudgeRequestError(f"{last_error} (after {self.max_retries + 1} attempts)")

    def close(self) -> None:
        self.http.close()


# --- the backend -----------------------------------------------------------------------------------
class OpenAIJudge(Backend):
    name = "openai_judge"

    def __init__(self, spec: ScorerSpec, *, client: ChatClient | None = None):
        super().__init__(spec)
        self.mode = spec.options.get("mode", "criteria")
        if self.mode not in ("criteria", "pairwise"):
            raise BackendError(f"Unknown judge mode {self.mode!r} (criteria or pairwise).")
        self.client = client or ChatClient(spec)
        self.concurrency = max(1, min(64, int(spec.options.get("concurrency", 4))))
        self.parse_retries = max(0, min(5, int(spec.options.get("parse_retries", 1))))
        self.threshold = float(spec.options.get("result_pass_threshold", 3))
        self.unparsed_policy = spec.options.get("unparsed_policy", DEFAULT_UNPARSED_POLICY)
        self.revision = f"{spec.model}@{PROMPT_VERSION}"

    def _ask(self, messages: list[dict], parse) -> tuple[object, str, int, int, str]:
        """(parsed or None, raw output, tokens, parse failures, error). Re-asks on a parse failure."""
        raw, tokens, failures = "", 0, 0
        for _ in range(self.parse_retries + 1):
            try:
                completion = self.client.complete(messages)
            except JudgeRequestError as exc:
                return None, raw, tokens, failures, str(exc)
            raw, tokens = completion.text, tokens + completion.tokens
            parsed = parse(raw)
            if parsed is not None and getattr(parsed, "ok", True):
                return parsed, raw, tokens, failures, ""
            failures += 1
        return None, raw, tokens, failures, ""

    # criteria mode
    def _judge_criterion(self, inp: ScoreInput, criterion: CriterionSpec):
        prompt = CRITERION_PROMPT.format(
            conversation=render_conversation(inp.prompt, inp.response), points=f"{criterion.points:g}",
            title=criterion.title, guidance=criterion.guidance or "",
        )
        parsed, raw, tokens, failures, error = self._ask(
            [{"role": "user", "content": prompt}],
            lambda text: parse_criterion_verdict(text, result_pass_threshold=self.threshold),
        )
        if error:
            verdict = CriterionVerdict(criterion.id, None, None, "", raw or error, "error")
        elif parsed is None:
            verdict = CriterionVerdict(criterion.id, None, None, "", raw, "failed")
        else:
            # `score` is the judge's native grade (Prometheus 1–5, a JSON score) or None: one unit.
            verdict = CriterionVerdict(criterion.id, bool(parsed.met), parsed.score, parsed.explanation, raw, "ok")
        return verdict, tokens, (1 if verdict.parse_status == "failed" else 0), error

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
        return result

    # pairwise mode
    def _judge_order(self, prompt: list[dict], first: str, second: str, criteria: list[CriterionSpec]):
        crit = ""
        if criteria:
            crit = "; and the project's rubric: " + "; ".join(c.title for c in criteria)
        messages = [
            {"role": "system", "content": PAIRWISE_SYSTEM.format(criteria=crit)},
            {"role": "user", "content": PAIRWISE_USER.format(
                conversation=render_conversation(prompt), answer_a=first, answer_b=second)},
        ]
        return self._ask(messages, parse_pairwise_verdict)

    def _submit_pair(self, a: ScoreInput, b: ScoreInput, criteria: list[CriterionSpec], pool):
        """Both orders of one pair, in flight: A shown first, then B first (position bias shows as
        disagreement between them)."""
        return (a, b, pool.submit(self._judge_order, a.prompt, a.response, b.response, criteria),
                pool.submit(self._judge_order, a.prompt, b.response, a.response, criteria))

    def _pair_verdict(self, a: ScoreInput, b: ScoreInput, criteria, ab_future, ba_future) -> tuple[PairVerdict, str]:
        ab, raw_ab, tok_ab, fail_ab, err_ab = ab_future.result()
        ba, raw_ba, tok_ba, fail_ba, err_ba = ba_future.result()
        swap = {"a": "b", "b": "a", "tie": "tie"}
        pair = PairVerdict(
            item_id=a.item_id, response_a=a.response_id, response_b=b.response_id,
            input_hash=stable_hash(self.name, "pairwise", PROMPT_VERSION, self.spec.model, a.prompt,
                                   a.response, b.response, [c.title for c in criteria]),
            verdict_ab=ab or "", verdict_ba=swap[ba] if ba else "",
            raw_output_ab=raw_ab or err_ab, raw_output_ba=raw_ba or err_ba,
            parse_failures=(0 if ab or err_ab else 1) + (0 if ba or err_ba else 1), tokens=tok_ab + tok_ba,
        )
        return pair, err_ab or err_ba

    def _pairwise_results(self, group: list[ScoreInput], outcomes: list[tuple[PairVerdict, str]]) -> list[ScoreResult]:
        """Per response: its share of comparisons won (tie = ½) and its position consistency."""
        wins: dict[int, list[float]] = {i.response_id: [] for i in group}
        errors: dict[int, str] = {}
        for pair, error in outcomes:
            if pair.preference_a is not None:
                wins[pair.response_a].append(pair.preference_a)
                wins[pair.response_b].append(1.0 - pair.preference_a)
            elif error:
                errors[pair.response_a] = errors[pair.response_b] = f"judge request failed: {error}"
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
            else:
                result.error = errors.get(inp.response_id) or "no pairwise verdict could be parsed"
            results.append(result)
        return results

    def _score_pairwise(self, inputs: list[ScoreInput], context: ScoringContext, pool) -> Iterator[ScoredChunk]:
        groups: dict[int, list[ScoreInput]] = {}
        for inp in inputs:
            groups.setdefault(inp.item_id, []).append(inp)
        items = [sorted(g, key=lambda i: (i.position, i.response_id)) for g in groups.values()]
        # Enough items at once to keep `concurrency` requests in flight (two per pair).
        window = max(1, -(-self.concurrency // 2))
        for start in range(0, len(items), window):
            if context.should_stop():
                return
            chunk = ScoredChunk()
            submitted = []
            for group in items[start:start + window]:
                if len(group) < 2:
                    chunk.results.extend(ScoreResult(response_id=i.response_id, value=None,
                                                     error="pairwise judging needs at least two responses")
                                         for i in group)
                    continue
                submitted.append((group, [self._submit_pair(a, b, context.criteria, pool)
                                          for a, b in combinations(group, 2)]))
            for group, futures in submitted:
                outcomes = [self._pair_verdict(a, b, context.criteria, fab, fba) for a, b, fab, fba in futures]
                chunk.results.extend(self._pairwise_results(group, outcomes))
                chunk.pairs.extend(p for p, _ in outcomes)
            chunk.tokens = sum(p.tokens for p in chunk.pairs)
            yield chunk

    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            if self.mode == "pairwise":
                yield from self._score_pairwise(inputs, context, pool)
                return
            criteria = context.criteria
            if not criteria:
                raise BackendError("Criteria mode needs a rubric: the project has no rubric version.")
            # All criteria of a few responses at once, so `concurrency` requests are in flight.
            window = max(1, -(-self.concurrency // len(criteria)))
            for start in range(0, len(inputs), window):
                if context.should_stop():
                    return
                group = inputs[start:start + window]
                jobs = [(inp, c) for inp in group for c in criteria]
                outcomes = list(pool.map(lambda job: self._judge_criterion(*job), jobs))
                results = [
                    self._score_criteria(inp, criteria, outcomes[i * len(criteria):(i + 1) * len(criteria)])
                    for i, inp in enumerate(group)
                ]
                yield ScoredChunk(results=results, tokens=sum(r.token_count for r in results))

    def close(self) -> None:
        self.client.close()
