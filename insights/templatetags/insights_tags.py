"""Formatting of Insights table cells by column kind (tables.py)."""

from django import template

from ..tables import format_value

register = template.Library()


@register.filter
def fmt(value, kind: str = "num") -> str:
    return format_value(value, kind)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
