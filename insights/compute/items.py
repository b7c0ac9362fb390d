"""One item with everything the figures need: its responses, judgments, label and model scores.

The label (winner, margin, agreement) is imported from exports/labels.py, the one module that
defines it, so an item's label means the same on the Insights pages and in every exported file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

from exports.labels import AdjudicationRow, ItemLabel, JudgmentRow, item_label, judgment_label, top_index
from exports.rows import id_list


@dataclass(slots=True)
class JudgmentView:
    id: int
    annotator_id: int
    preference: int | None
    both_bad: bool
    ranking: list
    time_spent_ms: int
    submitted_on: date  # the day, in the site's time zone
    first_shown: int | None
    # The nominal verdict: "1", "2", … (stored position of the winner), "tie", "both_bad"; None: none.
    label: str | None
    # Index (stored position) of the winning response, when the verdict names one.
    winner: int | None


@dataclass(slots=True)
class ItemView:
    id: int
    subset: str
    gold: SimpleNamespace | None
    response_ids: list[int]
    models: list[str]
    lengths: list[int]
    positions: dict[int, int]
    judgments: list[JudgmentView]
    label: ItemLabel
    # {judgment_id: [(response_id, criterion_id, value)]}
    criteria: dict[int, list[tuple]] = field(default_factory=dict)
    # {scorer_id: {response_id: value}}
    scores: dict[int, dict[int, float]] = field(default_factory=dict)
    # [(scorer_id, response_a_id, response_b_id, preference_a)]
    pairwise: list[tuple] = field(default_factory=list)
    # [(response_id, criterion_id, scorer_id, value)]
    model_criteria: list[tuple] = field(default_factory=list)

    @property
    def is_pair(self) -> bool:
        return len(self.response_ids) == 2


def build_item(item: tuple, responses: list[tuple], judgments: list[tuple]) -> ItemView:
    """An ItemView from the rows of streams.items, .responses and .judgments for one item."""
    (
        item_id,
        is_gold,
        gold_preference,
        gold_both_bad,
        gold_ranking,
        subset,
        adjudication_id,
        adj_preference,
        adj_both_bad,
        adj_ranking,
    ) = item
    response_ids = [r[1] for r in responses]
    positions = {rid: i for i, rid in enumerate(response_ids)}
    many = len(response_ids) > 2
    views, rows = [], []
    for _item, jid, annotator_id, preference, both_bad, ranking, time_ms, submitted_on, first_shown in judgments:
        ranking = id_list(ranking)
        top = top_index(ranking, positions) if many else None
        label = judgment_label(preference=preference, both_bad=both_bad, top_position=top)
        winner = int(label) - 1 if label is not None and label.isdigit() else None
        views.append(
            JudgmentView(
                jid, annotator_id, preference, both_bad, ranking, time_ms, submitted_on, first_shown, label, winner
            )
        )
        rows.append(JudgmentRow(jid, str(annotator_id), None, preference, both_bad, ranking))
    adjudication = None
    if adjudication_id is not None:
        adjudication = AdjudicationRow(adj_preference, adj_both_bad, id_list(adj_ranking))
    gold = None
    if is_gold:
        gold = SimpleNamespace(
            gold_preference=gold_preference, gold_both_bad=gold_both_bad, gold_ranking=id_list(gold_ranking)
        )
    return ItemView(
        id=item_id,
        subset=subset or "",
        gold=gold,
        response_ids=response_ids,
        models=[r[3] for r in responses],
        lengths=[r[4] or 0 for r in responses],
        positions=positions,
        judgments=views,
        label=item_label(judgments=rows, adjudication=adjudication, positions=positions),
    )
