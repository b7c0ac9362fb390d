"""Keyset (cursor) pagination for the big API lists (items, judgments, scores).

DRF's CursorPagination encodes the last seen ordering value in an opaque cursor, so page N costs
the same as page 1 (WHERE id > last ORDER BY id LIMIT n) and rows inserted meanwhile never shift
a page. Order by a unique, indexed column (the primary key by default).
"""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from config.ids import parse_id


class KeysetPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        """DRF's decoding, plus: the position must be an id (a forged `p=abc`, or 5,000 digits, answered 500)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and parse_id(cursor.position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor
