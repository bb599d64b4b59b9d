"""`/healthz` (the process answers) and `/readyz` (Postgres and PostgREST answer too)."""

from __future__ import annotations

import asyncio

import aiohttp
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.config import EdgeConfig
from edge.errors import error_response


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _check_postgres(pool: AsyncConnectionPool, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds), pool.connection(timeout=seconds) as conn:
            await conn.execute("select 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", said in the answer
        return f"{type(error).__name__}: {error}".strip()
    return None


async def _check_postgrest(session: aiohttp.ClientSession, config: EdgeConfig) -> str | None:
    try:
        async with session.get(
            f"{config.postgrest_admin_url}/ready",
            timeout=aiohttp.ClientTimeout(total=config.readiness_timeout_seconds),
        ) as response:
            if response.status != 200:
                return f"PostgREST /ready answered {response.status}"
    except (aiohttp.ClientError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}".strip()
    return None


async def readyz(request: Request) -> Response:
    state = request.app.state
    config: EdgeConfig = state.config
    postgres, postgrest = await asyncio.gather(
        _check_postgres(state.pool, config.readiness_timeout_seconds),
        _check_postgrest(state.proxy.session, config),
    )
    checks = {"postgres": postgres or "ok", "postgrest": postgrest or "ok"}
    if postgres or postgrest:
        down = " and ".join(
            name for name, problem in (("Postgres", postgres), ("PostgREST", postgrest)) if problem
        )
        return error_response(
            503, "edge.not_ready", f"{down} not reachable.", details=checks, headers={"Retry-After": "1"}
        )
    return JSONResponse({"status": "ready", "checks": checks})
