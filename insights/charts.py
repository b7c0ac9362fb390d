"""What each page's charts show, as plain data (JSON) for static/insights/insights.js to draw.

A chart spec names its kind (how to draw it) and carries labels and series; it never carries code.
Heat maps (confusion, correlation, criterion × model) are HTML tables whose cells get a colour
class from `heat_class`, so they too need no inline style.
"""

from __future__ import annotations

from collections import defaultdict


def _num(value):
    return None if value is None else round(float(value), 4)


def _intervals(
    rows,
    label,
    *,
    value="value",
    low="low",
    high="high",
    title,
    axis,
    minimum=None,
    maximum=None,
    chart_id,
    table,
    note="",
):
    rows = [r for r in rows if r.get(value) is not None]
    return {
        "id": chart_id,
        "table": table,
        "kind": "intervals",
        "title": title,
        "axis": axis,
        "min": minimum,
        "max": maximum,
        "note": note,
        "labels": [label(r) for r in rows],
        "values": [_num(r[value]) for r in rows],
        "low": [_num(r.get(low)) for r in rows],
        "high": [_num(r.get(high)) for r in rows],
    }


def _grouped(chart: dict, rows: list[dict], key: str = "scorer") -> dict:
    """Colour an intervals chart's rows by `key` (one colour and one legend entry per scorer)."""
    names = sorted({r[key] for r in rows})
    chart["groups"] = [names.index(r[key]) for r in rows]
    chart["legend"] = names
    return chart


def for_page(page: str, data: dict) -> list[dict]:
    """The page's charts, each with `data_id` (the id of its JSON) and `size` (s, m, l, xl: its height)."""
    if not data:
        return []
    charts = {
        "agreement": _agreement,
        "annotators": _annotators,
        "scorers": _scorers,
        "rubric": _rubric,
        "leaderboard": _leaderboard,
    }[page](data)
    for c in charts:
        c["data_id"] = f"{c['id']}-data"
        rows = len(c.get("labels") or []) if c["kind"] in ("intervals",) else 0
        c["size"] = "s" if rows <= 4 else "m" if rows <= 10 else "l" if rows <= 20 else "xl"
        if c["kind"] in ("scatter", "calibration", "band", "bias", "bars"):
            c["size"] = "m"
        c.setdefault("wide", False)
    return charts


def _agreement(data: dict) -> list[dict]:
    charts = [
        _intervals(
            [r for r in data.get("overall", []) if r.get("low") is not None],  # chance-corrected, with an interval
            lambda r: r.get("short") or r["measure"],
            chart_id="chart-agreement",
            table="agreement-overall",
            title="Agreement with 95% intervals",
            axis="α / κ (1 = perfect, 0 = chance)",
            minimum=-0.2,
            maximum=1,
        ),
        _intervals(
            data.get("criteria", []),
            lambda r: f"{r['criterion']} ({r['level']})",
            chart_id="chart-agreement-criteria",
            table="agreement-criteria",
            title="Krippendorff's α per criterion",
            axis="α",
            minimum=-0.2,
            maximum=1,
        ),
        _intervals(
            data.get("annotators", []),
            lambda r: r["annotator"],
            value="kappa",
            chart_id="chart-agreement-annotators",
            table="agreement-annotators",
            title="Each annotator against the others' majority",
            axis="Cohen's κ",
            minimum=-0.2,
            maximum=1,
        ),
    ]
    over_time = [r for r in data.get("over_time", []) if r.get("value") is not None]
    if over_time:
        charts.append(
            {
                "id": "chart-agreement-time",
                "table": "agreement-over-time",
                "kind": "band",
                "title": f"α per {data.get('granularity', 'period')}",
                "axis": "α (winner, nominal)",
                "labels": [r["period"] for r in over_time],
                "values": [_num(r["value"]) for r in over_time],
                "low": [_num(r["low"]) for r in over_time],
                "high": [_num(r["high"]) for r in over_time],
                "min": -0.2,
                "max": 1,
            }
        )
    return [c for c in charts if c.get("labels")]


def _annotators(data: dict) -> list[dict]:
    rows = data.get("rows", [])
    points = [
        {"label": r["annotator"], "x": r["median_seconds"], "y": _num(r["loo_agreement"]), "flagged": bool(r["flags"])}
        for r in rows
        if r["median_seconds"] is not None and r["loo_agreement"] is not None
    ]
    charts = []
    if points:
        charts.append(
            {
                "id": "chart-annotators-scatter",
                "table": "annotators",
                "kind": "scatter",
                "title": "Agreement against speed",
                "x_axis": "Median seconds per item",
                "y_axis": "Agrees with the others' majority",
                "points": points,
                "min": 0,
                "max": 1,
            }
        )
    biased = [r for r in rows if r["position_decided"] or r["length_decided"]]
    if biased:
        charts.append(
            {
                "id": "chart-annotators-bias",
                "table": "annotators",
                "kind": "bias",
                "title": "Position and length bias",
                "axis": "Share of decided pairs (50% = no bias)",
                "labels": [r["annotator"] for r in biased],
                "series": [
                    {"name": "Response shown first wins", "values": [_num(r["first_shown_wins"]) for r in biased]},
                    {"name": "Longer response wins", "values": [_num(r["longer_wins"]) for r in biased]},
                ],
            }
        )
    return charts


def _scorers(data: dict) -> list[dict]:
    charts = [
        _intervals(
            data.get("scorers", []),
            lambda r: r["scorer"],
            value="accuracy",
            chart_id="chart-scorers-accuracy",
            table="scorers-accuracy",
            title="Accuracy against the human label (Wilson 95%)",
            axis="Accuracy (strict: ties are not correct)",
            minimum=0,
            maximum=1,
        )
    ]
    subsets = data.get("subsets", [])
    if len({r["subset"] for r in subsets}) > 1:
        charts.append(
            _grouped(
                _intervals(
                    subsets,
                    lambda r: f"{r['scorer']} · {r['subset']}",
                    value="accuracy",
                    chart_id="chart-scorers-subsets",
                    table="scorers-subsets",
                    title="Accuracy per subset",
                    axis="Accuracy",
                    minimum=0,
                    maximum=1,
                ),
                [r for r in subsets if r.get("accuracy") is not None],
            )
        )
    by_scorer = defaultdict(list)
    for r in data.get("calibration", []):
        by_scorer[r["scorer"]].append({"x": _num(r["predicted"]), "y": _num(r["observed"]), "n": r["pairs"]})
    if by_scorer:
        charts.append(
            {
                "id": "chart-scorers-calibration",
                "table": "scorers-calibration",
                "kind": "calibration",
                "title": "Calibration: σ(r₁ − r₂) against the human win rate",
                "x_axis": "Predicted P(response 1 preferred)",
                "y_axis": "Observed share of judgments",
                "series": [{"name": name, "points": pts} for name, pts in sorted(by_scorer.items())],
            }
        )
    strength = data.get("by_strength", [])
    if strength:
        charts.append(
            _grouped(
                _intervals(
                    strength,
                    lambda r: f"{r['scorer']} · |strength| {r['strength']}",
                    value="accuracy",
                    chart_id="chart-scorers-strength",
                    table="scorers-strength",
                    title="Accuracy by human preference strength",
                    axis="Accuracy",
                    minimum=0,
                    maximum=1,
                ),
                [r for r in strength if r.get("accuracy") is not None],
            )
        )
    return [c for c in charts if c.get("labels") or c.get("series")]


def _rubric(data: dict) -> list[dict]:
    rows = data.get("criteria", [])
    if not rows:
        return []
    charts = [
        {
            "id": "chart-rubric-criteria",
            "table": "rubric-criteria",
            "kind": "bars",
            "title": "Separation and direction",
            "axis": "Share of judgments",
            "min": 0,
            "max": 1,
            "labels": [r["criterion"] for r in rows],
            "series": [
                {"name": "Separates the responses", "values": [_num(r["separation_rate"]) for r in rows]},
                {"name": "Points the same way as the preference", "values": [_num(r["same_direction"]) for r in rows]},
            ],
        }
    ]
    if any(r.get("suggested_points") is not None for r in rows):
        charts.append(
            {
                "id": "chart-rubric-weights",
                "table": "rubric-criteria",
                "kind": "bars",
                "title": "Points: current and suggested",
                "axis": "Points",
                "labels": [r["criterion"] for r in rows],
                "series": [
                    {"name": "Current", "values": [r["points"] for r in rows]},
                    {"name": "Suggested", "values": [r["suggested_points"] for r in rows]},
                ],
            }
        )
    return charts


def _leaderboard(data: dict) -> list[dict]:
    rows = data.get("rows", [])
    if not rows:
        return []
    sources = data.get("sources", [])
    models = sorted(
        {r["model"] for r in rows},
        key=lambda m: -next((r["strength"] for r in rows if r["model"] == m and r["source"] == "humans"), 0),
    )
    ordered = sorted(rows, key=lambda r: (models.index(r["model"]), sources.index(r["source"])))
    return [
        {
            "id": "chart-leaderboard",
            "table": "leaderboard",
            "kind": "intervals",
            "title": "Bradley–Terry strength with 95% intervals",
            "axis": "Strength (log scale, mean 0)",
            "min": None,
            "max": None,
            "note": "",
            "labels": [f"{r['model']} · {r['source']}" for r in ordered],
            "groups": [sources.index(r["source"]) for r in ordered],
            "values": [_num(r["strength"]) for r in ordered],
            "low": [_num(r["low"]) for r in ordered],
            "high": [_num(r["high"]) for r in ordered],
            "legend": sources,
            "wide": True,
        }
    ]


# --- Heat maps as tables -----------------------------------------------------------------------


def heat_class(value, *, signed: bool = False) -> str:
    """A colour class for a cell: heat-0..10 for 0..1, or neg-1..10 / pos-1..10 for −1..1."""
    if value is None:
        return "heat-none"
    if signed:
        step = min(10, round(abs(value) * 10))
        return f"pos-{step}" if value >= 0 else f"neg-{step}"
    return f"heat-{min(10, max(0, round(value * 10)))}"


def _matrix(rows, row_key, col_key, value_key, *, signed=False, rows_order=None, cols_order=None, scale=None):
    row_names = rows_order or sorted({r[row_key] for r in rows})
    col_names = cols_order or sorted({r[col_key] for r in rows})
    cells = {(r[row_key], r[col_key]): r for r in rows}
    peak = scale or max([abs(r[value_key]) for r in rows if r[value_key] is not None] or [1]) or 1
    return {
        "columns": col_names,
        "rows": [
            {
                "name": name,
                "cells": [
                    {
                        "value": cells.get((name, col), {}).get(value_key),
                        "class": heat_class(
                            None
                            if cells.get((name, col), {}).get(value_key) is None
                            else cells[(name, col)][value_key] / peak,
                            signed=signed,
                        ),
                    }
                    for col in col_names
                ],
            }
            for name in row_names
        ],
    }


def extras(page: str, data: dict) -> dict:
    """Heat maps and the like that a page shows as coloured tables."""
    if page == "rubric" and data.get("criteria"):
        keys = [c["criterion"] for c in data["criteria"]]
        return {
            "correlation": _matrix(
                data.get("correlation", []),
                "criterion_a",
                "criterion_b",
                "r",
                signed=True,
                rows_order=keys,
                cols_order=keys,
                scale=1,
            ),
            "heat": _matrix(data.get("heat", []), "criterion", "model", "mean", rows_order=keys, scale=1)
            if data.get("heat")
            else None,
            "wrong_way": [c["criterion"] for c in data["criteria"] if c["wrong_way"]],
        }
    if page == "leaderboard" and data.get("rows"):
        sources = data.get("sources", [])
        cells = {(r["model"], r["source"]): r for r in data["rows"]}
        models = sorted({r["model"] for r in data["rows"]}, key=lambda m: cells.get((m, "humans"), {}).get("rank", 99))
        return {
            "side_by_side": {
                "sources": sources,
                "rows": [{"model": m, "cells": [cells.get((m, s)) for s in sources]} for m in models],
            }
        }
    if page == "scorers" and data.get("confusion"):
        judges = defaultdict(list)
        for r in data["confusion"]:
            judges[r["scorer"]].append(r)
        order_h = ["1", "2", "tie", "both_bad"]
        order_j = ["1", "2", "tie", "none"]
        return {
            "confusion": [
                {
                    "judge": name,
                    **_matrix(
                        rows,
                        "human",
                        "judge",
                        "items",
                        rows_order=[h for h in order_h if any(r["human"] == h for r in rows)],
                        cols_order=[j for j in order_j if any(r["judge"] == j for r in rows)],
                    ),
                }
                for name, rows in sorted(judges.items())
            ]
        }
    return {}


def headline(snapshot) -> dict:
    """The overview's few numbers: winner α, the best scorer, the leading model."""
    agreement = snapshot.agreement or {}
    overall = agreement.get("overall") or [{}]
    scorers = sorted((snapshot.scorers or {}).get("scorers", []), key=lambda r: -(r.get("accuracy") or 0))
    humans = [r for r in (snapshot.leaderboard or {}).get("rows", []) if r["source"] == "humans"]
    return {
        "alpha": overall[0],
        "best_scorer": scorers[0] if scorers else None,
        "leader": min(humans, key=lambda r: r["rank"]) if humans else None,
    }
