"""The edge application (`python -m edge` serves it; see edge/server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.activity import SessionActivity
from edge.auth import ROUTES as AUTH_ROUTES
from edge.auth import PasswordWork, session_token
from edge.config import EdgeConfig
from edge.database import Database
from edge.errors import EXCEPTION_HANDLERS, Refused
from edge.health import healthz, readyz
from edge.limits import ConcurrencyLimits
from edge.proxy import PostgrestProxy
from edge.security import csrf_refusal

RPC_METHODS = ["GET", "POST", "HEAD", "OPTIONS"]


def create_app(config: EdgeConfig | None = None) -> Starlette:
    config = config or EdgeConfig.from_env()
    proxy = PostgrestProxy(config)
    database = Database(
        config.database_url,
        max_connections=config.database_connections,
        wait_seconds=config.database_wait_seconds,
    )
    activity = SessionActivity(database)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await proxy.start()
        try:
            yield
        finally:
            await activity.close()
            await database.close()
            await proxy.close()

    async def rpc(request: Request) -> Response:
        # The database refuses the same (auth.pre_request); refusing here saves the round trip.
        refusal = csrf_refusal(request, config)
        if refusal:
            return refusal
        try:
            response = await proxy.forward(request)
        except Refused as refused:
            return refused.response
        if response.session_stale and (token := session_token(request)):
            activity.used(token)
        return response

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/rpc/{name:path}", rpc, methods=RPC_METHODS),
            *AUTH_ROUTES,
        ],
        middleware=[Middleware(ConcurrencyLimits, config=config)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.proxy = proxy
    app.state.database = database
    app.state.password_work = PasswordWork(config)
    return app
