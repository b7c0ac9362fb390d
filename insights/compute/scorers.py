"""Model vs human, per scorer and per subset.

- Accuracy (RewardBench, strict): over items whose label has a chosen and a rejected response,
  the share where r_chosen > r_rejected; equal rewards are ties, counted apart and not as correct.
  Items the humans called a tie or both bad are left out (counted). A pairwise judge is right when
  its verdict on the (chosen, rejected) pair names the chosen one.
- Accuracy by the strength of the human preference (|strength| 1..3 of the label).
- Spearman's ρ between a judge's criterion scores and the humans' mean score, per criterion.
- Calibration: σ(r_1 − r_2) in ten bins against the share of human judgments preferring response 1.
- Confusion of pairwise judge verdicts against the item label.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..stats import calibration_bin, calibration_rows, ratio, sigmoid, spearman_from_counts, wilson_interval
from .items import ItemView

MAX_SPEARMAN_CELLS = 100_000


def _verdict(preference_a: float | None) -> str:
    if preference_a is None:
        return "none"
    return "1" if preference_a > 0.5 else "2" if preference_a < 0.5 else "tie"


class _Tally:
    __slots__ = ("correct", "incorrect", "ties", "missing")

    def __init__(self) -> None:
        self.correct = self.incorrect = self.ties = self.missing = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def row(self) -> dict:
        compared = self.correct + self.incorrect + self.ties
        lo, hi = wilson_interval(self.correct, compared)
        return {
            "compared": compared,
            "correct": self.correct,
            "incorrect": self.incorrect,
            "ties": self.ties,
            "missing": self.missing,
            "accuracy": ratio(self.correct, compared),
            "low": lo,
            "high": hi,
            "tie_rate": ratio(self.ties, compared),
        }


class ScorerAccumulator:
    def __init__(self) -> None:
        self.overall: dict[int, _Tally] = defaultdict(_Tally)
        self.subsets: dict[tuple[int, str], _Tally] = defaultdict(_Tally)
        self.strength: dict[tuple[int, str], _Tally] = defaultdict(_Tally)
        self.calibration: dict[int, dict[int, list[float]]] = defaultdict(dict)
        self.confusion: dict[int, Counter] = defaultdict(Counter)
        self.spearman: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self.kinds: dict[int, set[str]] = defaultdict(set)
        self.human_ties = self.human_both_bad = self.decided = 0

    def add(self, item: ItemView) -> None:
        label = item.label
        decided = label.chosen is not None and not label.tie and not label.both_bad
        if label.tie:
            self.human_ties += 1
        elif label.both_bad:
            self.human_both_bad += 1
        elif decided:
            self.decided += 1
        strength = str(abs(label.strength)) if label.strength is not None else "ranking"
        if decided:
            chosen, rejected = item.response_ids[label.chosen], item.response_ids[label.rejected]
            for scorer_id, scores in item.scores.items():
                self.kinds[scorer_id].add("reward")
                rc, rr = scores.get(chosen), scores.get(rejected)
                outcome = (
                    "missing"
                    if rc is None or rr is None
                    else ("correct" if rc > rr else "ties" if rc == rr else "incorrect")
                )
                self._count(scorer_id, item.subset, strength, outcome)
        for scorer_id, a, b, preference_a in item.pairwise:
            self.kinds[scorer_id].add("judge")
            if item.is_pair and label.label is not None:
                human = label.label
                if item.positions.get(a) == 1 and human in ("1", "2"):  # the judge saw them the other way
                    human = "2" if human == "1" else "1"
                self.confusion[scorer_id][(human, _verdict(preference_a))] += 1
            if decided and {a, b} == {item.response_ids[label.chosen], item.response_ids[label.rejected]}:
                if preference_a is None:
                    outcome = "missing"
                else:
                    chosen_share = preference_a if a == item.response_ids[label.chosen] else 1 - preference_a
                    outcome = "correct" if chosen_share > 0.5 else "ties" if chosen_share == 0.5 else "incorrect"
                self._count(scorer_id, item.subset, strength, outcome)
        if item.is_pair and item.scores:
            first, second = item.response_ids
            votes = [j.preference for j in item.judgments if not j.both_bad and j.preference]
            if votes:
                for scorer_id, scores in item.scores.items():
                    if first in scores and second in scores:
                        p = sigmoid(scores[first] - scores[second])
                        cell = self.calibration[scorer_id].setdefault(calibration_bin(p), [0, 0.0, 0.0])
                        cell[0] += len(votes)
                        cell[1] += p * len(votes)
                        cell[2] += sum(1 for v in votes if v < 0)
        if item.model_criteria and item.criteria:
            human: dict[tuple[int, int], list[float]] = defaultdict(list)
            for values in item.criteria.values():
                for response_id, criterion_id, value in values:
                    human[(response_id, criterion_id)].append(value)
            for response_id, criterion_id, scorer_id, value in item.model_criteria:
                values = human.get((response_id, criterion_id))
                if values:
                    self.kinds[scorer_id].add("rubric")
                    table = self.spearman[(scorer_id, criterion_id)]
                    if len(table) < MAX_SPEARMAN_CELLS:
                        table[(round(sum(values) / len(values), 4), round(value, 4))] += 1

    @property
    def criterion_ids(self) -> set[int]:
        return {cid for _sid, cid in self.spearman}

    def _count(self, scorer_id: int, subset: str, strength: str, outcome: str) -> None:
        self.overall[scorer_id].add(outcome)
        self.subsets[(scorer_id, subset or "(none)")].add(outcome)
        self.strength[(scorer_id, strength)].add(outcome)

    def result(self, *, scorers: dict[int, str], criteria: dict[int, dict]) -> dict:
        def name(sid):
            return scorers.get(sid, str(sid))

        rows = []
        for sid in sorted(set(self.overall) | set(self.kinds), key=name):
            row = {
                "scorer": name(sid),
                "kind": "+".join(sorted(self.kinds.get(sid, ()))) or "reward",
                **self.overall[sid].row(),
            }
            row["ece"] = calibration_rows(self.calibration.get(sid, {}))[1]
            rows.append(row)
        subsets = [
            {"scorer": name(sid), "subset": subset, **t.row()}
            for (sid, subset), t in sorted(self.subsets.items(), key=lambda kv: (name(kv[0][0]), kv[0][1]))
        ]
        strengths = [
            {"scorer": name(sid), "strength": s, **t.row()}
            for (sid, s), t in sorted(self.strength.items(), key=lambda kv: (name(kv[0][0]), kv[0][1]))
        ]
        calibration = []
        for sid in sorted(self.calibration, key=name):
            bins, _ece = calibration_rows(self.calibration[sid])
            calibration += [{"scorer": name(sid), **b} for b in bins]
        confusion = [
            {"scorer": name(sid), "human": h, "judge": v, "items": n}
            for sid in sorted(self.confusion, key=name)
            for (h, v), n in sorted(self.confusion[sid].items())
        ]
        spearman = []
        for (sid, cid), table in sorted(
            self.spearman.items(), key=lambda kv: (name(kv[0][0]), criteria.get(kv[0][1], {}).get("order", (0, 0)))
        ):
            c = criteria.get(cid, {})
            spearman.append(
                {
                    "scorer": name(sid),
                    "criterion": c.get("key", str(cid)),
                    "title": c.get("title", ""),
                    "responses": int(sum(table.values())),
                    "rho": spearman_from_counts(table),
                }
            )
        return {
            "scorers": rows,
            "subsets": subsets,
            "by_strength": strengths,
            "calibration": calibration,
            "confusion": confusion,
            "spearman": spearman,
            "human": {"decided": self.decided, "ties": self.human_ties, "both_bad": self.human_both_bad},
        }
