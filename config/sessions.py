"""Sessions cached in Redis, kept in PostgreSQL, and still served when Redis is down.

Django's `cached_db` engine writes every session through to the database and already survives a
cache error when reading or saving; two paths still raise: filling the cache after a database read
(every request while Redis is unreachable) and `exists()` (a new session key). Here both fall back
to the database, so pages keep working through a Redis outage. Deleting a session (logout) still
fails when the cache cannot be reached: a logout must not leave a live copy in the cache, so that
request answers 503 (config/outage.py) and is simply repeated.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore

from .outage import OUTAGE_ERRORS

log = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            return super().load()
        except OUTAGE_ERRORS as exc:  # the database answered; only the cache copy could not be written
            log.warning("session cache unavailable, read from the database: %s", exc)
            return DBStore.load(self)

    def exists(self, session_key):
        try:
            return super().exists(session_key)
        except OUTAGE_ERRORS as exc:
            log.warning("session cache unavailable, asked the database: %s", exc)
            return DBStore.exists(self, session_key)
