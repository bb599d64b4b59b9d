"""`/healthz` (the process answers) and `/readyz` (Postgres and PostgREST answer too)."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from blossom_db.database import Database
from edge.config import EdgeConfig
from edge.errors import error_response
from edge.upstream import Upstream, UpstreamError

log = logging.getLogger("edge.health")


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


# What a failed check says: which part is down, never an address or a driver's message
# (those go to the log).
UNREACHABLE = "unreachable"


NOT_MIGRATED = "not migrated"

# Whether the stateless layer is there: none of the API's functions exists before the first
# migrate, nor between a rollback (which drops the layer first) and the next migrate, when every
# call fails. auth.session_info is the one every signed-in call begins with.
_LAYER_APPLIED = "select pg_catalog.to_regprocedure('auth.session_info(text)') is not null"


async def _check_postgres(database: Database, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds), database.transaction() as conn:
            applied = await (await conn.execute(_LAYER_APPLIED)).fetchone() == (True,)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: Postgres: %s: %s", type(error).__name__, error)
        return UNREACHABLE
    if not applied:
        log.warning("readiness: Postgres: the database is not migrated (its functions are missing)")
        return NOT_MIGRATED
    return None


def postgrest_admin(config: EdgeConfig) -> Upstream:
    """PostgREST's admin server (its /ready), for the readiness check."""
    seconds = config.readiness_timeout_seconds
    return Upstream(
        config.postgrest_admin_url,
        size=4,
        wait_seconds=seconds,
        connect_seconds=seconds,
        read_seconds=seconds,
        buffer=64 * 1024,
    )


async def _check_postgrest(admin: Upstream) -> str | None:
    try:
        answer = await admin.request("GET", b"/ready", [], None)
    except UpstreamError as error:
        log.warning("readiness: PostgREST: %s", type(error).__name__)
        return UNREACHABLE
    answer.release()
    if answer.status != 200:
        return f"not ready ({answer.status})"
    return None


class Readiness:
    """Whether Postgres and PostgREST answer: one check at a time, whose answer every `/readyz`
    asked while it is under way takes, so that any number asked at once cost one of the edge's
    database connections and one of its connections to PostgREST's admin server. /readyz is
    anyone's to ask and no share per client bounds it: checked for each request, one client's 32
    at once held all ten database connections, which the /auth and /ext routes wait for (2 s, then
    503), for as long as it kept asking, and everyone's sign-ins queued behind its checks."""

    def __init__(self, database: Database, admin: Upstream, seconds: float) -> None:
        self.database = database
        self.admin = admin
        self.seconds = seconds
        self._under_way: asyncio.Future[tuple[str | None, str | None]] | None = None

    async def faults(self) -> tuple[str | None, str | None]:
        """What is wrong with Postgres and with PostgREST (None for each that answers)."""
        check = self._under_way
        if check is None:
            check = self._under_way = asyncio.ensure_future(self._check())
            check.add_done_callback(self._ended)
        # Shielded: a request that goes away leaves the check to the others that wait for it.
        return await asyncio.shield(check)

    async def _check(self) -> tuple[str | None, str | None]:
        postgres, postgrest = await asyncio.gather(
            _check_postgres(self.database, self.seconds), _check_postgrest(self.admin)
        )
        return postgres, postgrest

    def _ended(self, check: asyncio.Future[tuple[str | None, str | None]]) -> None:
        if self._under_way is check:
            self._under_way = None


async def readyz(request: Request) -> Response:
    state = request.app.state
    if state.draining.started:
        return error_response(
            503, "edge.draining", "This server is shutting down.", headers={"Retry-After": "1"}
        )
    readiness: Readiness = state.readiness
    postgres, postgrest = await readiness.faults()
    checks = {"postgres": postgres or "ok", "postgrest": postgrest or "ok"}
    if postgres or postgrest:
        down = [
            name
            for name, problem in (("Postgres", postgres), ("PostgREST", postgrest))
            if problem == UNREACHABLE
        ]
        problems = [f"{' and '.join(down)} not reachable."] if down else []
        if postgres == NOT_MIGRATED:
            problems.append("The database is not migrated.")
        if postgrest and postgrest != UNREACHABLE:
            problems.append(f"PostgREST {postgrest}.")
        return error_response(
            503, "edge.not_ready", " ".join(problems), details=checks, headers={"Retry-After": "1"}
        )
    return JSONResponse({"status": "ready", "checks": checks})
