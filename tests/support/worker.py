"""The real worker (`python -m worker`) for tests, on quick timings, and the outbox it reads."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ops.services import start_worker, stop, worker_env
from ops.settings import with_user

APP_URL = "https://app.example.test"
# Seconds, not minutes: a retry, a heartbeat, a worker taken for dead, a graceful stop.
QUICK = {
    "BLOSSOM_MAIL_RETRY_SECONDS": "0.2",
    "BLOSSOM_MAIL_RETRY_MAX_SECONDS": "0.5",
    "BLOSSOM_WORKER_POLL_SECONDS": "0.1",
    "BLOSSOM_WORKER_HEARTBEAT_SECONDS": "0.25",
    "BLOSSOM_WORKER_STALLED_SECONDS": "1.5",
    "BLOSSOM_WORKER_SHUTDOWN_SECONDS": "5",
    "BLOSSOM_SMTP_TIMEOUT": "5",
}
T = TypeVar("T")


@contextmanager
def running_worker(
    database_url: str, smtp_url: str, logs: Path, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker for the database at `database_url` (an admin URL), registered with its job queue
    on entry, stopped on exit if it still runs. `settings` override QUICK (BLOSSOM_... names)."""
    environment = worker_env(with_user(database_url, "worker"), smtp_url, APP_URL) | QUICK | settings
    process = start_worker(environment, database_url, logs / f"worker-{time.monotonic_ns()}.log")
    try:
        yield process
    finally:
        stop(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no cleanup of any kind, as when a machine is lost."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(5)


def queue_mail(database_url: str, to: str, topic: str = "mail.password_reset", **payload: Any) -> str:
    """An outbox mail written as the functions write it (its delivery job comes with it); its id."""
    fields = {
        "to": to,
        "display_name": "Tess",
        "token": "t" * 43,
        "expires_at": "2030-01-01T00:00:00+00:00",
        **payload,
    }
    with psycopg.connect(database_url) as conn:
        conn.execute("set local role blossom_owner")
        row = conn.execute(
            "insert into app.outbox (topic, payload) values (%s, %s) returning id", (topic, Jsonb(fields))
        ).fetchone()
    assert row is not None
    return str(row[0])


def _read_outbox_row(conn: psycopg.Connection[dict[str, Any]], event_id: str) -> dict[str, Any]:
    row = conn.execute(
        "select attempts, last_error, delivered_at, given_up_at, payload from app.outbox where id = %s",
        (event_id,),
    ).fetchone()
    assert row is not None, f"no outbox row {event_id}"
    return row


def outbox_row(database_url: str, event_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return _read_outbox_row(conn, event_id)


def outbox_row_once(database_url: str, event_id: str, column: str, timeout: float = 10.0) -> dict[str, Any]:
    """The event's outbox row once `column` is set (delivered_at, given_up_at, ...), polled over
    one connection: a connection per poll was a backend started every 50 ms, some 360 for a
    retry waited out for 25 s."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:

        def ready() -> dict[str, Any] | None:
            row = _read_outbox_row(conn, event_id)
            return row if row[column] else None

        return eventually(ready, timeout, f"{column} of {event_id}")


def jobs_of(database_url: str, event_id: str) -> list[tuple[str, int]]:
    """The status and attempts of each job of the event (a succeeded job is deleted)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select status::text, attempts from jobs.procrastinate_jobs"
            " where args ->> 'event_id' = %s order by id",
            (event_id,),
        ).fetchall()
    return [(str(status), int(attempts)) for status, attempts in rows]


def delivered_row(database_url: str, event_id: str) -> dict[str, Any]:
    """The event's outbox row once it is delivered, polled (AssertionError after 10 s)."""
    return outbox_row_once(database_url, event_id, "delivered_at")


def eventually(check: Callable[[], T | None], timeout: float = 10.0, what: str = "the condition") -> T:
    """The first truthy result of `check`, polled; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:.0f} s")
        time.sleep(0.05)
