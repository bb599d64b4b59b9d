"""The edge's settings, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from blossom_db.settings import env_count, env_database_url, env_number, split_list
from edge.upstream import http_address

DEFAULT_COOKIE_NAME = "blossom_session"
# Browsers keep a `__Host-` cookie only when it is Secure, has Path=/ and no Domain: a sibling
# subdomain can then neither set nor shadow it.
HOST_PREFIX = "__Host-"
# The cookie name prefixes with a meaning to browsers, lower-cased.
BROWSER_PREFIXES = ("__host-", "__secure-")
# A cookie name is an RFC 6265 token; keep to the characters every client handles.
COOKIE_NAME_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# The IPv6 addresses that stand for IPv4 ones (::ffff:a.b.c.d): a listener on IPv6 and IPv4 at
# once sees an IPv4 peer so, and a proxy behind it writes that into X-Forwarded-For.
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def parse_networks(value: str, name: str = "BLOSSOM_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """The CIDRs of `value`; one of IPv4-mapped addresses (::ffff:10.0.0.0/104) as the IPv4 one."""
    try:
        networks = [ipaddress.ip_network(item, strict=False) for item in split_list(value)]
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    return tuple(
        ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
        if isinstance(network, ipaddress.IPv6Network)
        and network.subnet_of(IPV4_MAPPED)
        and network.network_address.ipv4_mapped is not None
        else network
        for network in networks
    )


def within(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    """Whether `ip` is in one of `networks`, an IPv4-mapped address as the IPv4 one too: a trusted
    proxy seen so was taken for the client, every client behind it one for the limits."""
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in network or (mapped is not None and mapped in network) for network in networks)


LOOPBACK = parse_networks("127.0.0.0/8 ::1")

# Past any load balancer's time to take an instance out (seconds, not minutes): 1e20 s was taken,
# and an edge sent SIGTERM never stopped.
LONGEST_STOP_DELAY_SECONDS = 300.0


def _upstream_url(name: str, default: str) -> str:
    """PostgREST's URL (its API's or its admin server's), as the edge's upstream takes one."""
    url = (os.environ.get(name) or default).rstrip("/")
    try:
        http_address(url)
    except ValueError as error:
        raise ValueError(f"{name} {error}") from None
    return url


def cookie_secure_from_env(environ: Mapping[str, str] = os.environ, *, unset: str = "") -> bool:
    """Whether the cookies are Secure: BLOSSOM_COOKIE_INSECURE 1 drops it (plain HTTP on
    loopback), 0 or empty keeps it, and `unset` stands for it when it is not set. Only 1
    counted: `true` kept them Secure without a word, and on plain HTTP no browser kept them."""
    value = environ.get("BLOSSOM_COOKIE_INSECURE", unset).strip()
    if value not in ("", "0", "1"):
        raise ValueError(
            f"BLOSSOM_COOKIE_INSECURE must be 1 (plain HTTP on loopback), 0 or empty, got {value!r}"
        )
    return value != "1"


def session_cookie_name(given: str | None = None, *, secure: bool | None = None) -> str:
    """The session cookie's name: BLOSSOM_COOKIE_NAME (default blossom_session), with the
    `__Host-` prefix whenever the cookie is Secure, so that no other host (a sibling subdomain)
    can set or shadow it. PostgREST's pre-request names it by the same rule
    (auth.session_cookie_name, from the same two settings). It only adds the prefix: taking it
    off a name that carries it cost every request a regular expression there, so such a name
    is refused here, before anything starts. So is a name starting with __Secure-, or with either
    prefix in other letter cases, which browsers read as the prefix too: without Secure they drop
    such a cookie."""
    given = given if given is not None else os.environ.get("BLOSSOM_COOKIE_NAME", "")
    secure = cookie_secure_from_env() if secure is None else secure
    base = given or DEFAULT_COOKIE_NAME
    if base.lower().startswith(BROWSER_PREFIXES):
        raise ValueError(
            "BLOSSOM_COOKIE_NAME: give the name without a __Host- or __Secure- prefix; the"
            f" {HOST_PREFIX} prefix is added whenever the cookie is Secure: {given!r}"
        )
    if not COOKIE_NAME_SHAPE.fullmatch(base):
        raise ValueError(f"BLOSSOM_COOKIE_NAME must match {COOKIE_NAME_SHAPE.pattern}: {given!r}")
    return HOST_PREFIX + base if secure else base


# The ports a browser leaves out of an origin it sends.
DEFAULT_PORTS = {"http": 80, "https": 443}
# Letters that IDNA 2003 (Python's codec) maps away and browsers keep: sharp s, final sigma,
# and the zero-width joiners.
IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


def serialized_origin(text: str) -> str | None:
    """`text` written as a browser writes an origin in its Origin header (the scheme and the host
    in lower case, the host's international letters as punycode, the port unless it is the
    scheme's own, nothing after it); None when it names more than an origin (a path, a query, a
    user) or less (no scheme or host)."""
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname or ""
        if ":" in host:
            # As a browser writes an IPv6 address: shortest, in lower case.
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        else:
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    if not (parts.scheme and host) or "@" in parts.netloc or parts.query or parts.fragment:
        return None
    if parts.path not in ("", "/"):
        return None
    scheme = parts.scheme.lower()
    return f"{scheme}://{host}" + ("" if port in (None, DEFAULT_PORTS.get(scheme)) else f":{port}")


def parse_allowed_origins(value: str) -> frozenset[str]:
    """BLOSSOM_ALLOWED_ORIGINS. The edge, and the pre-request (auth.origin_allowed), compare each
    with the request's Origin exactly, so each must be spelt as a browser sends it: any other
    spelling (Vite's `http://localhost:5173/`, with a slash) matched nothing, and every call of
    that frontend failed its preflight, a network error in the page and nothing in the log.
    Nor is `null` taken, the origin of a sandboxed frame or a file, which any site can make."""
    origins = split_list(value)
    for origin in origins:
        if IDNA_DEVIATIONS.intersection(urlsplit(origin).netloc):
            # Python's IDNA (2003) writes these otherwise than browsers (UTS 46, which keep each
            # as punycode): its spelling would name another domain (faß as fass).
            raise ValueError(
                f"BLOSSOM_ALLOWED_ORIGINS: {origin!r} is not an origin as a browser sends it (write its"
                " host in punycode, xn--…, as the browser's Origin header shows it)"
            )
        written = serialized_origin(origin)
        if written != origin:
            fix = (
                f"write {written}"
                if written
                else "each is scheme://host[:port], e.g. https://app.example.com"
            )
            raise ValueError(
                f"BLOSSOM_ALLOWED_ORIGINS: {origin!r} is not an origin as a browser sends it ({fix})"
            )
    return frozenset(origins)


@dataclass(frozen=True)
class EdgeConfig:
    postgrest_url: str
    postgrest_admin_url: str
    # It may hold a password: never printed (blossom_db.settings.check_database_url checked it).
    database_url: str = field(repr=False)
    # The HTTP server (edge/server.py): connections open at once, in all and per client; how
    # long and how large a request's headers may be; pipelined requests a connection may queue;
    # how long an answer may wait for the client to take it; an idle keep-alive connection.
    max_connections: int = 16384
    client_connections: int = 256
    header_timeout_seconds: float = 10.0
    max_header_bytes: int = 32 * 1024
    max_pipelined: int = 16
    drain_seconds: float = 20.0
    keep_alive_seconds: float = 5.0
    # Every route's arguments are names, ids, addresses and passwords: a larger body only made a
    # call dearer for the database (an RPC's 1 MiB name took 36 ms to refuse).
    max_body_bytes: int = 64 * 1024
    # A request body must have arrived whole within this, or the answer is 408: a client that
    # trickles its body holds nothing but its own socket meanwhile.
    body_timeout_seconds: float = 20.0
    upstream_timeout_seconds: float = 30.0
    # Connections to PostgREST kept and used at once; a request waits at most
    # upstream_wait_seconds for one, then is answered 503 edge.upstream_busy.
    upstream_connections: int = 256
    upstream_wait_seconds: float = 2.0
    # One client's calls at PostgREST at once, an answer streamed to it counted until sent
    # (edge/limits.py ClientShares): its others wait their turn, as long as upstream_wait_seconds,
    # then 429. Below PostgREST's db-pool (10).
    client_upstream_share: int = 4
    # Requests in progress at once: per client address (an IPv6 client by its /64) and in all.
    client_concurrency: int = 32
    max_in_flight: int = 4096
    # The edge's own Postgres connections (auth routes, readiness, session activity).
    database_connections: int = 10
    database_wait_seconds: float = 2.0
    # One client's /auth and /ext calls at the database at once (edge/limits.py ClientShares): its
    # others wait their turn, as long as database_wait_seconds, then 429. Below
    # database_connections: a client may have 32 requests under way.
    client_database_share: int = 4
    readiness_timeout_seconds: float = 2.0
    # After SIGTERM, /readyz answers 503 this long while requests are still served, so that a
    # load balancer stops sending new ones; then the edge stops (edge/lifecycle.py).
    stop_delay_seconds: float = 0.0
    # ... and then lets the requests under way finish for this long; what is left is answered 503.
    grace_seconds: float = 10.0
    # The session cookie's full name; PostgREST reads the same (app.settings.session_cookie).
    cookie_name: str = DEFAULT_COOKIE_NAME
    # False only in local development over plain HTTP (BLOSSOM_COOKIE_INSECURE=1).
    cookie_secure: bool = True
    # Origins allowed to send state-changing requests (exact, e.g. https://app.example.com).
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    # Reverse proxies, several in a row too: the X-Forwarded-For entry before theirs names the client.
    trusted_proxies: tuple[Network, ...] = ()
    # Clients that /metrics answers (edge/metrics.py); anyone else gets 404.
    metrics_networks: tuple[Network, ...] = LOOPBACK
    # bcrypt runs in Postgres; this many auth calls that hash at once, per kind (new hashes for
    # sign-ups, password changes and resets; checks for logins), so that a flood of one kind
    # leaves the other its share of the CPU. Waiting longer than auth_wait_seconds: 503
    # edge.auth_busy (BLOSSOM_EDGE_AUTH_WAIT).
    password_hashing_slots: int = 2
    password_checking_slots: int = 4
    # ... of which one client may have this many under way or waiting (429 past it).
    password_client_share: int = 2
    auth_wait_seconds: float = 5.0
    # Development only: a folder of static files served at /demo/ (the example web app).
    demo_dir: str | None = None

    @property
    def device_cookie_name(self) -> str:
        """The cookie that marks a browser its account has signed in from (auth.remember_device):
        the session cookie's name with `_device` after it."""
        return f"{self.cookie_name}_device"

    @classmethod
    def from_env(cls) -> EdgeConfig:
        secure = cookie_secure_from_env()
        return cls(
            postgrest_url=_upstream_url("BLOSSOM_POSTGREST_URL", "http://127.0.0.1:3000"),
            postgrest_admin_url=_upstream_url("BLOSSOM_POSTGREST_ADMIN_URL", "http://127.0.0.1:3001"),
            database_url=env_database_url(
                "BLOSSOM_EDGE_DATABASE_URL", "postgresql://edge@127.0.0.1:54329/blossom"
            ),
            max_connections=env_count("BLOSSOM_EDGE_MAX_CONNECTIONS", 16384),
            client_connections=env_count("BLOSSOM_EDGE_CLIENT_CONNECTIONS", 256),
            drain_seconds=env_number("BLOSSOM_EDGE_DRAIN_TIMEOUT", 20.0),
            header_timeout_seconds=env_number("BLOSSOM_EDGE_HEADER_TIMEOUT", 10.0),
            body_timeout_seconds=env_number("BLOSSOM_EDGE_BODY_TIMEOUT", 20.0),
            upstream_timeout_seconds=env_number("BLOSSOM_EDGE_UPSTREAM_TIMEOUT", 30.0),
            upstream_connections=env_count("BLOSSOM_EDGE_UPSTREAM_CONNECTIONS", 256),
            upstream_wait_seconds=env_number("BLOSSOM_EDGE_UPSTREAM_WAIT", 2.0),
            client_upstream_share=env_count("BLOSSOM_EDGE_CLIENT_UPSTREAM_SHARE", 4),
            client_concurrency=env_count("BLOSSOM_EDGE_CLIENT_CONCURRENCY", 32),
            max_in_flight=env_count("BLOSSOM_EDGE_MAX_IN_FLIGHT", 4096),
            stop_delay_seconds=env_number(
                "BLOSSOM_EDGE_STOP_DELAY", 0.0, zero=True, at_most=LONGEST_STOP_DELAY_SECONDS
            ),
            grace_seconds=env_number("BLOSSOM_EDGE_GRACE_SECONDS", 10.0),
            auth_wait_seconds=env_number("BLOSSOM_EDGE_AUTH_WAIT", 5.0),
            cookie_name=session_cookie_name(secure=secure),
            cookie_secure=secure,
            allowed_origins=parse_allowed_origins(os.environ.get("BLOSSOM_ALLOWED_ORIGINS", "")),
            trusted_proxies=parse_networks(os.environ.get("BLOSSOM_TRUSTED_PROXIES", "")),
            demo_dir=os.environ.get("BLOSSOM_DEMO_DIR") or None,
            metrics_networks=parse_networks(
                os.environ.get("BLOSSOM_METRICS_NETWORKS") or "127.0.0.0/8 ::1", "BLOSSOM_METRICS_NETWORKS"
            ),
        )
