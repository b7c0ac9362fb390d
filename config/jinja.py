"""The Jinja2 environment of the few templates on the annotator's per-click path.

The comparison page's workspace (the partial every submit answers with) draws a rubric grid of
criteria × responses × scale choices: some 600 variables per item. Django's template engine spends
about 5 µs resolving each of them; Jinja2 compiles a template to Python and renders the same grid
about four times faster. So the workspace and its rubric partial are Jinja2 templates
(templates/jinja2/), and everything else stays in Django's engine.

The two engines meet in two places, one copy of each template either way: a Django template includes
a Jinja2 one with `{% jinja_include "name" %}` (config/templatetags.py), and a Jinja2 template
includes a Django one with `django_include("name", **context)`. The filters are Django's own
functions, so a value prints the same in both.
"""

from __future__ import annotations

from django.template import defaultfilters
from django.template.loader import render_to_string
from django.urls import reverse
from jinja2 import Environment

from .templatetags import markdown_filter


def url(name: str, *args) -> str:
    """{{ url("app:name", arg) }}: Django's {% url %}."""
    return reverse(name, args=args)


def django_include(template_name: str, **context) -> str:
    """A Django template rendered inside a Jinja2 one (Jinja2's escaping respects its safe string)."""
    return render_to_string(template_name, context, using="django")


def environment(**options) -> Environment:
    env = Environment(**options)  # noqa: S701 - Django's Jinja2 backend sets autoescape=True
    env.globals.update(url=url, django_include=django_include)
    env.filters.update(
        markdown=markdown_filter,
        **{name: getattr(defaultfilters, name) for name in (
            "capfirst", "pluralize", "truncatechars", "wordcount")},
    )
    return env
