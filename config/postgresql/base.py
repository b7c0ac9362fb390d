"""Django's PostgreSQL backend with a health check that costs no round trip while all is well.

`CONN_HEALTH_CHECKS` (config/settings.py) makes Django check a persistent connection at the start
of each request, so a connection that died with a database restart is replaced instead of failing
that request. Django's check is a `SELECT 1`: one more round trip and one more transaction in every
request (issue 11: a ninth statement beside the annotator's eight, ~0.4 ms of server and database
CPU a click).

A database that restarts, or terminates a backend, first sends the client a FATAL message and then
closes the socket; an idle healthy connection receives nothing. So the check here asks the kernel
whether anything arrived on the idle socket: nothing → the connection is usable, without a
statement; anything (the goodbye, the closed socket, or a rare notice) → Django's `SELECT 1` decides.
A connection psycopg already knows is closed or broken is unusable at once.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
            arrived = poller.poll(0)
        except (OSError, ValueError):  # no socket any more
            return False
        return not arrived or super().is_usable()
