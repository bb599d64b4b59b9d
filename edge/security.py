"""Who the client is (peer address, trusted proxies) and cross-site request refusal.

The same CSRF rule runs in the database pre-request (auth.pre_request), so PostgREST exposed
directly is as safe; the edge checks first so that /auth routes and /rpc answer alike.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from edge.config import EdgeConfig, within
from edge.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@functools.lru_cache(maxsize=4096)
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parsed once per distinct address: a busy edge sees the same few peers again and again. A
    link-local IPv6 address's zone (`fe80::1%eth0`) is dropped: it names an interface of the
    machine that saw the client, not the client, and Postgres's inet refuses it. So is a port,
    which some proxies write after the address (`203.0.113.7:50123`, `[2001:db8::7]:443`): read
    as no address, every client of such a proxy was the proxy itself, one client for the limits."""
    text = value.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        try:
            ip = ipaddress.ip_address(_without_port(text))
        except ValueError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return ipaddress.IPv6Address(ip.packed)
    return ip


def _port(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _without_port(text: str) -> str:
    """The address of `203.0.113.7:50123`, `[2001:db8::7]:443` or `[2001:db8::7]`; else the text."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        with_port = rest[:1] == ":" and _port(rest[1:])
        return host if bracket and (not rest or with_port) else text
    host, colon, port = text.partition(":")
    return host if colon and _port(port) else text


def peer_ip(scope: Scope) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The TCP peer's address, from the ASGI scope."""
    client = scope.get("client")
    return None if client is None else _ip(client[0])


def client_ip(request: Request, config: EdgeConfig) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer, or, when the peer is a trusted proxy, the address before the trusted proxies in a
    row at the end of X-Forwarded-For.

    Read from the last entry: each is the one the proxy after it added, so a trusted proxy's entry
    names the hop before it; the first that is no trusted proxy is the client, and the entries
    before it are whatever the client chose to send. (Only the last was read: behind a CDN and a
    load balancer, every client was the CDN.) An entry that is no address stops the walk at the
    proxy that wrote it; when every hop is a trusted proxy, the first of them is the client.
    """
    peer = peer_ip(request.scope)
    if peer is None or not _trusted(peer, config):
        return peer
    entries = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    hop = peer
    for entry in reversed(entries if entries != [""] else []):
        before = _ip(entry)
        if before is None:
            return hop
        hop = before
        if not _trusted(hop, config):
            return hop
    return hop


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, config: EdgeConfig) -> bool:
    return within(ip, config.trusted_proxies)


def client_address(request: Request, config: EdgeConfig) -> str | None:
    """`client_ip` as text (for X-Forwarded-For)."""
    ip = client_ip(request, config)
    return None if ip is None else _text(ip)


@functools.lru_cache(maxsize=4096)
def _text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return str(ip)


def csrf_refusal(request: Request, config: EdgeConfig) -> Response | None:
    """403 auth.csrf for a state-changing request that is not JSON or comes from another site."""
    if request.method in SAFE_METHODS:
        return None
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        return error_response(
            403, "auth.csrf", "Requests that change state must send Content-Type: application/json."
        )
    origin = request.headers.get("origin")
    cross_site = request.headers.get("sec-fetch-site") == "cross-site"
    if (origin is not None or cross_site) and origin not in config.allowed_origins:
        return error_response(403, "auth.csrf", "Requests from this origin are not allowed.")
    return None
