"""Date-times that come from outside (imports, query parameters) must be storable.

Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59, and a value near year 1 or 9999
can leave the calendar once converted to UTC: `9999-12-31T23:59:59-23:59` parsed, then answered 500
from the database (security finding 6). Converting to UTC where the value is read refuses the second
and removes the first.
"""

from __future__ import annotations

from datetime import UTC, datetime


def in_utc(value: datetime) -> datetime:
    """An aware date-time converted to UTC; ValueError when that leaves years 1 to 9999."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range (years 1 to 9999 in UTC)") from None
