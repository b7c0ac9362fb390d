"""The one definition of an item's label: how several judgments of an item become one preference.

The trl and helpsteer2 exports write it; the judgments export writes each judgment's winner and the
item's agreement with it; an Insights report that wants "the label" imports it from here.

- counted judgments: the item's human judgments, restricted to a rubric version when one is asked;
- an item whose reviewer adjudicated it takes the adjudication as its label (strength, both-bad,
  ranking); `n_judgments` and `agreement` still describe the annotators' judgments;
- both-bad: a strict majority of the counted judgments flagged both responses as bad → the item
  has no preference (trl and helpsteer2 leave it out);
- two responses: the mean of the −3..3 preferences (both-bad judgments left out) decides: < 0 →
  response 1 chosen, > 0 → response 2 chosen, = 0 → tie. `margin` = |mean| (0..3); the
  HelpSteer2 strength is the mean rounded half away from zero, never 0 unless the mean is;
- more than two responses (rankings): mean Borda score per response (best = 1, worst = 0 within
  each ranking); the best mean is chosen and the worst rejected; margin = 3 × the difference;
- ties: the caller's tie policy decides (exports: `drop` leaves them out, `keep` writes them with
  margin 0, response 1 as chosen and response 2 as rejected, strength 0);
- per-item agreement: the share of pairs of judgments that agree on the winner label (response k,
  tie or both-bad), Σ n_c (n_c − 1) / (n (n − 1)); undefined (None) below two judgments.

One judgment's label (`judgment_label`) and the pairwise agreement are the agreement module's
(annotator/agreement.py); they are re-exported here so that a reader of labels needs one import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from annotator.agreement import judgment_label, pairwise_agreement

__all__ = [
    "AdjudicationRow", "ItemLabel", "JudgmentRow", "item_label", "judgment_label", "judgment_winner",
    "justification", "pairwise_agreement", "top_index",
]


@dataclass
class JudgmentRow:
    """One counted judgment of an item, as the label needs it (`ranking`: response pks, best first)."""

    judgment_id: int
    annotator: str
    rubric_version_id: int | None
    preference: int | None
    both_bad: bool
    ranking: list
    rationale: str = ""
    time_spent_ms: int = 0
    submitted_at: datetime | None = None
    shown_order: list = field(default_factory=list)


class AdjudicationRow(NamedTuple):
    """A reviewer's final label of an item (`ranking`: response pks, best first)."""

    preference: int | None
    both_bad: bool
    ranking: list


@dataclass
class ItemLabel:
    """The decided label of an item: `chosen`/`rejected` are indexes into its responses (by position)."""

    n_judgments: int
    agreement: float | None
    adjudicated: bool
    both_bad: bool = False
    tie: bool = False
    chosen: int | None = None
    rejected: int | None = None
    margin: float | None = None
    strength: int | None = None  # helpsteer2 −3..3 (two responses only)
    label: str | None = None  # the winner label the item was decided with ("1", "2", …, "tie")

    @property
    def decided(self) -> bool:
        return self.chosen is not None or self.tie


def top_index(ranking: list, positions: dict[int, int]) -> int | None:
    """The index of a ranking's best response among the item's responses (None: none of them)."""
    for pk in ranking or ():
        if pk in positions:
            return positions[pk]
    return None


def judgment_winner(*, preference: int | None, both_bad: bool, top_position: int | None) -> str | None:
    """One judgment's label as the `winner` column spells it: response_k, tie, both_bad (None: no verdict)."""
    label = judgment_label(preference=preference, both_bad=both_bad, top_position=top_position)
    if label is None or label == "tie" or label == "both_bad":
        return label
    return "response_" + label


def item_label(*, judgments: list[JudgmentRow], adjudication: AdjudicationRow | None,
               positions: dict[int, int]) -> ItemLabel:
    """Aggregate an item's judgments (see the module docstring). `positions` maps response pk → index."""
    n_responses = len(positions)
    labels = []
    for j in judgments:
        top = top_index(j.ranking, positions) if n_responses > 2 else None
        label = judgment_label(preference=j.preference, both_bad=j.both_bad, top_position=top)
        if label is not None:
            labels.append(label)
    result = ItemLabel(n_judgments=len(judgments), agreement=pairwise_agreement(labels),
                       adjudicated=adjudication is not None)

    if adjudication is not None:
        preference, both_bad, ranking = adjudication
        if both_bad:
            result.both_bad, result.label = True, "both_bad"
            return result
        order = [positions[pk] for pk in (ranking or []) if pk in positions]
        if n_responses > 2 and len(order) >= 2:
            result.chosen, result.rejected, result.margin = order[0], order[-1], 3.0
            result.label = str(order[0] + 1)
            return result
        if preference is None or n_responses < 2:
            return result
        return _decide_pair(result, float(preference), exact_strength=int(preference))

    if judgments and sum(j.both_bad for j in judgments) * 2 > len(judgments):
        result.both_bad, result.label = True, "both_bad"
        return result
    valid = [j for j in judgments if not j.both_bad]
    if n_responses > 2 and any(j.ranking for j in valid):
        return _decide_ranking(result, valid, positions)
    prefs = [j.preference for j in valid if j.preference is not None]
    if not prefs or n_responses < 2:
        return result
    return _decide_pair(result, sum(prefs) / len(prefs))


def justification(judgments: list[JudgmentRow], label: ItemLabel, *, adjudication_rationale: str) -> str:
    """Why the item has its label: the reviewer's rationale when adjudicated, else the rationales of
    the judgments that agree with the decided label."""
    if label.adjudicated and adjudication_rationale.strip():
        return adjudication_rationale.strip()
    agreeing = []
    for j in judgments:
        mine = judgment_label(preference=j.preference, both_bad=j.both_bad, top_position=None)
        if mine == label.label and j.rationale.strip():
            agreeing.append(j.rationale.strip())
    return "\n\n".join(agreeing)


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _strength_from_mean(mean: float) -> int:
    """−3..3 from a mean preference, never 0 unless the mean is 0 (so it agrees with the winner)."""
    if mean == 0:
        return 0
    return max(1, min(3, abs(_round_half_away(mean)))) * (1 if mean > 0 else -1)


def _decide_pair(result: ItemLabel, mean: float, exact_strength: int | None = None) -> ItemLabel:
    result.strength = exact_strength if exact_strength is not None else _strength_from_mean(mean)
    result.margin = abs(mean)
    if mean < 0:
        result.chosen, result.rejected, result.label = 0, 1, "1"
    elif mean > 0:
        result.chosen, result.rejected, result.label = 1, 0, "2"
    else:
        result.tie, result.label, result.margin = True, "tie", 0.0
    return result


def _decide_ranking(result: ItemLabel, judgments: list[JudgmentRow], positions: dict[int, int]) -> ItemLabel:
    totals: dict[int, float] = {}
    counts: dict[int, int] = {}
    for j in judgments:
        order = [positions[pk] for pk in j.ranking if pk in positions]
        if len(order) < 2:
            continue
        k = len(order)
        for rank, index in enumerate(order):
            totals[index] = totals.get(index, 0.0) + (k - 1 - rank) / (k - 1)
            counts[index] = counts.get(index, 0) + 1
    if len(totals) < 2:
        return result
    means = sorted(((totals[i] / counts[i], -i) for i in totals), reverse=True)
    best, worst = means[0], means[-1]
    if best[0] == worst[0]:
        result.tie, result.label, result.margin = True, "tie", 0.0
        return result
    result.chosen, result.rejected = -best[1], -worst[1]
    result.margin = 3 * (best[0] - worst[0])
    result.label = str(result.chosen + 1)
    return result
