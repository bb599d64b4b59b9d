"""The edge application (`python -m edge` serves it; see edge/server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from blossom_db import logs
from blossom_db.database import Database
from edge.activity import SessionActivity
from edge.ai import ROUTES as AI_ROUTES
from edge.ai import CallsUnderWay
from edge.auth import ROUTES as AUTH_ROUTES
from edge.auth import PasswordWork, session_token
from edge.config import EdgeConfig
from edge.cors import Cors, PathMethods
from edge.errors import EXCEPTION_HANDLERS, Refused, internal_error, not_found
from edge.ext import OutsideServices
from edge.health import Readiness, healthz, postgrest_admin, readyz
from edge.lifecycle import Draining
from edge.limits import ClientShares, ConcurrencyLimits
from edge.metrics import EdgeMetrics, may_scrape
from edge.proxy import PostgrestProxy, other_method, rpc_methods
from edge.routes import MethodRoute
from edge.security import csrf_refusal
from edge.slack import ROUTES as SLACK_ROUTES
from edge.tracing import RequestIds

# The methods that call a function (or, OPTIONS, ask which do); any other is answered 405.
RPC_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS"})


def create_app(config: EdgeConfig | None = None, draining: Draining | None = None) -> ASGIApp:
    config = config or EdgeConfig.from_env()
    metrics = EdgeMetrics()
    proxy = PostgrestProxy(config, count_error=lambda code: metrics.upstream_errors.labels(code).inc())
    database = Database(
        config.database_url,
        max_connections=config.database_connections,
        wait_seconds=config.database_wait_seconds,
        application_name="blossom-edge",
    )
    admin = postgrest_admin(config)
    activity = SessionActivity(database)
    outside = OutsideServices.from_environment()
    ai_calls = CallsUnderWay()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await activity.close()
            await ai_calls.release_all(database)
            await database.close()
            await proxy.close()
            await admin.close()
            await outside.close()
            # uvicorn ends the process by the signal that stopped it, which runs no atexit.
            logs.flush()

    async def rpc(request: Request) -> Response:
        try:
            if request.method not in RPC_METHODS:
                return other_method(request.scope)
            # The database refuses the same (auth.pre_request); refusing here saves the round trip.
            refusal = csrf_refusal(request, config)
            if refusal:
                return refusal
            response = await proxy.forward(request)
        except Refused as refused:
            return refused.response
        if response.session_stale and (token := session_token(request, config)):
            activity.used(token)
        return response

    routes = Starlette(
        routes=[
            # Asked by probes and scrapers, whatever their Accept.
            MethodRoute("/healthz", healthz, "GET", json_only=False),
            MethodRoute("/readyz", readyz, "GET", json_only=False),
            MethodRoute(
                "/metrics",
                metrics.endpoint,
                "GET",
                json_only=False,
                shown_to=lambda scope: may_scrape(scope, config),
            ),
            *AUTH_ROUTES,
            *SLACK_ROUTES,
            *AI_ROUTES,
            # Development only (BLOSSOM_DEMO_DIR): the example web app, on the edge's own origin.
            *(
                [Mount("/demo", demo_files(StaticFiles(directory=config.demo_dir, html=True)))]
                if config.demo_dir
                else []
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    # A path with a slash too many is not found, not redirected (Starlette would answer 307 to
    # a Location made from the client's own Host header).
    routes.router.redirect_slashes = False
    routes.state.config = config
    routes.state.readiness = Readiness(database, admin, config.readiness_timeout_seconds)
    routes.state.draining = draining or Draining()
    routes.state.database = database
    routes.state.database_shares = ClientShares(config.client_database_share, config.database_wait_seconds)
    routes.state.password_work = PasswordWork(config)
    routes.state.outside = outside
    routes.state.ai_calls = ai_calls
    limits = ConcurrencyLimits(RpcFirst(rpc, routes), config)
    metrics.known_paths = frozenset(
        route.path for route in routes.routes if isinstance(route, Route) and "{" not in route.path
    )
    metrics.gauge("blossom_edge_requests_in_flight", "Requests under way.", lambda: limits.in_flight)
    metrics.gauge(
        "blossom_edge_upstream_connections_in_use", "Connections to PostgREST in use.", lambda: proxy.in_use
    )
    metrics.gauge(
        "blossom_edge_database_connections_in_use",
        "The edge's own Postgres connections in use.",
        lambda: database.in_use,
    )
    return RequestIds(Cors(limits, config, answered_methods(routes)), config, metrics)


def answered_methods(routes: Starlette) -> PathMethods:
    """The methods a path answers, for its CORS preflight: those that call the function of
    `/rpc/<name>` (POST alone for one that writes), or its route's."""

    def methods(scope: Scope) -> str | None:
        if scope["path"].startswith("/rpc/"):
            return rpc_methods(scope)
        if escaped_route_path(scope):  # names no route (RpcFirst)
            return None
        for route in routes.routes:
            if isinstance(route, MethodRoute) and route.matches(scope)[0] is not Match.NONE:
                return route.allow if route.shown(scope) else None
        return None

    return methods


class RpcFirst:
    """`/rpc/*` goes straight to its endpoint (which answers any method); everything else to the
    Starlette application. The proxy is the edge's hot path: measured by bench/proxy.py, the
    router and middleware stack in front of it cost a share of the edge's throughput, and it
    needs none of them (it answers its own errors; this class catches what it did not)."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]], routes: ASGIApp) -> None:
        self.endpoint = endpoint
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/rpc/"):
            if scope["type"] == "http" and escaped_route_path(scope):
                await not_found()(scope, receive, send)
                return
            await self.routes(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as error:  # noqa: BLE001 - any failure before an answer is our 500 in JSON
            response = await internal_error(request, error)
        # Every response's first act is to send its start: a failure from here on is one of an
        # answer under way, and the server closes the connection.
        await response(scope, receive, send)


def escaped_route_path(scope: Scope) -> bool:
    """Whether the path of a request for one of the edge's own routes holds an escape: Starlette
    routes by the path decoded, so `/auth%2Fsession` was GET /auth/session (an escaped slash is no
    slash, RFC 3986, 2.2), and a proxy in front that routes, limits or refuses by the path as sent
    was passed by one that escaped a letter of it (`/metric%73`). Every route is its path as sent,
    as `/rpc/<name>` is (edge.proxy.rpc_name); the example app's files (/demo/) keep theirs."""
    raw_path: bytes = scope.get("raw_path") or b""
    return b"%" in raw_path and not raw_path.startswith(b"/demo/")


# What the example app served at /demo/ may do: call its own origin, the edge, and no other (it
# takes the edge to call from `?api=`, for when it is served elsewhere: a link to /demo/?api=
# another site showed our page, whose sign-in form posted the password there); post forms to no
# other; be framed by no page. Its scripts and styles are its own files, and an inline import map.
DEMO_POLICY = (
    b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def demo_files(files: ASGIApp) -> ASGIApp:
    """The example app's static files, under DEMO_POLICY, sent whole whatever Range a request
    asks for (which a server may ignore): Starlette answered a range past the file's end 416, and
    a malformed one 400, in plain text, the only answers of the edge that were not its JSON. Nor
    are ranges offered (Accept-Ranges). A folder asked for without its slash is redirected to it
    on the host the browser asked (`_same_host`), never the one its Host header names."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await files(scope, receive, send)
            return
        headers = [(name, value) for name, value in scope["headers"] if name not in (b"range", b"if-range")]

        async def send_unranged(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, _same_host(value) if name.lower() == b"location" else value)
                    for name, value in message["headers"]
                    if name.lower() != b"accept-ranges"
                ]
                message = dict(message, headers=[*kept, (b"content-security-policy", DEMO_POLICY)])
            await send(message)

        await files(dict(scope, headers=headers), receive, send_unranged)

    return app


def _same_host(location: bytes) -> bytes:
    """Starlette's redirect of `/demo/client` to `/demo/client/` is absolute, made from the
    request's Host header: a request naming another host was sent to it (an open redirect,
    which a cache keyed on the path alone would keep for everyone). Its path and query only,
    which the browser resolves against the address it asked (one leading slash: `//host` would
    name a host again)."""
    parts = urlsplit(location)
    return urlunsplit((b"", b"", b"/" + parts.path.lstrip(b"/"), parts.query, b""))
