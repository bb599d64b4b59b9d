"""Cross-origin calls with credentials, for the allowed origins only (BLOSSOM_ALLOWED_ORIGINS).

A frontend served from another origin than the edge (its own dev server on another port, say)
calls /rpc and /auth with `credentials: "include"`; the browser sends the session cookie only
if the answer says `Access-Control-Allow-Origin: <that origin>` and
`Access-Control-Allow-Credentials: true`, and asks first (a preflight `OPTIONS`) before a JSON
POST. This answers the preflight itself, allowing the methods the path answers, and adds those
headers for an allowed origin. For any
other origin it adds nothing (and the proxy never passes on PostgREST's own, edge/proxy.py), so
only the allowed origins can read an answer made with a browser's cookies. Which origins may *change*
state is refused separately, by the same list (edge/security.py and the pre-request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.config import EdgeConfig

# The methods a path answers ("POST, OPTIONS"), None where nothing is.
PathMethods = Callable[[Scope], str | None]
# What the generated client sends, and a request id a caller may add per call.
ALLOW_HEADERS = "Accept, Content-Type, X-Request-Id"
# Headers a cross-origin page may read: the retry hint of 429 and 503 answers, PostgREST's range,
# and the request's id (edge/tracing.py), which a page shows with an error for support to find.
EXPOSE_HEADERS = "Retry-After, Content-Range, X-Request-Id"
PREFLIGHT_SECONDS = "600"
ORIGIN_HEADER = b"origin"


def request_origin(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's Origin (its first, as the browser sends one), or None."""
    raw = next((value for name, value in headers if name == ORIGIN_HEADER), None)
    return None if raw is None else raw.decode("latin-1")


def answer_headers(origin: str) -> list[tuple[bytes, bytes]]:
    """What every answer to an allowed origin carries, so that its page may read it; also for the
    answers the HTTP server writes itself, below this middleware (edge/server.py)."""
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
    ]


def no_methods(_scope: Scope) -> None:
    return None


class Cors:
    def __init__(self, app: ASGIApp, config: EdgeConfig, path_methods: PathMethods = no_methods) -> None:
        self.app = app
        self.allowed = config.allowed_origins
        self.path_methods = path_methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # On the proxy's hot path: most requests carry no Origin, and cost one scan of the headers.
        origin = request_origin(scope["headers"])
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin in self.allowed
        if scope["method"] == "OPTIONS" and "access-control-request-method" in Headers(scope=scope):
            await self.preflight(origin if allowed else None, self.path_methods(scope), send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                for name, value in answer_headers(origin):
                    answer[name.decode()] = value.decode("latin-1")
                answer.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)

    async def preflight(self, origin: str | None, methods: str | None, send: Send) -> None:
        """204; with the permission only for an allowed origin (the browser stops otherwise), for
        the methods the path answers: a GET of a function that writes is answered 405 (its
        preflight had named GET, HEAD, POST and OPTIONS on every path)."""
        headers: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"content-length", b"0")]
        if origin is not None:
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                *([(b"access-control-allow-methods", methods.encode())] if methods else []),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", PREFLIGHT_SECONDS.encode()),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
