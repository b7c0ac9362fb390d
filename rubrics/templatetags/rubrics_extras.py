"""Small filters for the rubric templates."""

from types import SimpleNamespace

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from annotator.forms import criteria_grid

register = template.Library()

# The preview's two responses: only their letters show.
PREVIEW_RESPONSES = [SimpleNamespace(id=letter, label=letter) for letter in "AB"]


@register.simple_tag
def annotator_preview(version) -> str:
    """The rubric as annotators answer it, rendered by the comparison page's own partial (a Jinja2
    template: config/jinja.py)."""
    criteria = sorted(version.criteria.all(), key=lambda c: (c.position, c.id))
    html = render_to_string("annotator/_criteria.html",
                            {"grid": criteria_grid(criteria, PREVIEW_RESPONSES), "preview": True}, using="jinja2")
    return mark_safe(html)  # noqa: S308 - Jinja2 escaped the template's variables itself


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
