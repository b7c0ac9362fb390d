"""Template builtins shared by every app (registered in TEMPLATES["OPTIONS"]["builtins"])."""

from django import template
from django.utils.safestring import mark_safe

from .markup import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> str:
    """{{ text|markdown }}: sanitised HTML (see config.markup), rendered once per distinct text."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 in render_markdown
