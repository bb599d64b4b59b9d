"""The assets tried again when they failed on the database in a way that passes: the connection
lost or refused (a restart, a failover: SQLSTATE class 08, 57P01 admin_shutdown, 57P03
cannot_connect_now …), a write refused by a server that is a standby now (25006: a failover's
old primary, still reached by its name for a while), or the transaction chosen to end a deadlock
(40P01) or to keep another serializable (40001). Through Dagster's own retries (RetryRequested),
which its daemon's runs (a process per step) and in-process runs (`pipeline-run`'s materialize)
both honour; any other error fails the run at once, as before, since trying it again changes
nothing (a refused argument, a missing grant, a bug, Slack's or Google's refusal)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import psycopg
from dagster import AssetExecutionContext, RetryRequested

from blossom_db.database import connection_lost

# Undone by the server to let another transaction through; the same work again goes through.
# And 25006, a write refused as read-only: after a failover, a name still resolved to the old
# primary (a DNS cache, a pooler) reaches it as a standby until the name moves on.
PASSING_STATES = frozenset({"40001", "40P01", "25006"})

P = ParamSpec("P")
R = TypeVar("R")


def passes(error: BaseException) -> bool:
    """Whether the database failed the run in a way that passes, so that the same run later may
    succeed (blossom_db.database.connection_lost tells a lost or refused connection)."""
    return isinstance(error, psycopg.Error) and (connection_lost(error) or error.sqlstate in PASSING_STATES)


def tried_again_when_the_database_passes(compute: Callable[P, R]) -> Callable[P, R]:
    """An asset's function, whose run is tried again when it fails on the database in a way that
    passes: up to the postgres resource's `retries` times, after `retry_seconds`, doubled for each
    retry, waited in the step. Each asset is idempotent on a retry: a day replaced, housekeeping
    done again, the export written whole, and a digest posted under its claim (docs/pipeline.md)."""

    @functools.wraps(compute)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return compute(*args, **kwargs)
        except psycopg.Error as error:
            context = AssetExecutionContext.get()
            postgres: Any = context.resources.postgres
            if not passes(error) or postgres.retries == 0:
                raise
            if context.retry_number < postgres.retries:
                wait = postgres.retry_seconds * 2**context.retry_number
                context.log.warning(
                    f"the database failed the run in a way that passes ({type(error).__name__},"
                    f" SQLSTATE {error.sqlstate}); tried again in {wait:g} s,"
                    f" retry {context.retry_number + 1} of {postgres.retries}"
                )
                # Waited here, in the step, where SIGTERM or Ctrl-C ends the run at once. Dagster
                # sleeps out a RetryRequested's own wait whole, the signal noted and acted on only
                # after it: minutes, past a service manager's patience for a stop.
                time.sleep(wait)
            raise RetryRequested(max_retries=postgres.retries) from error

    return run
