"""Read-only requests count as session activity.

PostgREST runs GET and HEAD requests in read-only transactions, so its pre-request cannot mark
the session as used, and someone who only reads would meet the idle timeout. Instead the
pre-request answers such a request with the header X-Blossom-Session-Stale when the session is
valid and was last marked over a minute ago; the edge drops that header and marks the session
itself (auth.touch_session), in the background. So only real sessions that are due cause any
work (a made-up token never does), each at most once at a time, and the marks under way are
bounded in all: past that, a mark is skipped, and the session's next read asks again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

import psycopg

import blossom_db.generated as db
from blossom_db.database import Database, DatabaseUnavailable

log = logging.getLogger("edge.activity")


class SessionActivity:
    def __init__(self, database: Database, *, max_pending: int = 4) -> None:
        self.database = database
        self.max_pending = max_pending
        # The sessions being marked, by the token's digest (the token itself is not kept).
        self._marking: set[bytes] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def used(self, token: str) -> None:
        """The session of this token served a read-only request and is due to be marked."""
        key = hashlib.sha256(token.encode()).digest()
        if key in self._marking or len(self._pending) >= self.max_pending:
            return
        self._marking.add(key)
        task = asyncio.create_task(self._touch(token))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(lambda _task: self._marking.discard(key))

    async def _touch(self, token: str) -> None:
        try:
            async with self.database.transaction() as conn:
                await db.auth_touch_session_async(conn, p_token=token)
        except (psycopg.Error, DatabaseUnavailable) as error:
            # The request was answered; a missed mark only brings the idle timeout closer.
            log.warning("could not mark a session as used: %s", type(error).__name__)

    async def close(self) -> None:
        """Lets the marks under way finish (before the connections close)."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
