"""Every chart's table, defined once: the page renders it, the API serves it as JSON and as CSV.

A table names the snapshot section it reads, where its rows are in that section, and its columns
(key, heading, kind). Kinds say how a value is shown on the page: "num" (3 decimals), "pct"
(a share as a percentage), "int", "text", "list" (joined), "bool".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    slug: str
    section: str
    path: str  # key of the rows in the section
    title: str
    description: str
    columns: tuple[tuple[str, str, str], ...]

    def rows(self, data: dict) -> list[dict]:
        return list(data.get(self.path) or [])

    @property
    def keys(self) -> list[str]:
        return [key for key, _heading, _kind in self.columns]


def _interval(prefix: str = "") -> tuple[tuple[str, str, str], ...]:
    return ((f"{prefix}low", "95% low", "num"), (f"{prefix}high", "95% high", "num"))


TABLES: dict[str, Table] = {
    t.slug: t
    for t in [
        Table(
            "agreement-overall",
            "agreement",
            "overall",
            "Agreement, whole project",
            "Chance-corrected agreement on the winner and on the strength, with bootstrap 95% intervals over items.",
            (
                ("measure", "Measure", "text"),
                ("level", "Level", "text"),
                ("value", "Value", "num"),
                *_interval(),
                ("items", "Items", "int"),
            ),
        ),
        Table(
            "agreement-criteria",
            "agreement",
            "criteria",
            "Agreement per criterion",
            "Krippendorff's α per criterion at the level of its scale (units: response × criterion).",
            (
                ("criterion", "Criterion", "text"),
                ("title", "Title", "text"),
                ("rubric_version", "Rubric", "text"),
                ("scale", "Scale", "text"),
                ("level", "Level", "text"),
                ("value", "α", "num"),
                *_interval(),
                ("units", "Units", "int"),
            ),
        ),
        Table(
            "agreement-annotators",
            "agreement",
            "annotators",
            "Each annotator against the rest",
            "Cohen's κ between an annotator's winner and the majority of the others on the same items.",
            (
                ("annotator", "Annotator", "text"),
                ("items", "Items", "int"),
                ("agreement", "Agrees", "pct"),
                ("kappa", "κ", "num"),
                *_interval(),
            ),
        ),
        Table(
            "agreement-pairs",
            "agreement",
            "pairs",
            "Pairs of annotators",
            "Cohen's κ on the winner and quadratic-weighted κ on the −3..3 strength, per pair sharing ≥ 5 items.",
            (
                ("annotator_a", "Annotator A", "text"),
                ("annotator_b", "Annotator B", "text"),
                ("items", "Items", "int"),
                ("kappa", "κ winner", "num"),
                ("kappa_low", "95% low", "num"),
                ("kappa_high", "95% high", "num"),
                ("weighted_kappa", "κ strength (quadratic)", "num"),
                ("weighted_kappa_low", "95% low", "num"),
                ("weighted_kappa_high", "95% high", "num"),
            ),
        ),
        Table(
            "agreement-over-time",
            "agreement",
            "over_time",
            "Agreement over time",
            "Krippendorff's α (nominal, winner) of the items completed in each period.",
            (("period", "Period", "text"), ("value", "α", "num"), *_interval(), ("items", "Items", "int")),
        ),
        Table(
            "annotators",
            "annotators",
            "rows",
            "Annotators",
            "Gold accuracy, agreement with the leave-one-out majority, position and length bias, time, consistency.",
            (
                ("annotator", "Annotator", "text"),
                ("judgments", "Judgments", "int"),
                ("gold_items", "Gold items", "int"),
                ("gold_accuracy", "Gold accuracy", "pct"),
                ("loo_items", "Items with a majority", "int"),
                ("loo_agreement", "Agrees with majority", "pct"),
                ("position_decided", "Decided pairs", "int"),
                ("first_shown_wins", "First shown wins", "pct"),
                ("position_p", "p (position)", "num"),
                ("length_decided", "Pairs of unequal length", "int"),
                ("longer_wins", "Longer wins", "pct"),
                ("median_seconds", "Median s / item", "num"),
                ("repeat_pairs", "Repeat pairs", "int"),
                ("self_consistency", "Self-consistency", "pct"),
                ("flags", "Flags", "list"),
            ),
        ),
        Table(
            "scorers-accuracy",
            "scorers",
            "scorers",
            "Accuracy against the human label",
            "RewardBench rule: correct when r_chosen > r_rejected; equal scores are ties, counted apart.",
            (
                ("scorer", "Scorer", "text"),
                ("kind", "Kind", "text"),
                ("compared", "Pairs", "int"),
                ("correct", "Correct", "int"),
                ("incorrect", "Wrong", "int"),
                ("ties", "Ties", "int"),
                ("missing", "Unscored", "int"),
                ("accuracy", "Accuracy", "pct"),
                *_interval(),
                ("ece", "Calibration error", "num"),
            ),
        ),
        Table(
            "scorers-subsets",
            "scorers",
            "subsets",
            "Accuracy per subset",
            "The same accuracy per subset (the item metadata's `subset`, e.g. RewardBench's).",
            (
                ("scorer", "Scorer", "text"),
                ("subset", "Subset", "text"),
                ("compared", "Pairs", "int"),
                ("correct", "Correct", "int"),
                ("ties", "Ties", "int"),
                ("accuracy", "Accuracy", "pct"),
                *_interval(),
            ),
        ),
        Table(
            "scorers-strength",
            "scorers",
            "by_strength",
            "Accuracy by human preference strength",
            "Accuracy by |strength| (1 slightly … 3 much better) of the item's label.",
            (
                ("scorer", "Scorer", "text"),
                ("strength", "|Strength|", "text"),
                ("compared", "Pairs", "int"),
                ("accuracy", "Accuracy", "pct"),
                *_interval(),
            ),
        ),
        Table(
            "scorers-calibration",
            "scorers",
            "calibration",
            "Calibration",
            "σ(r₁ − r₂) in ten bins against the share of human judgments that prefer response 1.",
            (
                ("scorer", "Scorer", "text"),
                ("bin", "Bin", "text"),
                ("pairs", "Judgments", "int"),
                ("predicted", "Predicted", "num"),
                ("observed", "Observed", "num"),
                ("observed_low", "95% low", "num"),
                ("observed_high", "95% high", "num"),
            ),
        ),
        Table(
            "scorers-confusion",
            "scorers",
            "confusion",
            "Judge verdicts against humans",
            "Pairwise judge verdicts (both orders combined) against the item's label.",
            (
                ("scorer", "Judge", "text"),
                ("human", "Human", "text"),
                ("judge", "Judge says", "text"),
                ("items", "Items", "int"),
            ),
        ),
        Table(
            "scorers-spearman",
            "scorers",
            "spearman",
            "Criterion scores: judge vs humans",
            "Spearman's ρ between a judge's criterion score and the humans' mean score, per criterion.",
            (
                ("scorer", "Scorer", "text"),
                ("criterion", "Criterion", "text"),
                ("responses", "Responses", "int"),
                ("rho", "ρ", "num"),
            ),
        ),
        Table(
            "rubric-criteria",
            "rubric",
            "criteria",
            "Criteria",
            "Separation, direction against the overall preference, redundancy and suggested weights.",
            (
                ("criterion", "Criterion", "text"),
                ("title", "Title", "text"),
                ("scale", "Scale", "text"),
                ("points", "Points", "num"),
                ("judgments", "Judgments", "int"),
                ("separation_rate", "Separates", "pct"),
                ("direction_judgments", "Decided", "int"),
                ("same_direction", "Same way as preference", "pct"),
                ("wrong_way", "Wrong way", "bool"),
                ("weight", "Fitted weight", "num"),
                ("suggested_points", "Suggested points", "num"),
                ("redundant_with", "Redundant with", "list"),
            ),
        ),
        Table(
            "rubric-correlation",
            "rubric",
            "correlation",
            "Correlation between criteria",
            "Pearson's r between criterion scores over responses; |r| ≥ 0.8 is flagged redundant.",
            (
                ("criterion_a", "Criterion", "text"),
                ("criterion_b", "Criterion", "text"),
                ("r", "r", "num"),
                ("responses", "Responses", "int"),
            ),
        ),
        Table(
            "rubric-heat",
            "rubric",
            "heat",
            "Criterion scores per model",
            "Mean human score (0..1) of each model's responses on each criterion.",
            (
                ("criterion", "Criterion", "text"),
                ("model", "Model", "text"),
                ("mean", "Mean score", "num"),
                ("responses", "Responses", "int"),
            ),
        ),
        Table(
            "leaderboard",
            "leaderboard",
            "rows",
            "Leaderboard",
            "Bradley–Terry strengths (log scale, mean 0) with Davidson ties and bootstrap 95% intervals.",
            (
                ("source", "Judged by", "text"),
                ("rank", "Rank", "int"),
                ("model", "Model", "text"),
                ("strength", "Strength", "num"),
                *_interval(),
                ("comparisons", "Comparisons", "int"),
                ("wins", "Wins", "int"),
                ("losses", "Losses", "int"),
                ("ties", "Ties", "int"),
            ),
        ),
    ]
}


def format_value(value, kind: str = "num") -> str:
    """A cell's value for reading, by its column kind."""
    if value is None or value == []:
        return "—"
    if kind == "pct":
        return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"
    if kind == "num":
        if value != 0 and abs(value) < 0.001:
            return f"{value:.1e}"
        return f"{value:.3f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "list":
        return "; ".join(str(v) for v in value)
    return str(value)


def table_display(table: Table, rows: list[dict]) -> list[dict]:
    """Rows formatted for the page once, in Python ({"flagged", "cells": [(text, numeric)]}): a big
    table renders several times faster than with a template filter per cell."""
    columns = [(key, kind, kind not in ("text", "list")) for key, _heading, kind in table.columns]
    return [
        {
            "flagged": bool(row.get("flags") or row.get("wrong_way")),
            "cells": [(format_value(row.get(key), kind), numeric) for key, kind, numeric in columns],
        }
        for row in rows
    ]


def tables_of(section: str) -> list[Table]:
    return [t for t in TABLES.values() if t.section == section]


def _cell(value) -> str | float | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


def table_csv(table: Table, rows: list[dict]) -> Iterator[str]:
    """The table as CSV text (a header row, then one line per row), in one chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.keys)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in table.keys])
    yield buffer.getvalue()
