"""`/healthz` (the process answers) and `/readyz` (Postgres and PostgREST answer too)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from blossom_db.database import Database
from edge.config import EdgeConfig
from edge.errors import error_response

log = logging.getLogger("edge.health")


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


# What a failed check says: which part is down, never an address or a driver's message
# (those go to the log).
UNREACHABLE = "unreachable"


async def _check_postgres(database: Database, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds), database.transaction() as conn:
            await conn.execute("select 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: Postgres: %s: %s", type(error).__name__, error)
        return UNREACHABLE
    return None


async def _check_postgrest(session: aiohttp.ClientSession, config: EdgeConfig) -> str | None:
    try:
        async with session.get(
            f"{config.postgrest_admin_url}/ready",
            timeout=aiohttp.ClientTimeout(total=config.readiness_timeout_seconds),
        ) as response:
            if response.status != 200:
                return f"not ready ({response.status})"
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("readiness: PostgREST: %s: %s", type(error).__name__, error)
        return UNREACHABLE
    return None


async def readyz(request: Request) -> Response:
    state = request.app.state
    config: EdgeConfig = state.config
    if state.draining.started:
        return error_response(
            503, "edge.draining", "This server is shutting down.", headers={"Retry-After": "1"}
        )
    postgres, postgrest = await asyncio.gather(
        _check_postgres(state.database, config.readiness_timeout_seconds),
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
