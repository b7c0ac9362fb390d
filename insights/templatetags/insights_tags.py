"""Formatting of Insights table cells by column kind (tables.py)."""

from django import template

register = template.Library()


@register.filter
def cell(row: dict, column) -> str:
    """The value of `row` under `column` (key, heading, kind), formatted for reading."""
    key, _heading, kind = column
    value = row.get(key)
    return fmt(value, kind)


@register.filter
def fmt(value, kind: str = "num") -> str:
    if value is None or value == []:
        return "—"
    if kind == "pct":
        return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"
    if kind == "num":
        if isinstance(value, bool):
            return str(value)
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


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
