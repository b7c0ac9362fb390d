"""What every scoring backend takes and returns. Pure Python: no ORM, so backends run and test
without a database and the worker's services decide what gets written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field


class BackendError(Exception):
    """A backend cannot run at all (bad settings, model missing): the whole batch fails."""


@dataclass(frozen=True)
class ScorerSpec:
    """A snapshot of a Scorer's settings: what a worker needs, recorded on the run at start."""

    id: int
    name: str
    backend: str
    model: str = ""
    revision: str = ""
    dtype: str = "auto"
    max_length: int = 4096
    batch_token_budget: int = 16384
    trust_remote_code: bool = False
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScorerSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that changes the scores changes (the worker's cache key)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CriterionSpec:
    id: int
    key: str
    title: str
    guidance: str = ""
    points: float = 1.0


@dataclass
class ScoreInput:
    """One response to score, with its item's prompt (chat messages)."""

    response_id: int
    item_id: int
    prompt: list[dict]
    response: str
    position: int = 0


@dataclass
class CriterionVerdict:
    criterion_id: int
    met: bool | None
    score: float | None
    explanation: str = ""
    raw_output: str = ""
    parse_status: str = "ok"  # ok | failed | error
    # From the endpoint's logprobs, when it returns them: probabilities of the rating tokens at the
    # verdict's position ({"true": .9, "false": .1}, or {"1": …, "5": …}) and its expected value:
    # P(met) for a true/false verdict, Σ n·p(n) on the scale of `score` (the judge's grade) otherwise.
    distribution: dict[str, float] = field(default_factory=dict)
    expected_score: float | None = None


@dataclass
class ScoreResult:
    """A backend's answer for one response. `error` set = this response failed (value None)."""

    response_id: int
    value: float | None
    input_hash: str = ""
    components: dict[str, float] = field(default_factory=dict)
    token_count: int = 0
    truncated: bool = False
    model_revision: str = ""
    error: str = ""
    criteria: list[CriterionVerdict] = field(default_factory=list)
    parse_failures: int = 0
    # Criteria left out of a rubric score because their verdict did not parse (the score is partial).
    unparsed_criteria: int = 0
    # A gated multi-objective RM's per-component gating weights (ArmoRM), by component name.
    gating: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error and self.value is not None


@dataclass
class PairVerdict:
    """A pairwise judge's two verdicts on (response_a, response_b), mapped to stored order."""

    item_id: int
    response_a: int
    response_b: int
    input_hash: str
    verdict_ab: str = ""  # "a" | "b" | "tie" | ""
    verdict_ba: str = ""
    raw_output_ab: str = ""
    raw_output_ba: str = ""
    parse_failures: int = 0
    tokens: int = 0
    # From logprobs, mapped to stored order: {"a": p, "b": p, "tie": p} per order, and the mean over
    # the orders of P(A better) + ½ P(tie).
    distribution_ab: dict[str, float] = field(default_factory=dict)
    distribution_ba: dict[str, float] = field(default_factory=dict)

    @property
    def expected_preference_a(self) -> float | None:
        values = [d.get("a", 0.0) + 0.5 * d.get("tie", 0.0) for d in (self.distribution_ab, self.distribution_ba) if d]
        return sum(values) / len(values) if values else None

    @property
    def consistent(self) -> bool | None:
        if not self.verdict_ab or not self.verdict_ba:
            return None
        return self.verdict_ab == self.verdict_ba

    @property
    def preference_a(self) -> float | None:
        """Share of the parsed orders won by A (tie = ½)."""
        wins = [{"a": 1.0, "b": 0.0, "tie": 0.5}[v] for v in (self.verdict_ab, self.verdict_ba) if v]
        return sum(wins) / len(wins) if wins else None


@dataclass
class ScoredChunk:
    """Results that are final, in no particular order: written as they come (live progress)."""

    results: list[ScoreResult] = field(default_factory=list)
    pairs: list[PairVerdict] = field(default_factory=list)
    tokens: int = 0


@dataclass
class ScoringContext:
    criteria: list[CriterionSpec] = field(default_factory=list)
    # Returns True when the run was cancelled: a backend stops between micro-batches.
    should_stop: Callable[[], bool] = lambda: False


class Backend:
    """A scoring backend. Subclasses implement `score_chunks`; `score` restores input order."""

    name = "base"

    def __init__(self, spec: ScorerSpec):
        self.spec = spec

    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        raise NotImplementedError

    def score(self, inputs: list[ScoreInput], context: ScoringContext | None = None) -> list[ScoreResult]:
        """All results, in the order of `inputs` (a response missing from the output is an error)."""
        context = context or ScoringContext()
        by_id: dict[int, ScoreResult] = {}
        for chunk in self.score_chunks(inputs, context):
            for result in chunk.results:
                by_id[result.response_id] = result
        return [
            by_id.get(i.response_id) or ScoreResult(response_id=i.response_id, value=None, error="not scored")
            for i in inputs
        ]

    def close(self) -> None:
        """Release what the backend holds (GPU memory, HTTP connections)."""


def message_text(content) -> str:
    """A chat message's text: strings as they are; OpenAI-style content parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def stable_hash(*parts) -> str:
    """sha256 of a canonical JSON of `parts`."""
    data = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()
