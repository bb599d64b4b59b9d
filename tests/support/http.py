"""A small HTTP client for tests, on http.client so that every byte sent is ours to choose."""

from __future__ import annotations

import http.client
import json
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def loopback_address() -> str:
    """A random address of 127.0.0.0/8 other than 127.0.0.1: all of it is loopback on Linux."""
    return f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def port_open(port: int) -> bool:
    """Whether something listens on loopback port `port` (a server up, before it answers HTTP)."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | Iterable[bytes] | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    source: str | None = None,
) -> Reply:
    """One request on a connection of its own; from `source` (a loopback address such as
    127.0.0.2) when given, which the edge sees as another client."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1",
        parts.port,
        timeout=timeout,
        source_address=(source, 0) if source else None,
    )
    sent_headers = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent_headers.setdefault("Content-Type", "application/json")
    chunked = body is not None and not isinstance(body, bytes)
    try:
        conn.request(method, path, body=body, headers=sent_headers, encode_chunked=chunked)
        response = conn.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def raw_exchange(base_url: str, data: bytes) -> bytes:
    """Bytes written on a socket as they are, and everything the server answers until it closes."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
