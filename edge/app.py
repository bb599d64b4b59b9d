"""The edge application: `uvicorn edge.app:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.activity import READ_ONLY_METHODS, SessionActivity
from edge.auth import ROUTES as AUTH_ROUTES
from edge.auth import session_token
from edge.config import EdgeConfig
from edge.health import healthz, readyz
from edge.proxy import PostgrestProxy
from edge.security import csrf_refusal

RPC_METHODS = ["GET", "POST", "HEAD", "OPTIONS"]


def create_app(config: EdgeConfig | None = None) -> Starlette:
    config = config or EdgeConfig.from_env()
    proxy = PostgrestProxy(config)
    pool = AsyncConnectionPool(
        config.database_url,
        min_size=1,
        max_size=10,
        open=False,
        # A connection that died with its server is noticed on checkout, not handed out.
        check=AsyncConnectionPool.check_connection,
        kwargs={"connect_timeout": 2, "application_name": "blossom-edge"},
        # Keep trying for as long as the edge runs: it must recover when Postgres returns.
        reconnect_timeout=float("inf"),
    )
    activity = SessionActivity(pool)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await proxy.start()
        await pool.open(wait=False)
        try:
            yield
        finally:
            await activity.close()
            await pool.close()
            await proxy.close()

    async def rpc(request: Request) -> Response:
        # The database refuses the same (auth.pre_request); refusing here saves the round trip.
        refusal = csrf_refusal(request, config)
        if refusal:
            return refusal
        response = await proxy.forward(request)
        if request.method in READ_ONLY_METHODS and response.status_code < 500 and response.status_code != 401:
            token = session_token(request)
            if token:
                activity.used(token)
        return response

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/rpc/{name:path}", rpc, methods=RPC_METHODS),
            *AUTH_ROUTES,
        ],
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.proxy = proxy
    app.state.pool = pool
    return app


app = create_app()
