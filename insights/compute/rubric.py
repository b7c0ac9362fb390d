"""Rubric quality (after RRD and OpenRubrics), on the human criterion scores of the project's rubric.

Per criterion, over two-response judgments that scored it for both responses:

- separation rate: how often it scores the two responses differently;
- direction: among judgments where it separates them and the annotator preferred one, how often
  the response it favours (higher score; lower for a pitfall, whose points are negative) is the
  preferred one; below one half with confidence (Wilson upper bound < 0.5, ≥ 10 judgments) it
  points the wrong way and is flagged;
- redundancy: Pearson's r between two criteria's scores over responses; |r| ≥ 0.8 is flagged;
- suggested weights: an L2-regularised logistic regression of the preference (which response won)
  on the criterion score differences, scaled to the rubric's largest |points|.

Scores are put on one 0..1 scale first: binary as is, Likert 1..5 as (v − 1) / 4, points as
v / |points|.
"""

from __future__ import annotations

import numpy as np

from ..stats import agreement_with_preferences, fit_criterion_weights, ratio, wilson_interval
from .items import ItemView

REDUNDANT_R = 0.8
MIN_DIRECTION = 10
MAX_PATTERNS = 200_000
FLUSH_ROWS = 10_000


def normalise(value: float, scale: str, points: float) -> float:
    if scale == "likert5":
        return (value - 1) / 4
    if scale == "points":
        return value / abs(points) if points else value
    return value


class RubricAccumulator:
    def __init__(self, *, criteria: list[dict]) -> None:
        """`criteria`: the pinned version's criteria in order ({"id", "key", "title", "scale", "points"})."""
        self.criteria = criteria
        self.index = {c["id"]: k for k, c in enumerate(criteria)}
        k = self.k = len(criteria)
        # Plain lists, not numpy: a handful of criteria per judgment is faster in Python.
        self.scored = [0] * k
        self.separating = [0] * k
        self.agree = [0] * k
        self.disagree = [0] * k
        self.patterns: dict[tuple, list[int]] = {}
        self.patterns_dropped = 0
        self.heat: dict[tuple[int, str], list[float]] = {}
        # Pairwise-complete sums for the correlation matrix, fed in blocks of rows.
        self.n = np.zeros((k, k))
        self.sx = np.zeros((k, k))
        self.sxx = np.zeros((k, k))
        self.sxy = np.zeros((k, k))
        self._rows: list[list[float | None]] = []
        self._signs = [1 if c["points"] >= 0 else -1 for c in criteria]
        self._scales = [(c["scale"], c["points"]) for c in criteria]

    def add(self, item: ItemView) -> None:
        if not self.k or not item.criteria:
            return
        k, index, positions, scales = self.k, self.index, item.positions, self._scales
        heat, models = self.heat, item.models
        judgments = {j.id: j for j in item.judgments}
        pair = item.is_pair
        for judgment_id, values in item.criteria.items():
            vectors = [[None] * k for _ in item.response_ids]
            for response_id, criterion_id, value in values:
                c = index.get(criterion_id)
                p = positions.get(response_id)
                if c is None or p is None:
                    continue
                scale, points = scales[c]
                v = value if scale == "binary" else normalise(value, scale, points)
                vectors[p][c] = v
                cell = heat.get((c, models[p]))
                if cell is None:
                    cell = heat[(c, models[p])] = [0.0, 0]
                cell[0] += v
                cell[1] += 1
            self._rows.extend(vectors)
            j = judgments.get(judgment_id)
            if not pair or j is None or j.both_bad or j.preference is None:
                continue
            self._add_pair(vectors[0], vectors[1], j.preference)
        if len(self._rows) >= FLUSH_ROWS:
            self._flush()

    def _add_pair(self, first: list, second: list, preference: int) -> None:
        complete = True
        diff = []
        prefers_second = preference > 0
        for c in range(self.k):
            a, b = first[c], second[c]
            if a is None or b is None:
                complete = False
                continue
            self.scored[c] += 1
            d = b - a
            diff.append(d)
            if d:
                self.separating[c] += 1
                if preference:
                    if (d * self._signs[c] > 0) == prefers_second:
                        self.agree[c] += 1
                    else:
                        self.disagree[c] += 1
        if not preference or not complete:
            return
        key = tuple(round(d, 3) for d in diff)
        cell = self.patterns.get(key)
        if cell is None:
            if len(self.patterns) >= MAX_PATTERNS:
                self.patterns_dropped += 1
                return
            cell = self.patterns[key] = [0, 0]
        cell[0 if prefers_second else 1] += 1

    def _flush(self) -> None:
        if not self._rows:
            return
        x = np.array(self._rows, dtype=float).reshape(len(self._rows), self.k)  # None → NaN
        self._rows = []
        present = (~np.isnan(x)).astype(float)
        x0 = np.nan_to_num(x)
        self.n += present.T @ present
        self.sx += x0.T @ present  # Σ x_a over rows where b is present too
        self.sxx += (x0 * x0).T @ present
        self.sxy += x0.T @ x0

    def result(self) -> dict:
        self._flush()
        k = len(self.criteria)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = self.n
            mean_a, mean_b = self.sx / n, self.sx.T / n
            cov = self.sxy / n - mean_a * mean_b
            var_a = self.sxx / n - mean_a**2
            var_b = self.sxx.T / n - mean_b**2
            r = cov / np.sqrt(var_a * var_b)
        correlation, redundant = [], []
        for a in range(k):
            for b in range(k):
                value = float(r[a, b]) if np.isfinite(r[a, b]) and n[a, b] >= 3 else None
                if a == b and n[a, b] >= 3:
                    value = 1.0 if var_a[a, a] > 1e-12 else None
                correlation.append(
                    {
                        "criterion_a": self.criteria[a]["key"],
                        "criterion_b": self.criteria[b]["key"],
                        "r": value,
                        "responses": int(n[a, b]),
                    }
                )
                if a < b and value is not None and abs(value) >= REDUNDANT_R:
                    redundant.append(
                        {
                            "criterion_a": self.criteria[a]["key"],
                            "criterion_b": self.criteria[b]["key"],
                            "r": value,
                            "responses": int(n[a, b]),
                        }
                    )

        weights = fit_criterion_weights(self.patterns, k) if k and self.patterns else None
        current = np.array([c["points"] for c in self.criteria], dtype=float)
        suggested = None
        if weights is not None and np.abs(weights).max() > 0:
            biggest = np.abs(current).max() if k else 1.0
            suggested = weights / np.abs(weights).max() * (biggest or 10.0)

        rows = []
        for i, c in enumerate(self.criteria):
            decided = int(self.agree[i] + self.disagree[i])
            rate = ratio(int(self.agree[i]), decided)
            upper = wilson_interval(int(self.agree[i]), decided)[1]
            rows.append(
                {
                    "criterion": c["key"],
                    "title": c["title"],
                    "scale": c["scale"],
                    "points": c["points"],
                    "judgments": int(self.scored[i]),
                    "separation_rate": ratio(int(self.separating[i]), int(self.scored[i])),
                    "direction_judgments": decided,
                    "same_direction": rate,
                    "wrong_way": bool(decided >= MIN_DIRECTION and upper is not None and upper < 0.5),
                    "weight": None if weights is None else float(weights[i]),
                    "suggested_points": None if suggested is None else _points(suggested[i]),
                    "redundant_with": sorted(
                        {p["criterion_b"] for p in redundant if p["criterion_a"] == c["key"]}
                        | {p["criterion_a"] for p in redundant if p["criterion_b"] == c["key"]}
                    ),
                }
            )
        models = sorted({m for _c, m in self.heat})
        heat = [
            {"criterion": self.criteria[c]["key"], "model": m or "(unnamed)", "mean": s / n_, "responses": n_}
            for (c, m), (s, n_) in sorted(self.heat.items(), key=lambda kv: (kv[0][0], kv[0][1]))
            if n_
        ]
        fit_rows = int(sum(sum(v) for v in self.patterns.values()))
        return {
            "criteria": rows,
            "redundant": redundant,
            "correlation": correlation,
            "heat": heat,
            "models": models,
            "fit": {
                "judgments": fit_rows,
                "left_out": self.patterns_dropped,
                "current_agreement": agreement_with_preferences(self.patterns, current) if fit_rows else None,
                "suggested_agreement": agreement_with_preferences(self.patterns, weights)
                if weights is not None
                else None,
            },
        }


def _points(value: float) -> float:
    """Suggested points: one decimal, never 0 (the rubric refuses 0 points)."""
    rounded = round(float(value), 1)
    if rounded == 0:
        rounded = 0.1 if value >= 0 else -0.1
    return rounded
