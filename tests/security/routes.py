"""Every route of the URL conf and every operation of the OpenAPI schema, for the role matrix and
the hostile-input suite (plain functions; the fixtures that fill the routes live in the tests)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

API_METHODS = ("get", "post", "put", "patch", "delete")
# A view that is not a DRF class says nothing about its methods: the walk calls both.
PAGE_METHODS = ("get", "post")


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the path pattern when the route has no name
    pattern: str  # the full path pattern as written in the URL conf
    params: tuple[str, ...]
    methods: tuple[str, ...]
    is_api: bool
    named: bool
    view: Callable = field(compare=False, repr=False)

    def url(self, values: dict) -> str:
        """The route with its parameters taken from `values` (KeyError naming a missing one)."""
        kwargs = {name: values[name] for name in self.params}
        if self.named:
            return reverse(self.name, kwargs=kwargs)
        path = self.pattern
        for name, value in kwargs.items():
            path = re.sub(r"<(?:\w+:)?" + name + ">|\\(\\?P<" + name + ">[^)]*\\)", str(value), path)
        return "/" + path.lstrip("^").rstrip("$")


_READS = re.compile(r"""request\.(?:GET|POST)(?:\.get|\.getlist)?[(\[]\s*["'](\w+)["']""")


def parameters_read(route: Route) -> list[str]:
    """The query and form parameters the route's view module reads by name (request.GET.get("q"), …)."""
    module = inspect.getmodule(inspect.unwrap(route.view))
    return sorted(set(_READS.findall(inspect.getsource(module)))) if module else []


def _params(pattern) -> tuple[str, ...]:
    if isinstance(pattern, RoutePattern):
        return tuple(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return tuple(pattern.regex.groupindex)
    return ()


def _methods(callback) -> tuple[str, ...]:
    cls = getattr(callback, "cls", None)  # DRF views
    if cls is not None:
        return tuple(m for m in API_METHODS if hasattr(cls, m))
    return PAGE_METHODS


def all_routes() -> list[Route]:
    """Every URL pattern of the project, nested includes resolved, in URL conf order."""
    routes = []

    def walk(patterns, prefix: str, namespace: str, params: tuple[str, ...]):
        for p in patterns:
            text = str(p.pattern)
            if isinstance(p.pattern, RegexPattern):
                text = text.lstrip("^").rstrip("$")
            here = params + _params(p.pattern)
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, prefix + text, ns, here)
            elif isinstance(p, URLPattern):
                full = prefix + text
                name = f"{namespace}{p.name}" if p.name else full
                routes.append(Route(name=name, pattern=full, params=here, methods=_methods(p.callback),
                                    is_api=full.startswith("api/v1/"), named=bool(p.name),
                                    view=p.callback))

    walk(get_resolver().url_patterns, "", "", ())
    return routes


def schema_operations() -> list[tuple[str, str]]:
    """(method, path) for every operation of the OpenAPI schema, as drf-spectacular generates it."""
    return [(method, path) for path, ops in schema()["paths"].items() for method in ops if method in API_METHODS]


def schema() -> dict:
    """The OpenAPI schema, as drf-spectacular generates it for /api/v1/schema/."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)
