"""Small filters for the rubric templates."""

from django import template

register = template.Library()


@register.filter
def join_if_list(value, separator: str = ", "):
    """Tags arrive as a list (from the database) or as the typed text (from a form post)."""
    if isinstance(value, (list, tuple)):
        return separator.join(str(v) for v in value)
    return value


@register.filter
def points(value) -> str:
    """+5, −6, 2.5: signed points as the editor shows them."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{value:g}"
    if value > 0:
        return f"+{text}"
    return text.replace("-", "−")
