"""Database ids written by clients: in query strings, forms and imported files."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # bigint


def parse_id(text: str | None) -> int | None:
    """A positive id written in ASCII digits, or None.

    `str.isdigit` then `int` is not enough: "²" is a digit to `isdigit` and not to `int`, and
    `int` refuses strings of more than 4,300 digits; both were 500s (issue 9, the hostile suite).
    """
    if not text or not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
