"""Leaderboard of the models that wrote the responses: Bradley–Terry strengths with ties, from the
humans' item labels and, on the same pairs, from each scorer; bootstrap intervals over items.

Each item with a decided label gives one comparison: its chosen response's model against its
rejected one's (the two responses of a tied pair draw). A reward model compares the same two
responses by their rewards (equal rewards draw); a pairwise judge by its verdict. Responses of the
same model, or without a model name, compare nothing.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..stats import bradley_terry_interval
from .items import ItemView

REPLICATES = 200


class LeaderboardAccumulator:
    def __init__(self) -> None:
        self.models: dict[str, int] = {}
        # source (None: humans, else scorer id) → {(i, j): [wins of i, wins of j, ties]}
        self.tables: dict[int | None, dict[tuple[int, int], list[int]]] = defaultdict(dict)

    def _model(self, name: str) -> int:
        index = self.models.get(name)
        if index is None:
            index = self.models[name] = len(self.models)
        return index

    def _count(self, source, a: str, b: str, outcome: int) -> None:
        """outcome: 0 a won, 1 b won, 2 tie."""
        i, j = self._model(a), self._model(b)
        if i > j:
            i, j = j, i
            outcome = {0: 1, 1: 0, 2: 2}[outcome]
        cell = self.tables[source].setdefault((i, j), [0, 0, 0])
        cell[outcome] += 1

    def add(self, item: ItemView) -> None:
        label = item.label
        if label.both_bad or not label.decided:
            return
        x, y = (0, 1) if label.tie else (label.chosen, label.rejected)
        if x >= len(item.models) or y >= len(item.models):
            return
        a, b = item.models[x], item.models[y]
        if not a or not b or a == b:
            return
        self._count(None, a, b, 2 if label.tie else 0)
        ra, rb = item.response_ids[x], item.response_ids[y]
        for scorer_id, scores in item.scores.items():
            if ra in scores and rb in scores:
                sa, sb = scores[ra], scores[rb]
                self._count(scorer_id, a, b, 0 if sa > sb else 1 if sb > sa else 2)
        for scorer_id, first, second, preference_a in item.pairwise:
            if preference_a is None or {first, second} != {ra, rb}:
                continue
            share_a = preference_a if first == ra else 1 - preference_a
            self._count(scorer_id, a, b, 0 if share_a > 0.5 else 1 if share_a < 0.5 else 2)

    def result(self, *, scorers: dict[int, str], replicates: int, rng: np.random.Generator) -> dict:
        names = sorted(self.models, key=self.models.get)
        n = len(names)
        sources = [None] + sorted((s for s in self.tables if s is not None), key=lambda s: scorers.get(s, str(s)))
        rows, columns = [], []
        for source in sources:
            table = self.tables.get(source, {})
            label = "humans" if source is None else scorers.get(source, str(source))
            if not table:
                continue
            columns.append(label)
            theta, low, high, nu = bradley_terry_interval(table, n, replicates=replicates, rng=rng)
            wins = np.zeros(n, dtype=int)
            losses = np.zeros(n, dtype=int)
            ties = np.zeros(n, dtype=int)
            for (i, j), (wi, wj, t) in table.items():
                wins[i] += wi
                wins[j] += wj
                losses[i] += wj
                losses[j] += wi
                ties[i] += t
                ties[j] += t
            order = np.argsort(-theta, kind="stable")
            rank = np.empty(n, dtype=int)
            rank[order] = np.arange(1, n + 1)
            for m in range(n):
                played = int(wins[m] + losses[m] + ties[m])
                if not played:
                    continue
                rows.append(
                    {
                        "source": label,
                        "model": names[m],
                        "strength": float(theta[m]),
                        "low": None if np.isnan(low[m]) else float(low[m]),
                        "high": None if np.isnan(high[m]) else float(high[m]),
                        "rank": int(rank[m]),
                        "comparisons": played,
                        "wins": int(wins[m]),
                        "losses": int(losses[m]),
                        "ties": int(ties[m]),
                        "tie_parameter": nu,
                    }
                )
        return {"sources": columns, "models": names, "rows": rows, "replicates": replicates}
