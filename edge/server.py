"""Serving the edge: uvicorn with limits and timeouts for a server that faces the internet.

uvicorn bounds how long an idle keep-alive connection stays, but not how long a request's
headers may take, nor how many connections are open; and its own refusals are plain text.
EdgeProtocol, its HTTP protocol with these added: the headers of a request must arrive within
header_timeout_seconds of the connection opening or of the previous answer (else 408, or a
plain close when nothing was sent), a connection past max_connections is answered 503 and
closed, and a request that is not HTTP is answered 400, each in Blossom's JSON error shape.
How long a body may take is the application's rule (edge.errors.read_body).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edge.app import create_app
from edge.config import EdgeConfig
from edge.errors import error_body

REASONS = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}


def raw_error(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the JSON error shape, for the protocol to write itself."""
    body = error_body(code, message)
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, REASONS[status], len(body))
    )
    return head + body


class CorkedTransport:
    """A transport whose writes in one turn of the event loop leave in one system call.

    uvicorn writes an answer's head and its body separately, and uvloop sends each at once:
    two system calls for every answer, which bench/proxy.py measured as a large part of the
    edge's cost per request. Writes are gathered and sent together at the end of the turn.
    Everything else is the transport's own.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending and not self._transport.is_closing():
            self._transport.write(b"".join(self._pending))
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class EdgeProtocol(HttpToolsProtocol):
    header_timeout_seconds = 10.0
    max_connections = 4096

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._request_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
        if len(self.connections) > self.max_connections:
            self._refuse(503, "edge.overloaded", "The server has too many connections; try again shortly.")
            return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's headers, unless one is already queued (pipelined).
        if not self.transport.is_closing() and not self.pipeline:
            self._await_headers()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "edge.bad_request", "The request is not valid HTTP.")

    def _await_headers(self) -> None:
        self._cancel_header_deadline()
        self._request_begun = False
        self._header_deadline = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self._request_begun:
            self._refuse(408, "edge.request_timeout", "The request's headers did not arrive in time.")
        else:
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._cancel_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(raw_error(status, code, message))
            self.transport.close()


def protocol_for(config: EdgeConfig) -> type[EdgeProtocol]:
    return type(
        "ConfiguredEdgeProtocol",
        (EdgeProtocol,),
        {"header_timeout_seconds": config.header_timeout_seconds, "max_connections": config.max_connections},
    )


def allow_open_files(wanted: int) -> None:
    """Every connection is a file descriptor: raise the soft limit as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Blossom edge.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    config = EdgeConfig.from_env()
    # Room for the connections, the upstream pool, the database and the process itself.
    allow_open_files(config.max_connections + config.upstream_connections + 256)
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        http=protocol_for(config),
        loop="uvloop",
        lifespan="on",
        # The peer address is the client; a trusted-proxy setting, not a header, may change that.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level=args.log_level,
        timeout_keep_alive=int(config.keep_alive_seconds),
        timeout_graceful_shutdown=10,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
