"""JSON from outside, read once and checked once: every importer and every API body uses this.

`json.loads` accepts what PostgreSQL and the exports cannot hold: `NaN`/`Infinity`, `1e999999`
(a float overflowing to inf), `\\u0000` (PostgreSQL text has no NUL), lone surrogates (not
encodable as UTF-8), integers of thousands of digits and nesting that exhausts the stack. Each of
those answered 500 somewhere; here each becomes a `JSONValueError` that names where it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

# Python refuses int() of more than 4,300 digits; PostgreSQL's numeric holds ~131,072 digits but no
# field of ours needs more than a bigint. 20 digits covers any int64 and its sign.
MAX_INT_DIGITS = 20


class JSONValueError(ValueError):
    """Bad JSON from outside. `path` is where (`responses[2].content`), `message` what."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{path}: {message}" if path else message)
        self.message, self.path = message, path


class _Bad:
    """A value json.loads could not accept, kept in place so `check` can name where it is."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def _parse_int(text: str) -> int | _Bad:
    digits = text.lstrip("-")
    if len(digits) > MAX_INT_DIGITS:
        return _Bad(f"integer of {len(digits)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float | _Bad:
    value = float(text)
    if not math.isfinite(value):
        return _Bad(f"number {text[:40]} is out of range")
    return value


def _parse_constant(name: str) -> _Bad:
    return _Bad(f"{name} is not a JSON number")


def loads(text: str | bytes, *, max_depth: int) -> Any:
    """Parse JSON strictly and check the value (see `check`). Raises JSONValueError or
    json.JSONDecodeError (a syntax error, with its line and column).

    Text that plainly holds no problem is read by orjson (`loads_plain`); the rest by
    `loads_checked`, so the result and every error are json's."""
    try:
        return loads_plain(text, max_depth=max_depth)
    except NotPlain:
        return loads_checked(text, max_depth=max_depth)


def loads_checked(text: str | bytes, *, max_depth: int) -> Any:
    """`loads` for text that `loads_plain` passed on: json.loads, whose hooks keep a number it cannot
    accept in place (`_Bad`), then the walk over the value (`check`) that names the first problem."""
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise JSONValueError(f"nested too deeply (more than {max_depth} levels)") from None
    check(value, max_depth=max_depth)
    return value


class NotPlain(Exception):  # noqa: N818 - not an error: the caller reads the text the careful way
    """Raised by `loads_plain` for text that json.loads and `check` must read (and name the problem of)."""


def loads_plain(text: str | bytes, *, max_depth: int) -> Any:
    """The value of JSON text that plainly holds nothing `loads` refuses, read by orjson (4 times
    faster than json.loads with its hooks: a third of an item import's parsing time); NotPlain for
    anything else, which json.loads and `check` then read. orjson refuses all that json refuses,
    and NaN, 1e999, lone surrogates and nesting beyond 1,024 besides; what it accepts is plain
    unless `_plain` finds NUL, nesting to `max_depth`, or a float beyond ±2**63 (orjson reads an
    integer beyond 64 bits as a float, where json keeps it exact)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise NotPlain from None
    try:
        plain = _plain(value, max_depth, 1)
    except RecursionError:
        plain = False
    if not plain:
        raise NotPlain
    return value


_BEYOND_INT64 = float(2**63)


def _plain(value: Any, max_depth: int, depth: int) -> bool:
    """Whether `check` would pass `value` without a doubt (a walk of the value is cheaper than
    searching the text: an item line has a few dozen values and 2 KB of text)."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value
    if kind is dict:
        if depth >= max_depth:
            return False
        for key, child in value.items():  # noqa: SIM110 - loops: all() over a generator doubles the cost
            if "\x00" in key or not _plain(child, max_depth, depth + 1):
                return False
        return True
    if kind is list:
        if depth >= max_depth:
            return False
        for child in value:  # noqa: SIM110 - as above
            if not _plain(child, max_depth, depth + 1):
                return False
        return True
    return kind is not float or -_BEYOND_INT64 < value < _BEYOND_INT64


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check(value: Any, *, max_depth: int) -> None:
    """Raise JSONValueError at the first string with NUL or a lone surrogate (keys too), non-finite
    float, or nesting deeper than `max_depth` (the top level is depth 1)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            raise JSONValueError(f"nested too deeply (more than {max_depth} levels)", path)
        if isinstance(node, _Bad):
            raise JSONValueError(node.message, path)
        if isinstance(node, str):
            problem = _string_problem(node)
            if problem:
                raise JSONValueError(problem, path)
        elif isinstance(node, float) and not math.isfinite(node):
            raise JSONValueError("is not a finite number", path)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**MAX_INT_DIGITS:
            raise JSONValueError(f"integer of more than {MAX_INT_DIGITS} digits", path)
        elif isinstance(node, Mapping):
            for key, child in node.items():
                problem = _string_problem(str(key))
                if problem:
                    raise JSONValueError(f"key {problem}", path)
                stack.append((child, _path(path, str(key)), depth + 1))
        elif isinstance(node, list | tuple):
            stack.extend((child, _path(path, i), depth + 1) for i, child in enumerate(node))
