"""A process's own Postgres connections (the edge's, the worker's): a few kept open, more made on
demand, none retried.

Not psycopg_pool: when Postgres restarts, its pool finds each dead idle connection on checkout
and sleeps with a growing back-off before trying the next, and reconnects in the background
with back-off too, so the edge's auth routes stayed down for ~10 s after a sub-second restart. Here
an idle connection is tested without a round trip (an idle connection has nothing to read;
one whose server went away has its end of stream, or a termination notice, waiting), a dead
one is dropped at once, and a missing one is made in the request that needs it. So while
Postgres is down each call fails at once (503), and the first call after it is back succeeds.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg
from psycopg.pq import ConnStatus, TransactionStatus

from blossom_db import logs
from blossom_db.connections import AsyncConnection


class DatabaseUnavailable(Exception):
    """No connection could be had: Postgres unreachable, or every connection busy too long."""


# The SQLSTATEs, besides class 08 (connection exception), of a session the server ended or would
# not begin: shutting down, crashed, starting up, idle too long (in a transaction or not), or
# every connection taken.
SESSION_ENDED_STATES = frozenset({"57P01", "57P02", "57P03", "57P05", "25P03", "53300"})


def connection_lost(error: psycopg.Error) -> bool:
    """Whether psycopg's `error` says that the database could not be reached or the connection to
    it was lost, as opposed to an error of what was asked of it (a violated constraint, a
    deadlock, a statement timeout): the one place that tells them apart, from the SQLSTATE. An
    OperationalError without one is psycopg's own (connection lost, connect or pool timeout)."""
    state = error.sqlstate
    if state is None:
        return isinstance(error, psycopg.OperationalError)
    return state.startswith("08") or state in SESSION_ENDED_STATES


class Database:
    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        wait_seconds: float,
        application_name: str,
    ) -> None:
        self.url = url
        self.wait_seconds = wait_seconds
        self.application_name = application_name
        self._slots = asyncio.Semaphore(max_connections)
        # Transactions under way, each holding a connection (a process's metrics show it).
        self.in_use = 0
        # Last in, first out: the warmest connection is used again; surplus ones stay few.
        self._idle: list[psycopg.AsyncConnection[object]] = []
        self._closed = False

    @asynccontextmanager
    async def transaction(
        self, wait_seconds: float | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[object]]:
        """A connection in a transaction, committed when the block ends normally, rolled back
        when it raises. DatabaseUnavailable when none can be had in time: `wait_seconds` for a
        free one (the Database's own wait unless given), and then libpq's connect timeout."""
        try:
            async with asyncio.timeout(self.wait_seconds if wait_seconds is None else wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise DatabaseUnavailable("every database connection is busy") from None
        self.in_use += 1
        try:
            conn = await self._checkout()
            try:
                await _mark_with_request(conn)
                yield conn
            except BaseException:
                await self._give_back(conn, commit=False)
                raise
            await self._give_back(conn, commit=True)
        finally:
            self.in_use -= 1
            self._slots.release()

    async def _checkout(self) -> psycopg.AsyncConnection[object]:
        while self._idle:
            conn = self._idle.pop()
            if _still_open(conn):
                return conn
            await _discard(conn)
        try:
            # libpq's connect_timeout is whole seconds, at least 2.
            return await AsyncConnection.connect(
                self.url, connect_timeout=2, application_name=self.application_name
            )
        except psycopg.OperationalError as error:
            raise DatabaseUnavailable(str(error)) from error

    async def _give_back(self, conn: psycopg.AsyncConnection[object], *, commit: bool) -> None:
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                await (conn.commit() if commit else conn.rollback())
        except psycopg.Error:
            if commit:
                await _discard(conn)
                raise
        if self._closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            await _discard(conn)
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            await _discard(self._idle.pop())


async def _mark_with_request(conn: psycopg.AsyncConnection[object]) -> None:
    """The request being served, for this transaction: audit events and outbox rows record it
    (their request_id column's default), and Postgres's log and pg_stat_activity show it as the
    application name."""
    request = logs.request_id.get()
    if request is not None:
        await conn.execute(
            "select pg_catalog.set_config('app.request_id', %s, true),"
            " pg_catalog.set_config('application_name', %s, true)",
            (request, request),
        )


def _still_open(conn: psycopg.AsyncConnection[object]) -> bool:
    if conn.closed or conn.broken or conn.pgconn.status != ConnStatus.OK:
        return False
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return False
    return not readable


async def _discard(conn: psycopg.AsyncConnection[object]) -> None:
    with suppress(psycopg.Error, OSError):
        await conn.close()
