"""What a scorer's numbers are, named in one place for every page that shows them.

A score's `value` is a reward (reward models), a rubric score (judges) or a length (the `length`
baseline: characters or words, by its `unit` option). Its `token_count`, and a run's `tokens`,
count model tokens, except for the length baseline, which has no tokenizer and counts words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreUnits:
    value: str  # what one score is: "reward", "score", "characters", "words"
    count: str  # what `token_count` and a run's `tokens` count: "tokens" or "words"

    @property
    def value_label(self) -> str:
        """The value's unit where it is a quantity worth naming next to the number ("characters"), else ""."""
        return self.value if self.value in ("characters", "words") else ""


def score_units(*, backend: str, options: dict | None = None) -> ScoreUnits:
    """The units of a scorer's (or a run's snapshot of a scorer's) backend and options."""
    if backend == "length":
        unit = (options or {}).get("unit", "chars")
        return ScoreUnits(value="words" if unit == "words" else "characters", count="words")
    if backend == "openai_judge":
        return ScoreUnits(value="score", count="tokens")
    return ScoreUnits(value="reward", count="tokens")
