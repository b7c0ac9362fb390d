"""Model scores against the human labels: reward-model accuracy and a length-bias diagnostic.

- Human label of a pair: the majority of the item's judgments (an adjudication, when there is one,
  is the label). A two-response judgment votes by the sign of its preference (negative = the first
  response by position is better, 0 = a tie, which is no vote); a ranking votes for every pair it
  orders. A pair whose votes are even is undecided and left out.
- Accuracy (RewardBench, strict): among decided pairs that both have a model score, the share with
  r_chosen > r_rejected. Equal rewards count as not correct and are reported separately as ties.
- Length bias: how often the longer response wins, for the model and for the humans, on the same
  pairs (pairs of equal length left out), and the rank correlation of score with length.
- Probabilistic verdicts (judges whose endpoint returns logprobs): the expected score
  (`components["expected"]`) breaks ties between equal parsed scores (reported apart, the strict
  accuracy is unchanged); calibration is the Brier score and expected calibration error of the
  judge's P(met) against the human majority on binary criteria.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.db.models.functions import Length

from annotator.models import Adjudication, CriterionJudgment, Judgment, Project, Response

from .models import CriterionScore, PairwiseScore, ResponseScore, Scorer


@dataclass
class HumanPair:
    item_id: int
    chosen: int
    rejected: int
    margin: int  # votes for chosen − votes for rejected


def _votes_of(*, preference, ranking, ordered: list[int]) -> list[tuple[int, int]]:
    """(winner, loser) votes of one judgment or adjudication."""
    if ranking and len(ranking) >= 2:
        ranked = [rid for rid in ranking if rid in ordered]
        return list(combinations(ranked, 2))
    if preference is None or len(ordered) != 2 or preference == 0:
        return []
    return [(ordered[0], ordered[1])] if preference < 0 else [(ordered[1], ordered[0])]


def human_pairs(*, project: Project) -> tuple[list[HumanPair], int]:
    """Decided human pairs of the project, and the number of undecided (even) pairs."""
    ordered: dict[int, list[int]] = defaultdict(list)
    for rid, item_id in Response.objects.filter(item__project=project).order_by("item_id", "position", "id") \
            .values_list("id", "item_id"):
        ordered[item_id].append(rid)
    adjudicated = {
        a["item_id"]: a for a in Adjudication.objects.filter(item__project=project)
        .values("item_id", "preference", "ranking")
    }
    votes: dict[int, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
    for item_id, adj in adjudicated.items():
        for winner, loser in _votes_of(preference=adj["preference"], ranking=adj["ranking"],
                                       ordered=ordered.get(item_id, [])):
            votes[item_id][(winner, loser)] += 1
    judgments = Judgment.objects.filter(item__project=project).exclude(item_id__in=list(adjudicated))
    for j in judgments.values("item_id", "preference", "ranking"):
        for winner, loser in _votes_of(preference=j["preference"], ranking=j["ranking"],
                                       ordered=ordered.get(j["item_id"], [])):
            votes[j["item_id"]][(winner, loser)] += 1
    pairs, undecided = [], 0
    for item_id, item_votes in votes.items():
        seen = set()
        for (a, b) in list(item_votes):
            key = (min(a, b), max(a, b))
            if key in seen:
                continue
            seen.add(key)
            margin = item_votes.get((a, b), 0) - item_votes.get((b, a), 0)
            if margin > 0:
                pairs.append(HumanPair(item_id, a, b, margin))
            elif margin < 0:
                pairs.append(HumanPair(item_id, b, a, -margin))
            else:
                undecided += 1
    pairs.sort(key=lambda p: (p.item_id, p.chosen, p.rejected))
    return pairs, undecided


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when undefined."""
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (vx * vy) if vx and vy else None


@dataclass
class AccuracyReport:
    human_pairs: int = 0
    human_undecided: int = 0
    compared: int = 0
    correct: int = 0
    incorrect: int = 0
    ties: int = 0
    length_pairs: int = 0
    model_prefers_longer: int = 0
    model_length_decided: int = 0
    humans_prefer_longer: int = 0
    length_correlation: float | None = None
    scored_responses: int = 0
    position_consistency: float | None = None
    pairwise_judged: int = 0
    missing: int = 0
    examples: list[dict] = field(default_factory=list)
    # Ties of the parsed scores that the expected score (from logprobs) decides, and how many of
    # those it decides as the humans did.
    ties_broken: int = 0
    ties_broken_correct: int = 0
    calibration: dict | None = None

    @property
    def accuracy_with_expectation(self) -> float | None:
        """Accuracy when ties are decided by the expected score (None without any such tie)."""
        if not self.compared or not self.ties_broken:
            return None
        return (self.correct + self.ties_broken_correct) / self.compared

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.compared if self.compared else None

    @property
    def tie_rate(self) -> float | None:
        return self.ties / self.compared if self.compared else None

    @property
    def model_longer_rate(self) -> float | None:
        return self.model_prefers_longer / self.model_length_decided if self.model_length_decided else None

    @property
    def human_longer_rate(self) -> float | None:
        return self.humans_prefer_longer / self.length_pairs if self.length_pairs else None

    def as_dict(self) -> dict:
        return {
            "human_pairs": self.human_pairs, "human_undecided": self.human_undecided,
            "compared": self.compared, "correct": self.correct, "incorrect": self.incorrect, "ties": self.ties,
            "accuracy": self.accuracy, "tie_rate": self.tie_rate, "missing_scores": self.missing,
            "length_bias": {
                "pairs": self.length_pairs, "model_prefers_longer": self.model_longer_rate,
                "humans_prefer_longer": self.human_longer_rate,
                "score_length_spearman": self.length_correlation,
            },
            "scored_responses": self.scored_responses,
            "position_consistency": self.position_consistency, "pairwise_judged": self.pairwise_judged,
            "ties_broken_by_expectation": self.ties_broken,
            "accuracy_with_expectation": self.accuracy_with_expectation,
            "calibration": self.calibration,
        }


def latest_scores(*, project: Project, scorer: Scorer) -> dict[int, float]:
    """{response_id: value}, the newest score per response (one row per input hash may exist)."""
    out: dict[int, float] = {}
    rows = (ResponseScore.objects.filter(scorer=scorer, response__item__project=project)
            .order_by("response_id", "-created_at", "-id").values_list("response_id", "value"))
    for rid, value in rows:
        out.setdefault(rid, value)
    return out


def latest_expected(*, project: Project, scorer: Scorer) -> dict[int, float]:
    """{response_id: expected score} where the newest score carries one (judges with logprobs)."""
    out: dict[int, float] = {}
    seen: set[int] = set()
    rows = (ResponseScore.objects.filter(scorer=scorer, response__item__project=project)
            .order_by("response_id", "-created_at", "-id").values_list("response_id", "components"))
    for rid, components in rows:
        if rid in seen:
            continue
        seen.add(rid)
        value = (components or {}).get("expected")
        if isinstance(value, (int, float)):
            out[rid] = float(value)
    return out


def judge_calibration(*, project: Project, scorer: Scorer, bins: int = 10) -> dict | None:
    """Brier score and expected calibration error of the judge's P(met) against the human
    majority (mean of the humans' 0/1 ≥ ½; even splits left out) on binary criteria, with the
    parsed verdicts' accuracy beside them. None without any such pair."""
    from rubrics.models import Criterion

    human: dict[tuple[int, int], list[float]] = defaultdict(list)
    for rid, cid, value in (CriterionJudgment.objects.filter(response__item__project=project,
                                                             criterion__scale=Criterion.Scale.BINARY)
                            .values_list("response_id", "criterion_id", "value")):
        human[(rid, cid)].append(value)
    if not human:
        return None
    points = []
    for rid, cid, distribution, met in (CriterionScore.objects.filter(scorer=scorer, response__item__project=project,
                                                                       parse_status="ok")
                                        .values_list("response_id", "criterion_id", "distribution", "met")):
        votes = human.get((rid, cid))
        if not votes or "true" not in (distribution or {}):
            continue
        mean = sum(votes) / len(votes)
        if mean == 0.5:
            continue
        points.append((float(distribution["true"]), 1.0 if mean > 0.5 else 0.0, bool(met)))
    if not points:
        return None
    brier = sum((p - y) ** 2 for p, y, _ in points) / len(points)
    ece = 0.0
    for b in range(bins):
        inside = [(p, y) for p, y, _ in points if b / bins <= p < (b + 1) / bins or (b == bins - 1 and p == 1.0)]
        if inside:
            ece += len(inside) / len(points) * abs(sum(p for p, _ in inside) / len(inside)
                                                   - sum(y for _, y in inside) / len(inside))
    verdicts = sum((met and y == 1.0) or (not met and y == 0.0) for _, y, met in points) / len(points)
    return {"pairs": len(points), "brier": brier, "ece": ece, "verdict_accuracy": verdicts}


def accuracy_report(*, project: Project, scorer: Scorer, pairs: list[HumanPair] | None = None,
                    undecided: int = 0) -> AccuracyReport:
    """Reward-model accuracy against the human majority, with the length-bias diagnostic."""
    if pairs is None:
        pairs, undecided = human_pairs(project=project)
    scores = latest_scores(project=project, scorer=scorer)
    lengths = dict(Response.objects.filter(item__project=project).annotate(n=Length("content"))
                   .values_list("id", "n"))
    report = AccuracyReport(human_pairs=len(pairs), human_undecided=undecided, scored_responses=len(scores))
    expected = latest_expected(project=project, scorer=scorer) if scorer.backend == Scorer.Backend.OPENAI_JUDGE else {}
    for p in pairs:
        if p.chosen not in scores or p.rejected not in scores:
            report.missing += 1
            continue
        report.compared += 1
        rc, rr = scores[p.chosen], scores[p.rejected]
        if rc > rr:
            report.correct += 1
        elif rc == rr:
            report.ties += 1
            ec, er = expected.get(p.chosen), expected.get(p.rejected)
            if ec is not None and er is not None and ec != er:
                report.ties_broken += 1
                report.ties_broken_correct += ec > er
        else:
            report.incorrect += 1
            if len(report.examples) < 5:
                report.examples.append({"item_id": p.item_id, "chosen": p.chosen, "rejected": p.rejected,
                                        "r_chosen": rc, "r_rejected": rr})
        lc, lr = lengths.get(p.chosen, 0), lengths.get(p.rejected, 0)
        if lc != lr:
            report.length_pairs += 1
            report.humans_prefer_longer += lc > lr
            if rc != rr:
                report.model_length_decided += 1
                model_winner_longer = (rc > rr) == (lc > lr)
                report.model_prefers_longer += model_winner_longer
    ids = [rid for rid in scores if rid in lengths]
    report.length_correlation = spearman([scores[i] for i in ids], [float(lengths[i]) for i in ids])
    pairwise = PairwiseScore.objects.filter(scorer=scorer, item__project=project).exclude(consistent=None)
    judged = pairwise.count()
    if judged:
        report.pairwise_judged = judged
        report.position_consistency = pairwise.filter(consistent=True).count() / judged
    if scorer.backend == Scorer.Backend.OPENAI_JUDGE:
        report.calibration = judge_calibration(project=project, scorer=scorer)
    return report


def project_report(*, project: Project) -> list[tuple[Scorer, AccuracyReport]]:
    """One accuracy report per scorer that has scores in this project (human pairs computed once)."""
    pairs, undecided = human_pairs(project=project)
    scorers = Scorer.objects.filter(
        id__in=ResponseScore.objects.filter(response__item__project=project).values("scorer_id")
    ).order_by("name")
    return [(s, accuracy_report(project=project, scorer=s, pairs=pairs, undecided=undecided)) for s in scorers]
