"""Every request gets an id, an answer, and one log line and its metrics (edge/metrics.py) when
it is answered.

The id is the `X-Request-Id` a trusted proxy (BLOSSOM_TRUSTED_PROXIES) sent, when it has the
shape of one (blossom_db.logs.REQUEST_ID_SHAPE), or a new one; a client's own is ignored, so
that no one can make their requests look like another's. It is returned as `X-Request-Id`,
bound for the request's log lines and database transactions (blossom_db.logs), and sent on to
PostgREST (edge.proxy), whose pre-request sets it in Postgres.

A request still under way when the edge's grace period for stopping ends (edge/lifecycle.py) is
cancelled by uvicorn, which answers one not answered yet with its own plain-text 500; it is
answered 503 edge.shutting_down instead, with Retry-After, so that the client sends it again
(to another edge, or to this one restarted). That answer is made out here, outside the CORS
middleware the request was under way in: it goes through it again (edge/cors.py), or a page of
an allowed origin could not read it, and saw a network error instead of a 503 it may retry.

The line logged when the answer is complete: method, route, status and duration in
milliseconds, with the request id; never the query string, a header's value or a body.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blossom_db import logs
from edge.config import EdgeConfig, within
from edge.cors import Cors
from edge.errors import error_response
from edge.metrics import EdgeMetrics
from edge.security import peer_ip

REQUEST_ID_HEADER = b"x-request-id"
# Scope keys shared with the server's protocol (edge/server.py), which may refuse a request
# while its application runs (a chunked body's framing too large): the refusal carries the
# request's id, and the request's line logs the refusal's status, which is what the client got.
REQUEST_ID_KEY = "blossom_request_id"
REFUSED_STATUS_KEY = "blossom_refused_status"
# On every answer: a browser reads it as the type it says, never as another it guesses (a JSON
# error holding a user's text sniffed as HTML); and, unless it says otherwise, no cache keeps it,
# the browser's own or a shared one: a call's answer is one user's data, its session a cookie.
NO_SNIFFING = (b"x-content-type-options", b"nosniff")
NOT_STORED = (b"cache-control", b"no-store")
# A path is logged as sent, cut to this (a made-up path is the client's to choose).
LONGEST_ROUTE = 200

log = logging.getLogger("edge.access")


def cut_short() -> Response:
    return error_response(
        503,
        "edge.shutting_down",
        "The server stopped before it could answer; whether the request took effect is not known.",
        headers={"Retry-After": "1", "Connection": "close"},
    )


def request_id_of(scope: Scope, config: EdgeConfig) -> str:
    """The trusted proxy's request id, or a new one. Of two X-Request-Id, the last: a proxy that
    adds its own as a header (HAProxy's unique-id-header) sends it after the client's, which was
    taken, an id the client chose (another request's too) for the audit events and the logs."""
    if config.trusted_proxies:
        peer = peer_ip(scope)
        if peer is not None and within(peer, config.trusted_proxies):
            last = None
            for name, value in scope["headers"]:
                if name == REQUEST_ID_HEADER:
                    last = value
            given = None if last is None else logs.valid_request_id(last.decode("latin-1"))
            if given is not None:
                return given
    return logs.new_request_id()


class RequestIds:
    def __init__(self, app: ASGIApp, config: EdgeConfig, metrics: EdgeMetrics) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = scope.get(REQUEST_ID_KEY) or request_id_of(scope, self.config)
        scope[REQUEST_ID_KEY] = request_id
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] != "http.response.start":
                await send(message)
                return
            headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode()), NO_SNIFFING]
            if not any(name.lower() == b"cache-control" for name, _ in headers):
                headers.append(NOT_STORED)
            message["headers"] = headers
            # Noted once sent: uvicorn waits for the answers before it (pipelined) to be taken
            # first, and a start cancelled in that wait was not sent, and is still owed.
            await send(message)
            status = message["status"]

        # logs.bind's work without its context manager: this runs for every request.
        bound = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if status:
                raise
            log.warning("request cut short: the edge stopped before it was answered")
            # A new response each time: Cors adds its headers to the response's own list.
            await Cors(cut_short(), self.config)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            status = scope.get(REFUSED_STATUS_KEY, status)
            self.metrics.observe(scope["method"], scope["path"], status, seconds)
            fields = {
                "method": scope["method"],
                "route": scope["path"][:LONGEST_ROUTE],
                # 0: no answer was sent (the client went away, or the server failed).
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            logs.info(log, "request", fields)
            logs.request_id.reset(bound)
