"""How many requests the edge works on at once, per client and in all.

A client over its share is answered 429 edge.too_many_requests at once and holds nothing; past
the edge's total, 503 edge.overloaded. The client is the address `edge.security` names (the
peer, or a trusted proxy's entry); an IPv6 client counts by its /64, which is what one
subscriber is usually given.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter

from starlette.requests import Request
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
