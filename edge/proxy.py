"""`/rpc/<name>` forwarded to PostgREST over a pooled keep-alive aiohttp client.

aiohttp rather than httpx: measured here under concurrency, a Starlette proxy reached ~960 req/s
with aiohttp against ~210 req/s with httpx (see bench/).

A request holds one of the few upstream connections only while PostgREST works on it: its body
is read whole first (under a deadline, edge.errors.read_body), a free connection is waited for
a bounded time (503 edge.upstream_busy after), and an answer of up to RESPONSE_BUFFER bytes is
read whole before it is written to the client, so that a client who reads slowly, or sends
slowly, ties up its own socket and nothing that other clients need.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

import aiohttp
from multidict import CIMultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blossom_db import logs
from edge.config import EdgeConfig
from edge.errors import Refused, error_response, read_body
from edge.security import client_address

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Authorization: Blossom's credentials are the session cookie and X-Blossom-Session; PostgREST
# would take a bearer token for a JWT it is not configured to check, and answer 500.
# X-Request-Id: the edge's own (edge.tracing) is sent instead.
# Referer: PostgREST logs it, and a page's address can hold a token (an invitation's link); the
# edge puts the request id in its place, the only field of PostgREST 12.0's access log
# (log-level info) a proxy can fill, so that its line names the request.
NOT_FORWARDED_UP = HOP_BY_HOP | {
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "authorization",
    "x-request-id",
    "referer",
}
# What PostgREST's access log shows in its referer field: the request id after this.
REQUEST_REFERER = "urn:blossom:request:"
# The pre-request's note that a read-only request's session is due to be marked as used.
SESSION_STALE_HEADER = "x-blossom-session-stale"
# The ASGI server writes its own Server and Date.
NOT_FORWARDED_DOWN = frozenset(
    name.encode() for name in HOP_BY_HOP | {"server", "date", SESSION_STALE_HEADER, "content-length"}
)
# The only paths forwarded: /rpc/ and a function's name, exactly as sent (no dot segment, no
# escape, no trailing slash can turn it into another of PostgREST's paths).
RPC_PATH = re.compile(rb"/rpc/([A-Za-z_][A-Za-z0-9_]{0,62})")
RESPONSE_BUFFER = 1024 * 1024
# A parameter is named by an identifier (at most 63 bytes) and a function has at most 100. More,
# or longer, names no function: PostgREST would still look for the closest function for each
# (its "did you mean" hint), which took 0.9 s for 100 made-up names and 30 s for 2,000.
MAX_PARAMETERS = 64
MAX_NAME_BYTES = 63


def rpc_name(request: Request) -> str:
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    match = RPC_PATH.fullmatch(raw_path)
    if match is None:
        raise Refused(error_response(404, "edge.not_found", "There is nothing at this path."))
    return match.group(1).decode()


def bad_request(message: str) -> Refused:
    return Refused(error_response(400, "edge.bad_request", message))


def _check_names(names: list[str]) -> None:
    if len(names) > MAX_PARAMETERS:
        raise bad_request(f"A call has at most {MAX_PARAMETERS} parameters.")
    if any(len(name.encode()) > MAX_NAME_BYTES for name in names):
        raise bad_request(f"A parameter's name has at most {MAX_NAME_BYTES} bytes.")


def check_query(query: bytes) -> None:
    """The query string: percent-encoded UTF-8 (else PostgREST answers a plain-text 500), and
    at most MAX_PARAMETERS names of at most MAX_NAME_BYTES."""
    if not query:
        return
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise bad_request("The query string is not percent-encoded UTF-8.") from None
    _check_names([name for name, _ in pairs])


def check_body(body: bytes) -> None:
    """A JSON body's parameter names, as check_query's. A body that is not JSON is left to
    PostgREST, which refuses it in its own words."""
    if not body.lstrip().startswith((b"{", b"[")):
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return
    objects = data if isinstance(data, list) else [data]
    for item in objects:
        if isinstance(item, dict):
            _check_names(list(item))


def has_body(request: Request) -> bool:
    headers = request.headers
    return "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()


class PostgrestProxy:
    def __init__(self, config: EdgeConfig, count_error: Callable[[str], None] = lambda _code: None) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(config.upstream_connections)
        # Called with the code of each upstream failure the edge answers (edge/metrics.py).
        self.count_error = count_error

    @property
    def in_use(self) -> int:
        """Connections to PostgREST taken by requests now."""
        return self.config.upstream_connections - self._slots._value

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.upstream_connections, keepalive_timeout=30, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=2, sock_read=self.config.upstream_timeout_seconds
            ),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the proxy is not started")
        return self._session

    def _upstream_headers(self, request: Request) -> CIMultiDict[str]:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED_UP)
        client = client_address(request, self.config)
        if client is not None:
            # The peer (or a trusted proxy's entry); a client-sent X-Forwarded-For is dropped above.
            headers["X-Forwarded-For"] = client
        headers["X-Forwarded-Proto"] = request.scope["scheme"]
        request_id = logs.request_id.get()
        if request_id is not None:
            headers["X-Request-Id"] = request_id
            headers["Referer"] = f"{REQUEST_REFERER}{request_id}"
        return headers

    async def _take_slot(self) -> None:
        if not self._slots.locked():  # the usual case: no timer to arm
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.config.upstream_wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            self.count_error("edge.upstream_busy")
            raise Refused(
                error_response(
                    503,
                    "edge.upstream_busy",
                    "Every connection to the API server is busy; try again shortly.",
                    headers={"Retry-After": "1"},
                )
            ) from None

    async def forward(self, request: Request) -> RelayedResponse:
        """PostgREST's answer to the request; Refused for what the edge answers itself."""
        name = rpc_name(request)
        config = self.config
        query: bytes = request.scope["query_string"]
        check_query(query)
        body = (
            await read_body(request, config.max_body_bytes, config.body_timeout_seconds)
            if has_body(request)
            else None
        )
        if body:
            check_body(body)
        url = f"{config.postgrest_url}/rpc/{name}"
        if query:
            url += "?" + query.decode("latin-1")
        headers = self._upstream_headers(request)

        await self._take_slot()
        release: Callable[[], None] = self._slots.release
        try:
            upstream = await self.session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            )
            try:
                buffered, complete = await read_head(upstream.content, RESPONSE_BUFFER)
            except BaseException:
                upstream.release()
                raise
        except aiohttp.ClientConnectorError:
            release()
            self.count_error("edge.upstream_unavailable")
            raise Refused(
                error_response(
                    503,
                    "edge.upstream_unavailable",
                    "The API server is not reachable; try again shortly.",
                    headers={"Retry-After": "1"},
                )
            ) from None
        except TimeoutError:
            release()
            self.count_error("edge.upstream_timeout")
            raise Refused(
                error_response(504, "edge.upstream_timeout", "The API server did not answer in time.")
            ) from None
        except aiohttp.ClientError:
            release()
            self.count_error("edge.bad_gateway")
            raise Refused(
                error_response(502, "edge.bad_gateway", "The API server gave no valid answer.")
            ) from None
        except BaseException:
            release()
            raise

        if complete:
            upstream.release()
            release()
            if upstream.status >= 500:
                self.count_error(f"postgrest_{upstream.status}")
                raise Refused(server_error(upstream.status, buffered))
            if upstream.status >= 400 and not _is_json(upstream):
                # PostgREST's own plain-text refusals (e.g. of headers too large for it).
                raise Refused(
                    error_response(upstream.status, "edge.bad_request", "The API server refused the request.")
                )
            return RelayedResponse(upstream, buffered, None)
        return RelayedResponse(upstream, buffered, release)


async def read_head(content: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of an answer's body, and whether that is all of it."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), content.at_eof()


def _is_json(upstream: aiohttp.ClientResponse) -> bool:
    return upstream.headers.get("content-type", "").split(";", 1)[0].strip().endswith("json")


def server_error(status: int, body: bytes) -> Response:
    """PostgREST's 5xx answer with its code and message but not its details and hint, which
    can name the database's host and port or quote its internal errors."""
    try:
        parsed = json.loads(body)
        code, message = str(parsed["code"]), str(parsed["message"])
    except (ValueError, TypeError, KeyError):
        return error_response(502, "edge.bad_gateway", "The API server gave no valid answer.")
    headers = {"Retry-After": "1"} if status == 503 else None
    return error_response(status, code, message, headers=headers)


class RelayedResponse(Response):
    """PostgREST's answer: status, every header (Set-Cookie twice stays twice), and the body
    unchanged (not decompressed). `head` is its first RESPONSE_BUFFER bytes, all of it when
    `release_slot` is None (the upstream connection is then already given back); otherwise the
    rest is streamed after it, and the connection and its slot are given back at the end.

    Sent straight to the ASGI server rather than through StreamingResponse, which costs a
    task group per request to watch for disconnects; a vanished client fails `send` instead.
    """

    def __init__(
        self, upstream: aiohttp.ClientResponse, head: bytes, release_slot: Callable[[], None] | None
    ) -> None:
        self.upstream = upstream
        self.head = head
        self.release_slot = release_slot
        self.status_code = upstream.status
        self.background = None
        self.session_stale = SESSION_STALE_HEADER in upstream.headers
        # As they came (bytes, not decoded and encoded again), but for a Content-Length of our
        # own when the whole body is here (upstream may have sent it chunked).
        self.raw_headers = [
            (name.lower(), value)
            for name, value in upstream.raw_headers
            if name.lower() not in NOT_FORWARDED_DOWN
        ]
        if upstream.status in (204, 304):
            pass  # no body, and no Content-Length either (RFC 9110 section 8.6)
        elif release_slot is None and upstream.method != "HEAD":
            self.raw_headers.append((b"content-length", str(len(head)).encode()))
        elif "content-length" in upstream.headers:
            self.raw_headers.append((b"content-length", upstream.headers["content-length"].encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            streaming = self.release_slot is not None
            await send({"type": "http.response.body", "body": self.head, "more_body": streaming})
            if streaming:
                async for chunk in self.upstream.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self.release_slot is not None:
                self.upstream.release()
                self.release_slot()
                self.release_slot = None
