"""Annotators: gold accuracy, agreement with the leave-one-out majority, position and length bias,
median time per item, self-consistency on repeated items, and outliers flagged with the reason."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from itertools import combinations

from annotator.selectors import gold_correct

from ..stats import binomial_p_value, median_from_bins, ratio, time_bin, wilson_interval
from .items import ItemView

# Flag thresholds (docs/insights.md explains each).
MIN_GOLD = 5
GOLD_UPPER_BOUND = 0.7
MIN_SHARED = 20
AGREEMENT_FRACTION = 0.75
MIN_POSITION = 20
POSITION_P = 0.001
POSITION_GAP = 0.15
MIN_LENGTH = 30
LENGTH_GAP = 0.2
FAST_FRACTION = 1 / 3
MIN_TIMED = 10
MIN_REPEATS = 5
CONSISTENCY_MIN = 0.5


class _Annotator:
    __slots__ = (
        "judgments",
        "gold_right",
        "gold_n",
        "loo_agree",
        "loo_n",
        "first_wins",
        "position_n",
        "longer_wins",
        "length_n",
        "times",
        "repeats",
    )

    def __init__(self) -> None:
        self.judgments = 0
        self.gold_right = self.gold_n = 0
        self.loo_agree = self.loo_n = 0
        self.first_wins = self.position_n = 0
        self.longer_wins = self.length_n = 0
        self.times: Counter = Counter()
        self.repeats: dict[str, list[str]] = defaultdict(list)


class AnnotatorAccumulator:
    def __init__(self, *, repeated: dict[int, tuple[str, list[str]]]) -> None:
        self.by_id: dict[int, _Annotator] = defaultdict(_Annotator)
        self.repeated = repeated

    def add(self, item: ItemView) -> None:
        labels = Counter(j.label for j in item.judgments if j.label is not None)
        repeat = self.repeated.get(item.id)
        pair = item.is_pair
        for j in item.judgments:
            a = self.by_id[j.annotator_id]
            a.judgments += 1
            a.times[time_bin(j.time_spent_ms)] += 1
            if item.gold is not None:
                a.gold_n += 1
                a.gold_right += gold_correct(
                    item=item.gold, preference=j.preference, both_bad=j.both_bad, ranking=j.ranking
                )
            if j.label is not None and sum(labels.values()) >= 2:
                others = labels.copy()
                others[j.label] -= 1
                top = max(others.values())
                leaders = [label for label, n in others.items() if n == top and n > 0]
                if len(leaders) == 1:
                    a.loo_n += 1
                    a.loo_agree += leaders[0] == j.label
            if pair and j.winner is not None:
                if j.first_shown in item.positions:
                    a.position_n += 1
                    a.first_wins += item.positions[j.first_shown] == j.winner
                if item.lengths[0] != item.lengths[1]:
                    a.length_n += 1
                    a.longer_wins += item.lengths[j.winner] > item.lengths[1 - j.winner]
            if repeat is not None and j.label is not None:
                key, response_keys = repeat
                outcome = response_keys[j.winner] if j.winner is not None and j.winner < len(response_keys) else j.label
                a.repeats[key].append(outcome)

    def result(self, *, names: dict[int, str]) -> dict:
        rows = []
        for annotator_id, a in self.by_id.items():
            agree_pairs = total_pairs = 0
            for outcomes in a.repeats.values():
                for x, y in combinations(outcomes, 2):
                    total_pairs += 1
                    agree_pairs += x == y
            median_ms = median_from_bins(a.times)
            rows.append(
                {
                    "annotator": names.get(annotator_id, str(annotator_id)),
                    "judgments": a.judgments,
                    "gold_items": a.gold_n,
                    "gold_accuracy": ratio(a.gold_right, a.gold_n),
                    "gold_low": wilson_interval(a.gold_right, a.gold_n)[0],
                    "gold_high": wilson_interval(a.gold_right, a.gold_n)[1],
                    "loo_items": a.loo_n,
                    "loo_agreement": ratio(a.loo_agree, a.loo_n),
                    "position_decided": a.position_n,
                    "first_shown_wins": ratio(a.first_wins, a.position_n),
                    "position_p": binomial_p_value(a.first_wins, a.position_n),
                    "length_decided": a.length_n,
                    "longer_wins": ratio(a.longer_wins, a.length_n),
                    "median_seconds": None if median_ms is None else round(median_ms / 1000, 2),
                    "repeat_pairs": total_pairs,
                    "self_consistency": ratio(agree_pairs, total_pairs),
                    "_first": a.first_wins,
                    "_longer": a.longer_wins,
                }
            )
        rows.sort(key=lambda r: r["annotator"])
        _flag(rows)
        medians = [r["median_seconds"] for r in rows if r["median_seconds"]]
        project = {
            "annotators": len(rows),
            "flagged": sum(1 for r in rows if r["flags"]),
            "longer_wins": ratio(sum(r["_longer"] for r in rows), sum(r["length_decided"] for r in rows)),
            "first_shown_wins": ratio(sum(r["_first"] for r in rows), sum(r["position_decided"] for r in rows)),
            "median_seconds": statistics.median(medians) if medians else None,
            "repeated_items": len(self.repeated),
        }
        for r in rows:
            del r["_first"], r["_longer"]
        return {"rows": rows, "project": project}


def _flag(rows: list[dict]) -> None:
    """Add `flags` (reasons, in words) to each row, judged against the other annotators."""
    timed = [r["median_seconds"] for r in rows if r["median_seconds"] and r["judgments"] >= MIN_TIMED]
    typical_time = statistics.median(timed) if timed else None
    agreements = [r["loo_agreement"] for r in rows if r["loo_agreement"] is not None and r["loo_items"] >= MIN_SHARED]
    typical_agreement = statistics.median(agreements) if agreements else None
    total_longer = sum(r["_longer"] for r in rows)
    total_length = sum(r["length_decided"] for r in rows)
    for r in rows:
        flags = []
        if r["gold_items"] >= MIN_GOLD and r["gold_high"] is not None and r["gold_high"] < GOLD_UPPER_BOUND:
            flags.append(f"gold accuracy {r['gold_accuracy']:.0%} on {r['gold_items']} gold items")
        if (
            typical_agreement
            and r["loo_items"] >= MIN_SHARED
            and r["loo_agreement"] is not None
            and r["loo_agreement"] < AGREEMENT_FRACTION * typical_agreement
        ):
            flags.append(
                f"agrees with the others' majority {r['loo_agreement']:.0%} of the time "
                f"(typical {typical_agreement:.0%})"
            )
        if (
            r["position_decided"] >= MIN_POSITION
            and r["position_p"] is not None
            and r["position_p"] < POSITION_P
            and abs(r["first_shown_wins"] - 0.5) >= POSITION_GAP
        ):
            flags.append(
                f"picks the response shown first {r['first_shown_wins']:.0%} of the time (p = {r['position_p']:.1g})"
            )
        others_n = total_length - r["length_decided"]
        if r["length_decided"] >= MIN_LENGTH and others_n >= MIN_LENGTH:
            others_rate = (total_longer - r["_longer"]) / others_n
            p = binomial_p_value(r["_longer"], r["length_decided"], min(max(others_rate, 0.001), 0.999))
            if abs(r["longer_wins"] - others_rate) >= LENGTH_GAP and p is not None and p < POSITION_P:
                flags.append(f"picks the longer response {r['longer_wins']:.0%} of the time (others {others_rate:.0%})")
        if (
            typical_time
            and r["median_seconds"]
            and r["judgments"] >= MIN_TIMED
            and r["median_seconds"] < FAST_FRACTION * typical_time
        ):
            flags.append(f"median {r['median_seconds']:.0f} s per item (typical {typical_time:.0f} s)")
        if (
            r["repeat_pairs"] >= MIN_REPEATS
            and r["self_consistency"] is not None
            and r["self_consistency"] < CONSISTENCY_MIN
        ):
            flags.append(f"same answer on {r['self_consistency']:.0%} of repeated items")
        r["flags"] = flags
