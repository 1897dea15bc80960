"""Django's PostGIS backend with a health check that costs no round trip while the server is quiet.

With CONN_HEALTH_CHECKS, Django checks a kept connection before a request's first query by
sending `SELECT 1` (one round trip per request, as long as a cache hit's whole database work). A
server that ends an idle session (restart, failover, `pg_terminate_backend`, idle_session_timeout)
sends a FATAL message and closes the socket, which makes the socket readable; an idle connection
in good health has nothing to read (this project neither LISTENs nor keeps a transaction open
between requests). So the check first polls the socket without waiting: nothing to read, the
connection is as usable as `SELECT 1` would find it; anything to read (or a connection psycopg
already knows is broken), Django's `SELECT 1` decides as before.
"""

import select

from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGISDatabaseWrapper
from psycopg import pq


class DatabaseWrapper(PostGISDatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            # poll, not select: select refuses descriptors above 1023 (a busy threaded worker).
            poller = select.poll()
            poller.register(connection.pgconn.socket, select.POLLIN)
            if not poller.poll(0):
                return True
        return super().is_usable()
