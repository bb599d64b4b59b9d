"""Read-only requests count as session activity.

PostgREST runs GET and HEAD requests in read-only transactions, so its pre-request cannot mark
the session as used, and someone who only reads would meet the idle timeout. After relaying
such a request, the edge marks the session itself (auth.touch_session), in the background and
at most once a minute per session, which is as often as the database would record it anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict

import psycopg
from psycopg_pool import AsyncConnectionPool

import blossom_db.generated as db

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
log = logging.getLogger("edge.activity")


class SessionActivity:
    def __init__(
        self, pool: AsyncConnectionPool, *, interval: float = 60.0, remembered: int = 10_000
    ) -> None:
        self.pool = pool
        self.interval = interval
        self.remembered = remembered
        # When each session was last marked, by the token's digest (the token itself is not kept).
        self._marked: OrderedDict[bytes, float] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()

    def used(self, token: str) -> None:
        """The session of this token served a read-only request; mark it unless done lately."""
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        last = self._marked.get(key)
        if last is not None and now - last < self.interval:
            return
        self._marked[key] = now
        self._marked.move_to_end(key)
        while len(self._marked) > self.remembered:
            self._marked.popitem(last=False)
        task = asyncio.create_task(self._touch(token))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _touch(self, token: str) -> None:
        try:
            async with self.pool.connection(timeout=5) as conn:
                await db.auth_touch_session_async(conn, p_token=token)
        except psycopg.Error as error:  # the pool's timeouts included
            # The request was answered; a missed mark only brings the idle timeout closer.
            log.warning("could not mark a session as used: %s", error)

    async def close(self) -> None:
        """Lets the marks under way finish (before the pool closes)."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
