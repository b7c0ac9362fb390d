"""Model scores against the reference labels: RewardBench accuracy, RewardBench 2 best-of-N, rubric
scores, and a length-bias diagnostic. The formulas are in scoring/definitions.py.

Two references, reported side by side:
- **human**: the majority of the item's judgments (an adjudication, when there is one, is the
  label). A two-response judgment votes by the sign of its preference (negative = the first
  response by position is better, 0 = a tie, which is no vote); a ranking votes for every pair it
  orders. A pair whose votes are even is undecided and left out.
- **gold**: the items' gold labels (imported with `--gold`, or set by an admin). Labelled imports
  (RewardBench, RewardBench 2, TRL) pair every chosen response with every rejected one, nothing
  among the rejected; a preference gives one pair (0 = a tie, no pair); a ranking without labels
  pairs its top response with each other one (the top one counts, as for annotator gold accuracy).
The main figure uses the human majority where the project has one, else the gold labels.

Per pair: a reward model scores 1 when r_chosen > r_rejected, else 0 (RewardBench: equal rewards
are not correct; reported apart as ties). A pairwise judge scores each order it was asked 1 / 0,
and 0.5 for a tie or a verdict that did not parse (RewardBench's run_generative.py), averaged
over the two orders; ties and failures are reported apart too. Per subset (`metadata.subset`),
RewardBench's sections (subset accuracies weighted by the benchmark's example counts) and, for
RewardBench 2 items, best-of-N accuracy and the Ties score.

Probabilistic verdicts (judges whose endpoint returns logprobs): the expected score
(`components["expected"]`, or a pairwise judge's expected preference) decides ties apart — the
accuracy above is unchanged, `accuracy_with_expectation` counts them — and calibration is the
Brier score and expected calibration error of the judge's P(met) against the human majority on
binary criteria.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.db.models.functions import Length

from annotator.models import Adjudication, CriterionJudgment, Item, Judgment, Project, Response

from . import definitions as d
from .models import CriterionScore, PairwiseScore, ResponseScore, Scorer

HUMAN, GOLD = "human", "gold"


@dataclass
class HumanPair:
    """A decided reference pair (human majority or gold label)."""

    item_id: int
    chosen: int
    rejected: int
    margin: int  # votes for chosen − votes for rejected (1 for a gold label)


def _votes_of(*, preference, ranking, ordered: list[int]) -> list[tuple[int, int]]:
    """(winner, loser) votes of one judgment or adjudication."""
    if ranking and len(ranking) >= 2:
        ranked = [rid for rid in ranking if rid in ordered]
        return list(combinations(ranked, 2))
    if preference is None or len(ordered) != 2 or preference == 0:
        return []
    return [(ordered[0], ordered[1])] if preference < 0 else [(ordered[1], ordered[0])]


def _ordered_responses(project: Project) -> dict[int, list[int]]:
    ordered: dict[int, list[int]] = defaultdict(list)
    for rid, item_id in Response.objects.filter(item__project=project).order_by("item_id", "position", "id") \
            .values_list("id", "item_id"):
        ordered[item_id].append(rid)
    return ordered


def human_pairs(*, project: Project) -> tuple[list[HumanPair], int]:
    """Decided human pairs of the project, and the number of undecided (even) pairs."""
    ordered = _ordered_responses(project)
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


@dataclass
class GoldSet:
    """An item's gold label as sets: every chosen response beats every rejected one."""

    item_id: int
    chosen: list[int]
    rejected: list[int]


def gold_sets(*, project: Project) -> tuple[list[GoldSet], int]:
    """The project's gold labels as chosen/rejected sets, and the number of gold items that name no
    winner (a tie, both bad)."""
    responses: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for rid, item_id, metadata in (Response.objects.filter(item__project=project, item__is_gold=True)
                                   .order_by("item_id", "position", "id").values_list("id", "item_id", "metadata")):
        label = metadata.get("label") if isinstance(metadata, dict) else None
        responses[item_id].append((rid, label if label in ("chosen", "rejected") else ""))
    sets, undecided = [], 0
    for item_id, preference, _both_bad, ranking in (
            Item.objects.filter(project=project, is_gold=True).order_by("id")
            .values_list("id", "gold_preference", "gold_both_bad", "gold_ranking")):
        rows = responses.get(item_id, [])
        ids = [rid for rid, _ in rows]
        chosen = [rid for rid, label in rows if label == "chosen"]
        rejected = [rid for rid, label in rows if label == "rejected"]
        if chosen and rejected and not (preference is not None and len(ids) == 2 and preference > 0):
            sets.append(GoldSet(item_id, chosen, rejected))  # labelled import: RewardBench (2), TRL
        elif preference is not None and len(ids) == 2 and preference != 0:
            first, second = ids
            sets.append(GoldSet(item_id, [first], [second]) if preference < 0 else GoldSet(item_id, [second], [first]))
        elif ranking and ranking[0] in ids and len(ids) >= 2:
            top = ranking[0]
            sets.append(GoldSet(item_id, [top], [rid for rid in ids if rid != top]))
        else:
            undecided += 1
    return sets, undecided


def gold_pairs(*, project: Project) -> tuple[list[HumanPair], int]:
    """Gold pairs: each chosen × each rejected response of every gold item."""
    sets, undecided = gold_sets(project=project)
    pairs = [HumanPair(s.item_id, c, r, 1) for s in sets for c in s.chosen for r in s.rejected]
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
class SubsetAccuracy:
    compared: int = 0
    credit: float = 0.0
    correct: int = 0
    ties: int = 0
    failures: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.credit / self.compared if self.compared else None

    def as_dict(self) -> dict:
        return {"compared": self.compared, "correct": self.correct, "ties": self.ties, "failures": self.failures,
                "accuracy": self.accuracy}


@dataclass
class AccuracyReport:
    """A scorer against one reference. `human_pairs`/`human_undecided` count that reference's
    decided and undecided pairs (the names predate gold references)."""

    reference: str = HUMAN
    human_pairs: int = 0
    human_undecided: int = 0
    compared: int = 0
    credit: float = 0.0
    correct: int = 0
    incorrect: int = 0
    ties: int = 0  # equal rewards, or a judge's tie in at least one order
    failures: int = 0  # judge verdicts that did not parse (0.5 each order, as RewardBench)
    split: int = 0  # a judge's two orders disagree (position bias): ½
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
    subsets: dict[str, SubsetAccuracy] = field(default_factory=dict)
    sections: dict[str, float] = field(default_factory=dict)
    best_of_n: dict[str, SubsetAccuracy] = field(default_factory=dict)
    ties_score: float | None = None
    # The other reference's report, side by side (set on the main report only).
    other: AccuracyReport | None = None
    # Ties and split orders that the expected score (from logprobs) decides, and how many of those
    # it decides as the reference does; calibration of P(met) (judges, main report only).
    ties_broken: int = 0
    ties_broken_correct: int = 0
    calibration: dict | None = None

    @property
    def accuracy_with_expectation(self) -> float | None:
        """Strict accuracy with the ties the expected score decides counted as it decides them."""
        if not self.compared or not self.ties_broken:
            return None
        return (self.correct + self.ties_broken_correct) / self.compared

    @property
    def accuracy(self) -> float | None:
        """RewardBench: Σ pair outcomes / pairs compared (reward ties 0, judge ties and failures ½)."""
        return self.credit / self.compared if self.compared else None

    @property
    def strict_accuracy(self) -> float | None:
        """Correct pairs / compared: every tie and failure a miss."""
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

    @property
    def rewardbench_score(self) -> float | None:
        """The RewardBench leaderboard score: mean of the section scores present."""
        return d.rb_overall(self.sections)

    @property
    def rewardbench2_score(self) -> float | None:
        """The RewardBench 2 leaderboard score: mean of the best-of-N subset accuracies and Ties."""
        scores = {name: s.accuracy for name, s in self.best_of_n.items() if s.accuracy is not None}
        if self.ties_score is not None:
            scores[d.RB2_TIES] = self.ties_score
        return d.rb2_overall(scores)

    @property
    def benchmarks(self) -> list[tuple[str, float, str]]:
        """(label, score, note) rows of the RewardBench and RewardBench 2 breakdowns, for pages."""
        rows = [(f"RewardBench {name}", value, "") for name, value in self.sections.items()]
        if self.sections:
            rows.append(("RewardBench score", self.rewardbench_score, "mean of the sections"))
        for name, s in sorted(self.best_of_n.items()):
            rows.append((f"RewardBench 2 {name}", s.accuracy, f"best of {s.compared} item(s)"))
        if self.ties_score is not None:
            rows.append(("RewardBench 2 Ties", self.ties_score, "Ties score"))
        if self.best_of_n or self.ties_score is not None:
            rows.append(("RewardBench 2 score", self.rewardbench2_score, "mean of the subsets"))
        return rows

    def as_dict(self, *, nested: bool = True) -> dict:
        out = {
            "reference": self.reference,
            "human_pairs": self.human_pairs, "human_undecided": self.human_undecided,
            "compared": self.compared, "correct": self.correct, "incorrect": self.incorrect, "ties": self.ties,
            "parse_failures": self.failures, "split_orders": self.split,
            "accuracy": self.accuracy, "strict_accuracy": self.strict_accuracy, "tie_rate": self.tie_rate,
            "missing_scores": self.missing,
            "length_bias": {
                "pairs": self.length_pairs, "model_prefers_longer": self.model_longer_rate,
                "humans_prefer_longer": self.human_longer_rate,
                "score_length_spearman": self.length_correlation,
            },
            "scored_responses": self.scored_responses,
            "position_consistency": self.position_consistency, "pairwise_judged": self.pairwise_judged,
            "subsets": {name: s.as_dict() for name, s in sorted(self.subsets.items())},
            "rewardbench": {"sections": self.sections, "score": self.rewardbench_score},
            "rewardbench2": {"best_of_n": {name: s.as_dict() for name, s in sorted(self.best_of_n.items())},
                             "ties": self.ties_score, "score": self.rewardbench2_score},
            "ties_broken_by_expectation": self.ties_broken,
            "accuracy_with_expectation": self.accuracy_with_expectation,
            "calibration": self.calibration,
        }
        if nested:
            out["other_reference"] = self.other.as_dict(nested=False) if self.other else None
        return out


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


def _pair_expected(*, project: Project, scorer: Scorer) -> dict[tuple[int, int], float]:
    """{(response_a, response_b): expected preference for a} of a pairwise judge with logprobs."""
    return {(a, b): e for a, b, e in PairwiseScore.objects.filter(scorer=scorer, item__project=project)
            .exclude(expected_preference_a=None).values_list("response_a_id", "response_b_id", "expected_preference_a")}


def _expectation_decides(p: HumanPair, expected: dict[int, float], pair_expected: dict) -> bool | None:
    """Whether the expected score prefers the reference's chosen response (None: it cannot tell)."""
    if (p.chosen, p.rejected) in pair_expected:
        e = pair_expected[(p.chosen, p.rejected)]
    elif (p.rejected, p.chosen) in pair_expected:
        e = 1.0 - pair_expected[(p.rejected, p.chosen)]
    elif p.chosen in expected and p.rejected in expected:
        e = 0.5 + (expected[p.chosen] - expected[p.rejected])
    else:
        return None
    return None if e == 0.5 else e > 0.5


def judge_calibration(*, project: Project, scorer: Scorer, bins: int = 10) -> dict | None:
    """Brier score and expected calibration error of the judge's P(met) against the human
    majority (mean of the humans' 0/1 ≥ ½; even splits left out) on binary criteria, with the
    parsed verdicts' agreement beside them. None without any such pair."""
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
    agree = sum((met and y == 1.0) or (not met and y == 0.0) for _, y, met in points) / len(points)
    return {"pairs": len(points), "brier": brier, "ece": ece, "verdict_accuracy": agree}


def _pair_verdicts(*, project: Project, scorer: Scorer) -> dict[tuple[int, int], tuple[str, str]]:
    """{(response_a, response_b): (verdict_ab, verdict_ba)} of a pairwise judge, stored order."""
    return {(a, b): (ab, ba) for a, b, ab, ba in PairwiseScore.objects.filter(scorer=scorer, item__project=project)
            .values_list("response_a_id", "response_b_id", "verdict_ab", "verdict_ba")}


def _outcome(p: HumanPair, scores: dict[int, float], verdicts: dict) -> tuple[float, str] | None:
    """(credit, kind) of one reference pair; kind: correct | incorrect | tie | failure | split (a
    judge's orders disagree). None: no score."""
    stored = verdicts.get((p.chosen, p.rejected)) or verdicts.get((p.rejected, p.chosen))
    if stored is not None:
        chosen_side = "a" if (p.chosen, p.rejected) in verdicts else "b"
        named = [("chosen" if v == chosen_side else "rejected" if v in ("a", "b") else "tie" if v == "tie" else None)
                 for v in stored]
        credit = d.rb_verdict_outcome(named)
        kind = ("failure" if None in named else "tie" if "tie" in named
                else "correct" if credit == 1.0 else "incorrect" if credit == 0.0 else "split")
        return credit, kind
    if p.chosen not in scores or p.rejected not in scores:
        return None
    rc, rr = scores[p.chosen], scores[p.rejected]
    return d.rb_reward_outcome(rc, rr), "correct" if rc > rr else "tie" if rc == rr else "incorrect"


def _item_subsets(project: Project) -> dict[int, str]:
    out = {}
    for item_id, metadata in Item.objects.filter(project=project).values_list("id", "metadata"):
        subset = metadata.get("subset") if isinstance(metadata, dict) else None
        if isinstance(subset, str) and subset:
            out[item_id] = subset
    return out


@dataclass
class _ScorerData:
    """What one scorer's reports read, read once for both references."""

    scores: dict[int, float]
    verdicts: dict
    lengths: dict[int, int]
    consistency: tuple[int, int]  # (pairs judged in both orders, of them consistent)
    expected: dict[int, float] = field(default_factory=dict)  # judges with logprobs
    pair_expected: dict = field(default_factory=dict)

    @classmethod
    def of(cls, project: Project, scorer: Scorer, lengths: dict[int, int] | None = None) -> _ScorerData:
        if lengths is None:
            lengths = dict(Response.objects.filter(item__project=project).annotate(n=Length("content"))
                           .values_list("id", "n"))
        pairwise = PairwiseScore.objects.filter(scorer=scorer, item__project=project).exclude(consistent=None)
        judged = pairwise.count()
        consistent = pairwise.filter(consistent=True).count() if judged else 0
        judge = scorer.backend == Scorer.Backend.OPENAI_JUDGE
        return cls(latest_scores(project=project, scorer=scorer), _pair_verdicts(project=project, scorer=scorer),
                   lengths, (judged, consistent),
                   latest_expected(project=project, scorer=scorer) if judge else {},
                   _pair_expected(project=project, scorer=scorer) if judge else {})


def accuracy_report(*, project: Project, scorer: Scorer, pairs: list[HumanPair] | None = None,
                    undecided: int = 0, reference: str = HUMAN, gold: list[GoldSet] | None = None,
                    subsets: dict[int, str] | None = None, data: _ScorerData | None = None) -> AccuracyReport:
    """A scorer's accuracy against one reference (`pairs`; default: the human majority), per subset
    and section, with the length-bias diagnostic; RewardBench 2 best-of-N over the `gold` sets."""
    if pairs is None:
        pairs, undecided = (human_pairs if reference == HUMAN else gold_pairs)(project=project)
    subsets = _item_subsets(project) if subsets is None else subsets
    data = data or _ScorerData.of(project, scorer)
    scores, verdicts, lengths = data.scores, data.verdicts, data.lengths
    report = AccuracyReport(reference=reference, human_pairs=len(pairs), human_undecided=undecided,
                            scored_responses=len(scores))
    for p in pairs:
        outcome = _outcome(p, scores, verdicts)
        if outcome is None:
            report.missing += 1
            continue
        credit, kind = outcome
        report.compared += 1
        report.credit += credit
        report.correct += kind == "correct"
        report.incorrect += kind == "incorrect"
        report.ties += kind == "tie"
        report.failures += kind == "failure"
        report.split += kind == "split"
        if kind in ("tie", "split") and (data.expected or data.pair_expected):
            decided = _expectation_decides(p, data.expected, data.pair_expected)
            if decided is not None:
                report.ties_broken += 1
                report.ties_broken_correct += decided
        subset = report.subsets.setdefault(subsets[p.item_id], SubsetAccuracy()) if p.item_id in subsets else None
        if subset is not None:
            subset.compared += 1
            subset.credit += credit
            subset.correct += kind == "correct"
            subset.ties += kind == "tie"
            subset.failures += kind == "failure"
        if kind == "incorrect" and len(report.examples) < 5:
            report.examples.append({"item_id": p.item_id, "chosen": p.chosen, "rejected": p.rejected,
                                    "r_chosen": scores.get(p.chosen), "r_rejected": scores.get(p.rejected)})
        rc, rr = scores.get(p.chosen), scores.get(p.rejected)
        lc, lr = lengths.get(p.chosen, 0), lengths.get(p.rejected, 0)
        if lc != lr:
            report.length_pairs += 1
            report.humans_prefer_longer += lc > lr
            if rc is not None and rr is not None and rc != rr:
                report.model_length_decided += 1
                report.model_prefers_longer += (rc > rr) == (lc > lr)
    report.sections = d.rb_section_scores({name: s.accuracy for name, s in report.subsets.items()
                                           if s.accuracy is not None})
    if reference == GOLD:
        _best_of_n(report, gold if gold is not None else gold_sets(project=project)[0], scores, verdicts,
                   subsets, project)
    ids = [rid for rid in scores if rid in lengths]
    report.length_correlation = spearman([scores[i] for i in ids], [float(lengths[i]) for i in ids])
    judged, consistent = data.consistency
    if judged:
        report.pairwise_judged = judged
        report.position_consistency = consistent / judged
    return report


def _is_best_of_n(s: GoldSet, subset: str | None) -> bool:
    return len(s.chosen) + len(s.rejected) > 2 or subset in d.RB2_SUBSETS


def _best_of_n(report: AccuracyReport, sets: list[GoldSet], scores: dict[int, float], verdicts: dict,
               subsets: dict[int, str], project: Project) -> None:
    """RewardBench 2: per subset, the share of items whose chosen completion beats every rejected
    one; the Ties subset by its own score (several correct answers, "ref:n"/"tied:n" ids)."""
    externals = None
    ties_groups: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    for s in sets:
        subset = subsets.get(s.item_id)
        if not _is_best_of_n(s, subset):
            continue
        if (subset or "").lower() == d.RB2_TIES:
            if externals is None:
                externals = dict(Item.objects.filter(project=project, id__in=[g.item_id for g in sets])
                                 .values_list("id", "external_id"))
            kind, _, prompt_id = str(externals.get(s.item_id, "")).partition(":")
            if all(r in scores for r in s.chosen + s.rejected) and kind in ("ref", "tied"):
                ties_groups[(kind, prompt_id)] = ([(True, scores[r]) for r in s.chosen]
                                                  + [(False, scores[r]) for r in s.rejected])
            continue
        bucket = report.best_of_n.setdefault(subset or "(no subset)", SubsetAccuracy())
        if len(s.chosen) == 1 and all((s.chosen[0], r) in verdicts or (r, s.chosen[0]) in verdicts
                                      for r in s.rejected):
            # A pairwise judge: the chosen must win every pair outright (both orders).
            outcomes = [_outcome(HumanPair(s.item_id, s.chosen[0], r, 1), scores, verdicts) for r in s.rejected]
            correct = all(o is not None and o[1] == "correct" for o in outcomes)
        elif all(r in scores for r in s.chosen + s.rejected):
            correct = d.rb2_best_of_n(scores[s.chosen[0]], [scores[r] for r in s.rejected])
        else:
            continue
        bucket.compared += 1
        bucket.correct += correct
        bucket.credit += float(correct)
    report.ties_score = d.rb2_ties_score(ties_groups) if ties_groups else None


@dataclass
class References:
    """The project's reference labels, computed once for all scorers."""

    humans: list[HumanPair]
    human_undecided: int
    gold: list[GoldSet]
    golds: list[HumanPair]
    gold_undecided: int
    subsets: dict[int, str]
    lengths: dict[int, int]

    @classmethod
    def of(cls, project: Project) -> References:
        humans, human_undecided = human_pairs(project=project)
        sets, gold_undecided = gold_sets(project=project)
        golds = sorted((HumanPair(s.item_id, c, r, 1) for s in sets for c in s.chosen for r in s.rejected),
                       key=lambda p: (p.item_id, p.chosen, p.rejected))
        lengths = dict(Response.objects.filter(item__project=project).annotate(n=Length("content"))
                       .values_list("id", "n"))
        return cls(humans, human_undecided, sets, golds, gold_undecided, _item_subsets(project), lengths)


def scorer_report(*, project: Project, scorer: Scorer, refs: References | None = None) -> AccuracyReport:
    """A scorer against the human majority where the project has one, else against the gold
    labels; the other reference rides along as `.other`, so both read side by side."""
    refs = refs or References.of(project)
    data = _ScorerData.of(project, scorer, refs.lengths)
    human = accuracy_report(project=project, scorer=scorer, pairs=refs.humans, undecided=refs.human_undecided,
                            subsets=refs.subsets, data=data)
    gold = accuracy_report(project=project, scorer=scorer, pairs=refs.golds, undecided=refs.gold_undecided,
                           reference=GOLD, gold=refs.gold, subsets=refs.subsets, data=data)
    main, other = (human, gold) if refs.humans or not refs.golds else (gold, human)
    main.other = other
    if scorer.backend == Scorer.Backend.OPENAI_JUDGE:
        main.calibration = judge_calibration(project=project, scorer=scorer)
    return main


def project_report(*, project: Project) -> list[tuple[Scorer, AccuracyReport]]:
    """One report per scorer that has scores in this project (see scorer_report)."""
    refs = References.of(project)
    scorers = Scorer.objects.filter(
        id__in=ResponseScore.objects.filter(response__item__project=project).values("scorer_id")
    ).order_by("name")
    return [(s, scorer_report(project=project, scorer=s, refs=refs)) for s in scorers]


# --- rubric scores -------------------------------------------------------------------------------
@dataclass
class RubricScoreRow:
    """One example's rubric score: a response graded by one judge (an annotator or a scorer)."""

    item_id: int
    response_id: int
    judge: str  # "human:<username>" or the scorer's name
    score: d.RubricScore


def _criteria(version_id: int | None) -> dict:
    from rubrics.models import Criterion

    if version_id is None:
        return {}
    return {c.id: c for c in Criterion.objects.filter(version_id=version_id).order_by("position", "id")}


def human_rubric_scores(*, project: Project) -> list[RubricScoreRow]:
    """HealthBench rubric scores of every human judgment: per judged response, over the criteria of
    the judgment's rubric version (a criterion the annotator left unscored is left out: partial)."""
    rows: list[RubricScoreRow] = []
    criteria_by_version: dict[int, dict] = {}
    values: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
    for judgment_id, response_id, criterion_id, value in (
            CriterionJudgment.objects.filter(judgment__item__project=project)
            .values_list("judgment_id", "response_id", "criterion_id", "value")):
        values[(judgment_id, response_id)][criterion_id] = value
    judgments = {j["id"]: j for j in Judgment.objects.filter(item__project=project)
                 .values("id", "item_id", "rubric_version_id", "annotator__username")}
    for (judgment_id, response_id), given in sorted(values.items()):
        j = judgments[judgment_id]
        version = j["rubric_version_id"]
        if version not in criteria_by_version:
            criteria_by_version[version] = _criteria(version)
        grades = [d.Grade(c.points, d.credit_from_human(scale=c.scale, points=c.points, value=given.get(cid)),
                          tuple(c.tags or ()), c.key) for cid, c in criteria_by_version[version].items()]
        rows.append(RubricScoreRow(j["item_id"], response_id, f"human:{j['annotator__username']}",
                                   d.rubric_score(grades)))
    return rows


def model_rubric_scores(*, project: Project, scorer: Scorer) -> list[RubricScoreRow]:
    """HealthBench rubric scores from a criteria judge's verdicts, under the scorer's unparsed policy."""
    policy = (scorer.options or {}).get("unparsed_policy", d.DEFAULT_UNPARSED_POLICY)
    criteria = _criteria(project.rubric_version_id)
    verdicts: dict[int, dict[int, tuple]] = defaultdict(dict)
    items: dict[int, int] = {}
    for response_id, item_id, criterion_id, met, status in (
            CriterionScore.objects.filter(scorer=scorer, response__item__project=project, criterion_id__in=criteria)
            .values_list("response_id", "response__item_id", "criterion_id", "met", "parse_status")):
        verdicts[response_id][criterion_id] = met if status == CriterionScore.ParseStatus.OK else None
        items[response_id] = item_id
    rows = []
    for response_id in sorted(verdicts):
        given = verdicts[response_id]
        grades = [d.Grade(c.points, d.credit_from_verdict(given.get(cid)), tuple(c.tags or ()), c.key)
                  for cid, c in criteria.items()]
        rows.append(RubricScoreRow(items[response_id], response_id, scorer.name,
                                   d.rubric_score(grades, unparsed=policy)))
    return rows


def rubric_report(*, project: Project) -> list[dict]:
    """Per judge (all annotators together, then each criteria scorer): the clipped mean rubric score
    with HealthBench's bootstrap error and a 95% interval, per tag, and the partial/unscored counts."""
    out = []
    humans = human_rubric_scores(project=project)
    if humans:
        out.append({"judge": "humans", "scorer": None, **d.aggregate_rubric_scores(r.score for r in humans)})
    scorers = Scorer.objects.filter(
        id__in=CriterionScore.objects.filter(response__item__project=project).values("scorer_id")
    ).order_by("name")
    for scorer in scorers:
        rows = model_rubric_scores(project=project, scorer=scorer)
        if rows:
            out.append({"judge": scorer.name, "scorer": scorer.pk, **d.aggregate_rubric_scores(r.score for r in rows)})
    return out


def judgment_rubric_scores(*, judgment: Judgment) -> dict[int, d.RubricScore]:
    """{response_id: RubricScore} of one human judgment."""
    criteria = _criteria(judgment.rubric_version_id)
    given: dict[int, dict[int, float]] = defaultdict(dict)
    for response_id, criterion_id, value in judgment.criterion_scores.values_list("response_id", "criterion_id",
                                                                                  "value"):
        given[response_id][criterion_id] = value
    return {
        rid: d.rubric_score([d.Grade(c.points, d.credit_from_human(scale=c.scale, points=c.points,
                                                                     value=values.get(cid)),
                                     tuple(c.tags or ()), c.key) for cid, c in criteria.items()])
        for rid, values in given.items()
    }
