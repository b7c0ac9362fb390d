"""Agreement, broken down: the project, each criterion, each annotator against the rest, each pair
of annotators, and over time; every figure with its number of items and a bootstrap interval."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import combinations

import numpy as np

from ..agreement import UnitPatterns, kappa_interval
from ..stats import top_labels
from .items import ItemView

LEVEL_FOR_SCALE = {"binary": "nominal", "likert5": "ordinal", "points": "interval"}
MIN_PAIR_ITEMS = 5
MAX_PAIRS = 200


def _roll_up(days: dict, granularity: str) -> dict:
    """Per-day unit patterns merged into weeks (keyed by their Monday) or months."""
    if granularity == "day":
        return days
    merged: dict[str, UnitPatterns] = defaultdict(UnitPatterns)
    for day, patterns in days.items():
        d = date.fromisoformat(day)
        key = (d - timedelta(days=d.weekday())).isoformat() if granularity == "week" else day[:7]
        merged[key].update(patterns)
    return merged


class AgreementAccumulator:
    def __init__(self) -> None:
        self.winner = UnitPatterns()
        self.strength = UnitPatterns()
        self.criteria: dict[int, UnitPatterns] = defaultdict(UnitPatterns)
        self.pairs: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self.pair_strength: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self.versus_rest: dict[int, Counter] = defaultdict(Counter)
        # Items by the day their last judgment came in; rolled up into weeks or months at the end.
        self.days: dict[str, UnitPatterns] = defaultdict(UnitPatterns)

    def add(self, item: ItemView) -> None:
        labelled = [(j.annotator_id, j.label) for j in item.judgments if j.label is not None]
        labels = [label for _a, label in labelled]
        self.winner.add_unit(labels)
        if item.is_pair:
            strengths = [
                (j.annotator_id, j.preference) for j in item.judgments if not j.both_bad and j.preference is not None
            ]
            self.strength.add_unit([p for _a, p in strengths])
            if len(strengths) >= 2:
                for (a, pa), (b, pb) in combinations(sorted(strengths), 2):
                    self.pair_strength[(a, b)][(pa, pb)] += 1
        if len(labelled) >= 2:
            last = max(j.submitted_on for j in item.judgments)
            self.days[last.isoformat()].add_unit(labels)
            if len(labelled) == 2:  # the common case: the other one is the majority
                (a, la), (b, lb) = labelled
                self.versus_rest[a][(la, lb)] += 1
                self.versus_rest[b][(lb, la)] += 1
            else:
                counts = Counter(labels)
                for annotator, label in labelled:
                    counts[label] -= 1
                    majority = top_labels(+counts)
                    counts[label] += 1
                    if majority is not None:
                        self.versus_rest[annotator][(label, majority)] += 1
            for (a, la), (b, lb) in combinations(sorted(labelled), 2):
                self.pairs[(a, b)][(la, lb)] += 1
        if item.criteria:
            units: dict[tuple[int, int], list[float]] = {}
            for values in item.criteria.values():
                for response_id, criterion_id, value in values:
                    unit = units.get((response_id, criterion_id))
                    if unit is None:
                        units[(response_id, criterion_id)] = [value]
                    else:
                        unit.append(value)
            criteria = self.criteria
            for (_response, criterion_id), values in units.items():
                criteria[criterion_id].add_unit(values)

    def result(
        self, *, names: dict[int, str], criteria: dict[int, dict], replicates: int, rng: np.random.Generator
    ) -> dict:
        def row(measure, short, level, stat, what="items"):
            return {
                "measure": measure,
                "short": short,
                "level": level,
                "value": stat["value"],
                "low": stat["low"],
                "high": stat["high"],
                what: stat.get("units", stat.get("items")),
            }

        fleiss = self.winner.fleiss(replicates=replicates, rng=rng)
        overall = [
            row(
                "Krippendorff's α, winner",
                "α · winner",
                "nominal",
                self.winner.alpha("nominal", replicates=replicates, rng=rng),
            ),
            row("Fleiss' κ, winner", "Fleiss κ · winner", "nominal", fleiss),
            {
                "measure": "Pairwise percent agreement, winner",
                "short": "% agreement · winner",
                "level": "nominal",
                "value": fleiss["percent_agreement"],
                "low": None,
                "high": None,
                "items": fleiss["units"],
            },
            row(
                "Krippendorff's α, strength −3..3",
                "α · strength (ordinal)",
                "ordinal",
                self.strength.alpha("ordinal", replicates=replicates, rng=rng),
            ),
            row(
                "Krippendorff's α, strength −3..3",
                "α · strength (interval)",
                "interval",
                self.strength.alpha("interval", replicates=replicates, rng=rng),
            ),
        ]
        pairs = []
        for (a, b), table in self.pairs.items():
            shared = sum(table.values())
            if shared < MIN_PAIR_ITEMS:
                continue
            kappa = kappa_interval(table, replicates=replicates, rng=rng)
            weighted = kappa_interval(
                self.pair_strength.get((a, b), {}), weights="quadratic", replicates=replicates, rng=rng
            )
            pairs.append(
                {
                    "annotator_a": names.get(a, str(a)),
                    "annotator_b": names.get(b, str(b)),
                    "items": shared,
                    "kappa": kappa["value"],
                    "kappa_low": kappa["low"],
                    "kappa_high": kappa["high"],
                    "weighted_kappa": weighted["value"],
                    "weighted_kappa_low": weighted["low"],
                    "weighted_kappa_high": weighted["high"],
                    "strength_items": weighted["items"],
                }
            )
        pairs.sort(key=lambda p: (-p["items"], p["annotator_a"], p["annotator_b"]))
        kappas = [p["kappa"] for p in pairs if p["kappa"] is not None]
        if kappas:
            overall.append(
                {
                    "measure": "Cohen's κ, winner, mean over pairs",
                    "short": "mean Cohen κ · winner",
                    "level": "nominal",
                    "value": float(np.mean(kappas)),
                    "low": None,
                    "high": None,
                    "items": sum(p["items"] for p in pairs),
                }
            )
        weighted = [p["weighted_kappa"] for p in pairs if p["weighted_kappa"] is not None]
        if weighted:
            overall.append(
                {
                    "measure": "Cohen's κ, strength, quadratic weights, mean over pairs",
                    "short": "mean weighted κ · strength",
                    "level": "ordinal",
                    "value": float(np.mean(weighted)),
                    "low": None,
                    "high": None,
                    "items": sum(p["strength_items"] for p in pairs),
                }
            )

        annotators = []
        for a, table in self.versus_rest.items():
            k = kappa_interval(table, replicates=replicates, rng=rng)
            agree = sum(n for (own, majority), n in table.items() if own == majority)
            annotators.append(
                {
                    "annotator": names.get(a, str(a)),
                    "items": k["items"],
                    "agreement": agree / k["items"] if k["items"] else None,
                    "kappa": k["value"],
                    "low": k["low"],
                    "high": k["high"],
                }
            )
        annotators.sort(key=lambda r: r["annotator"])

        criterion_rows = []
        for criterion_id, patterns in self.criteria.items():
            c = criteria.get(criterion_id, {})
            level = LEVEL_FOR_SCALE.get(c.get("scale"), "interval")
            stat = patterns.alpha(level, replicates=replicates, rng=rng)
            criterion_rows.append(
                {
                    "criterion": c.get("key", str(criterion_id)),
                    "title": c.get("title", ""),
                    "rubric_version": c.get("version", ""),
                    "scale": c.get("scale", ""),
                    "level": level,
                    "value": stat["value"],
                    "low": stat["low"],
                    "high": stat["high"],
                    "units": stat["units"],
                    "_order": c.get("order", (0, 0)),
                }
            )
        criterion_rows.sort(key=lambda r: r.pop("_order"))

        span = (date.fromisoformat(min(self.days)), date.fromisoformat(max(self.days))) if self.days else None
        days = (span[1] - span[0]).days if span else 0
        granularity = "day" if days <= 60 else "week" if days <= 2 * 365 else "month"
        by_period = _roll_up(self.days, granularity)
        periods = []
        for period in sorted(by_period):
            stat = by_period[period].alpha("nominal", replicates=replicates, rng=rng)
            periods.append(
                {
                    "period": period,
                    "value": stat["value"],
                    "low": stat["low"],
                    "high": stat["high"],
                    "items": stat["units"],
                }
            )
        return {
            "overall": overall,
            "criteria": criterion_rows,
            "annotators": annotators,
            "pairs": pairs[:MAX_PAIRS],
            "pairs_total": len(pairs),
            "min_pair_items": MIN_PAIR_ITEMS,
            "over_time": periods,
            "granularity": granularity,
        }
