"""How many requests the edge works on at once, per client and in all, and how many of a
client's calls it has at PostgREST, and at the database (the /auth and /ext routes), at once.

A client over its share of requests is answered 429 edge.too_many_requests at once and holds
nothing; past the edge's total, 503 edge.overloaded. Of its requests, a client has only a few
calls at PostgREST, and a few at the database, at once (ClientShares); the others wait their
turn. The client is the address `edge.security` names (the peer, or a trusted proxy's entry);
an IPv6 client counts by its /64, which is what one subscriber is usually given.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections import Counter

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from edge.config import EdgeConfig
from edge.errors import error_response
from edge.security import client_ip, peer_ip


def client_key(scope: Scope, config: EdgeConfig) -> str:
    ip = client_ip(Request(scope), config) if config.trusted_proxies else peer_ip(scope)
    return "-" if ip is None else client_key_of(ip)


@functools.lru_cache(maxsize=4096)
def client_key_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What one client is: an IPv4 address (an IPv4-mapped IPv6 one as such), an IPv6 /64."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ConcurrencyLimits:
    def __init__(self, app: ASGIApp, config: EdgeConfig) -> None:
        self.app = app
        self.config = config
        self.in_flight = 0
        self.per_client: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = client_key(scope, self.config)
        if self.per_client[key] >= self.config.client_concurrency:
            refusal = error_response(
                429,
                "edge.too_many_requests",
                "Too many requests from this client at once; wait for some to finish.",
                headers={"Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        if self.in_flight >= self.config.max_in_flight:
            refusal = error_response(
                503, "edge.overloaded", "The server is busy; try again shortly.", headers={"Retry-After": "1"}
            )
            await refusal(scope, receive, send)
            return
        self.in_flight += 1
        self.per_client[key] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.per_client[key] -= 1
            if not self.per_client[key]:
                del self.per_client[key]


class ShareExceeded(Exception):
    """The client's calls before this one held its whole share for the whole wait."""


def over_share() -> Response:
    """The answer to a call refused for its client's share (ShareExceeded)."""
    return error_response(
        429,
        "edge.too_many_requests",
        "This client has too many calls under way already; wait for them.",
        headers={"Retry-After": "1"},
    )


class ClientShares:
    """At most `share` calls of one client at once at a pool everyone shares: PostgREST's (the
    proxy's), or the edge's own database connections (the /auth and /ext routes, edge/auth.py,
    where one client's 32 password-reset requests, each waiting for its address's lock, held all
    ten, and everyone else's sign-ins were answered 503). PostgREST has a few database
    connections (db-pool) for everyone; a client's calls past its share wait their turn at the
    edge, which costs the others nothing, at most `wait_seconds`. (32 writes at once from one
    client, each waiting on its organization's lock, held 8 of PostgREST's 10 connections, and
    everyone else's calls queued behind them.) An answer streamed to the client (over the edge's
    buffer) holds its turn until it is sent: it is read from PostgREST no faster than the client
    takes it, on one of the edge's connections to PostgREST (a client that read none of two such
    answers held both of two, and every other call waited and was answered 503)."""

    def __init__(self, share: int, wait_seconds: float) -> None:
        self.share = share
        self.wait_seconds = wait_seconds
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._holders: Counter[str] = Counter()

    async def take(self, client: str) -> None:
        """The client's turn; ShareExceeded after the wait. give_back(client) once done."""
        turns = self._turns.get(client)
        if turns is None:
            turns = self._turns[client] = asyncio.Semaphore(self.share)
        self._holders[client] += 1
        try:
            if not turns.locked():  # the usual case: no timer to arm
                await turns.acquire()
                return
            async with asyncio.timeout(self.wait_seconds):
                await turns.acquire()
        except TimeoutError:
            self._forget(client)
            raise ShareExceeded from None
        except BaseException:
            self._forget(client)
            raise

    def give_back(self, client: str) -> None:
        self._turns[client].release()
        self._forget(client)

    def _forget(self, client: str) -> None:
        self._holders[client] -= 1
        if not self._holders[client]:
            del self._holders[client]
            del self._turns[client]
