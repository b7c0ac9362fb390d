"""Template helpers for the scoring partials ({% load scoring_tags %})."""

import math

from django import template

register = template.Library()


def _label(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else str(i + 1)


@register.simple_tag
def item_score_table(item, scores, order=None) -> dict:
    """A responses × scorers table for templates/scoring/_item_scores.html.

    `scores` is the dict from scoring.selectors.response_scores_for_items; `order` an optional
    list of response ids in the order they were shown (labels A, B, … follow it, so they match
    what the annotator saw). With exactly two responses, each scorer's preference
    p(A ≻ B) = σ(r_A − r_B) is added (scores compare only within one prompt).
    """
    scores = scores or {}
    responses = list(item.responses.all())
    if order:
        rank = {rid: i for i, rid in enumerate(order)}
        responses.sort(key=lambda r: (rank.get(r.id, len(rank)), r.position, r.id))
    scorers: dict[int, object] = {}
    for response in responses:
        for score in scores.get(response.id, []):
            scorers.setdefault(score.scorer_id, score.scorer)
    columns = sorted(scorers.values(), key=lambda s: s.name)
    rows = []
    for i, response in enumerate(responses):
        by_scorer = {s.scorer_id: s for s in scores.get(response.id, [])}
        rows.append({"response": response, "label": _label(i),
                     "cells": [by_scorer.get(scorer.id) for scorer in columns]})
    preference = []
    if len(rows) == 2 and columns:
        for a, b in zip(rows[0]["cells"], rows[1]["cells"], strict=True):
            if a is None or b is None:
                preference.append(None)
            else:
                diff = max(-60.0, min(60.0, a.value - b.value))
                preference.append(1.0 / (1.0 + math.exp(-diff)))
    return {"columns": columns, "rows": rows, "preference": preference,
            "labels": (rows[0]["label"], rows[1]["label"]) if len(rows) == 2 else None}


@register.filter
def components_sorted(components: dict | None) -> list[tuple[str, float]]:
    """A score's named components as sorted (name, value) pairs."""
    return sorted((components or {}).items())


@register.filter
def duration(seconds) -> str:
    """12 → "12 s", 135 → "2 min 15 s", 7300 → "2 h 1 min"; None → "—"."""
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.734 → "73.4%"; None → "—"."""
    if value is None:
        return "—"
    return f"{100 * float(value):.{int(digits)}f}%"


@register.filter
def rate(value) -> str:
    """A per-second rate with sensible precision; None → "—"."""
    if value is None:
        return "—"
    value = float(value)
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@register.filter
def score(value) -> str:
    """A score for display: whole numbers as they are (a length), else three decimals."""
    if value is None:
        return "—"
    value = float(value)
    if value.is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.3f}"


@register.filter
def probe_rate(report, key: str):
    """A probe report's false-positive rate for one probe (None when that probe was not run)."""
    return report.rate_for(key)
