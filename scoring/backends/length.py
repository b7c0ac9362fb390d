"""The length baseline: a response's length as its "reward", for length-bias diagnostics."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Backend, ScoredChunk, ScoreInput, ScoreResult, ScoringContext, stable_hash

_WORD = re.compile(r"\S+")


class LengthBackend(Backend):
    """value = characters (default) or words of the response (`options.unit`: chars | words)."""

    name = "length"

    def score_chunks(self, inputs: list[ScoreInput], context: ScoringContext) -> Iterator[ScoredChunk]:
        unit = self.spec.options.get("unit", "chars")
        if unit not in ("chars", "words"):
            raise ValueError(f"unknown length unit {unit!r} (chars or words)")
        results = []
        for inp in inputs:
            chars, words = len(inp.response), len(_WORD.findall(inp.response))
            results.append(ScoreResult(
                response_id=inp.response_id, value=float(chars if unit == "chars" else words),
                input_hash=stable_hash("length", unit, inp.response),
                components={"chars": float(chars), "words": float(words)}, token_count=words,
                model_revision="length-v1",
            ))
        yield ScoredChunk(results=results, tokens=sum(r.token_count for r in results))
