"""psycopg's connections, except that an attempt that runs out of time lets go of its socket at once.

psycopg (3.3) leaves the socket of a timed-out attempt to the cycle collector: the error it raises
and the frames of the attempt refer to each other. In a quiet process that runs minutes later,
and until then the server keeps a backend waiting for the attempt to go on. Attempts time out
when a server takes connections and does not answer, as Postgres does in the last moments of a
shutdown; and a Postgres shutting down waits for such a backend (up to authentication_timeout,
60 s by default) before it stops. The job queue's pool, which had no timeout at all, made a fast
stop of Postgres take a minute when the worker was reconnecting at that moment
(tests/test_worker.py). Every long-running process connects through these classes: the edge's
and the worker's own connections (blossom_db/database.py), the job queue's pool
(worker/process.py), the worker's metrics.

Each connects with TCP keepalives and a bound on unacknowledged data (blossom_db.settings
CONNECTION_DEFAULTS), but where its connection string sets them itself.
"""

from __future__ import annotations

import gc
from typing import Any, Self

import psycopg
from psycopg.rows import Row

from blossom_db.settings import connection_defaults


def _timed_out(message: str) -> psycopg.errors.ConnectionTimeout:
    """The error to raise for an attempt that ran out of time, once psycopg's own error (and with
    it the attempt) is no longer referred to by anything but itself: the collector frees it then."""
    gc.collect()  # tens of milliseconds, and only when an attempt ran out of time
    return psycopg.errors.ConnectionTimeout(message)


class AsyncConnection(psycopg.AsyncConnection[Row]):
    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        kwargs = connection_defaults(conninfo) | kwargs
        try:
            return await super().connect(conninfo, **kwargs)
        except psycopg.errors.ConnectionTimeout as error:
            message = str(error)
        raise _timed_out(message)


class Connection(psycopg.Connection[Row]):
    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        kwargs = connection_defaults(conninfo) | kwargs
        try:
            return super().connect(conninfo, **kwargs)
        except psycopg.errors.ConnectionTimeout as error:
            message = str(error)
        raise _timed_out(message)
