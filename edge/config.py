"""The edge's settings, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

MIB = 1024 * 1024
DEFAULT_COOKIE_NAME = "blossom_session"
# A cookie name is an RFC 6265 token; keep to the characters every client handles.
COOKIE_NAME_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_list(value: str) -> tuple[str, ...]:
    """A list setting: entries separated by commas and/or white space."""
    return tuple(item for item in re.split(r"[\s,]+", value.strip()) if item)


def parse_networks(value: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in split_list(value))
    except ValueError as error:
        raise ValueError(f"BLOSSOM_TRUSTED_PROXIES: {error}") from None


@dataclass(frozen=True)
class EdgeConfig:
    postgrest_url: str
    postgrest_admin_url: str
    database_url: str
    max_body_bytes: int = MIB
    upstream_timeout_seconds: float = 30.0
    readiness_timeout_seconds: float = 2.0
    # The session cookie; PostgREST reads the same name (app.settings.session_cookie).
    cookie_name: str = DEFAULT_COOKIE_NAME
    # False only in local development over plain HTTP (BLOSSOM_COOKIE_INSECURE=1).
    cookie_secure: bool = True
    # Origins allowed to send state-changing requests (exact, e.g. https://app.example.com).
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    # Peers whose X-Forwarded-For (last entry) names the client.
    trusted_proxies: tuple[Network, ...] = ()
    max_auth_body_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls) -> EdgeConfig:
        cookie_name = os.environ.get("BLOSSOM_COOKIE_NAME") or DEFAULT_COOKIE_NAME
        if not COOKIE_NAME_SHAPE.fullmatch(cookie_name):
            raise ValueError(f"BLOSSOM_COOKIE_NAME must match {COOKIE_NAME_SHAPE.pattern}: {cookie_name!r}")
        return cls(
            postgrest_url=os.environ.get("BLOSSOM_POSTGREST_URL", "http://127.0.0.1:3000").rstrip("/"),
            postgrest_admin_url=os.environ.get("BLOSSOM_POSTGREST_ADMIN_URL", "http://127.0.0.1:3001").rstrip(
                "/"
            ),
            database_url=os.environ.get(
                "BLOSSOM_EDGE_DATABASE_URL", "postgresql://edge@127.0.0.1:54329/blossom"
            ),
            cookie_name=cookie_name,
            cookie_secure=os.environ.get("BLOSSOM_COOKIE_INSECURE", "") != "1",
            allowed_origins=frozenset(split_list(os.environ.get("BLOSSOM_ALLOWED_ORIGINS", ""))),
            trusted_proxies=parse_networks(os.environ.get("BLOSSOM_TRUSTED_PROXIES", "")),
        )
