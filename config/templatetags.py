"""Template builtins shared by every app (registered in TEMPLATES["OPTIONS"]["builtins"])."""

from django import template
from django.template import engines
from django.utils.safestring import mark_safe

from .markup import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> str:
    """{{ text|markdown }}: sanitised HTML (see config.markup), rendered once per distinct text."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 in render_markdown


@register.simple_tag(takes_context=True)
def jinja_include(context, template_name: str, **extra) -> str:
    """{% jinja_include "name" key=value %}: a Jinja2 template (config/jinja.py) rendered with this
    template's context (plus `extra`), where a Django template would `{% include %}` it."""
    request = context.get("request")
    html = engines["jinja2"].get_template(template_name).render({**context.flatten(), **extra}, request)
    return mark_safe(html)  # noqa: S308 - Jinja2 escaped the template's variables itself
