"""Keyset (cursor) pagination for the big API lists (items, judgments, scores).

DRF's CursorPagination encodes the last seen ordering value in an opaque cursor, so page N costs
the same as page 1 (WHERE id > last ORDER BY id LIMIT n) and rows inserted meanwhile never shift
a page. Order by a unique, indexed column (the primary key by default).
"""

from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
