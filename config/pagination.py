"""Keyset (cursor) pagination for the big API lists (items, judgments, scores).

DRF's CursorPagination encodes the last seen ordering value in an opaque cursor, so page N costs
the same as page 1 (WHERE id > last ORDER BY id LIMIT n) and rows inserted meanwhile never shift
a page. Order by a unique, indexed column (the primary key by default).
"""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

# PostgreSQL's bigint: a position past it is no row of ours (and would fail in the database).
MAX_POSITION = 2**63 - 1


class KeysetPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        """DRF's decoding, plus: the position must be an id (a forged `p=abc` answered 500)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            position = cursor.position
            if not (position.isascii() and position.isdigit() and int(position) <= MAX_POSITION):
                raise NotFound(self.invalid_cursor_message)
        return cursor
