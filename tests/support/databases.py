"""Databases for tests: copies of the run's migrated template, with the tests' settings."""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from deploy.migrate import MIGRATE_LOCK, privileges_on_database, with_database
from ops.scratch import database_copy, database_drop
from ops.settings import ROOT

# bcrypt at its minimum cost keeps sign-ups and logins fast; production keeps the default 12.
TEST_BCRYPT_COST = "4"


# One admin connection to each server per process, for the copies every test makes and drops: a
# connection each time was two more backends started per test, a thousand tests a run.
_admin_connections: dict[tuple[int, str], psycopg.Connection[Any]] = {}
_admin_lock = threading.Lock()


def _as_admin(server_url: str, *statements: sql.Composed) -> None:
    """The statements, over this process's admin connection to the server (autocommit): made
    again, and the statements run again, when the server had ended it (a restart)."""
    key = (os.getpid(), server_url)  # a forked child makes its own, the parent's socket untouched
    with _admin_lock:
        for attempt in (1, 2):
            conn = _admin_connections.get(key)
            if conn is None or conn.closed:
                conn = _admin_connections[key] = psycopg.connect(server_url, autocommit=True)
            try:
                for statement in statements:
                    conn.execute(statement)
                return
            except psycopg.OperationalError:
                if attempt == 2 or not conn.broken:
                    raise


@atexit.register
def _close_admin_connections() -> None:
    for (process, _), conn in _admin_connections.items():
        if process == os.getpid():
            conn.close()


def create_database(server_url: str, name: str, template: str = "template1") -> str:
    """Database `name`, a copy of `template`, on the server; returns its admin URL."""
    _as_admin(
        server_url,
        database_copy(name, template),
        # Database settings are not copied from a template: set it on every copy.
        sql.SQL("alter database {} set app.settings.bcrypt_cost = {}").format(
            sql.Identifier(name), sql.Literal(TEST_BCRYPT_COST)
        ),
        # Nor the privileges on the database (made over this connection: a connection to the copy
        # to run all of database_privileges again was 13 ms of the server's CPU a copy).
        *(privileges_on_database(name) if template not in ("template0", "template1") else ()),
    )
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _as_admin(server_url, database_drop(name))


def tcp_keepalives(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """The TCP keepalive settings and the bound on unacknowledged data of a connection's socket,
    as the kernel holds them, by libpq's names for them (blossom_db.settings.CONNECTION_DEFAULTS;
    tcp_user_timeout in milliseconds)."""
    # A duplicate of the socket, closed here: the connection keeps its own.
    with socket.fromfd(conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as sock:
        return {
            "keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "keepalives_idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "keepalives_interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "keepalives_count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "tcp_user_timeout": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        }


def waiting_for(conn: psycopg.Connection, pid: int) -> int | None:
    """The backend that waits for a lock the backend `pid` holds (the first, by pid), or None."""
    row = conn.execute(
        "select min(a.pid) from pg_stat_activity a where %s = any(pg_blocking_pids(a.pid))", [pid]
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def run_behind_migrates_lock(
    server_url: str,
    command: list[str],
    env: dict[str, str],
    while_waiting: Callable[[], None] = lambda: None,
) -> tuple[bool, int, str]:
    """`command` started while migrate's lock is held (in the server's `postgres` database, as
    migrate takes it), let go once a session of it waits for that lock (after `while_waiting`
    has run) or it has ended: whether one waited, then its exit status and what it printed. Its
    sessions are told from others by their application_name (PGAPPNAME): another module's
    migrate may wait for the lock meanwhile."""
    application = f"behind-migrate-{secrets.token_hex(3)}"
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (MIGRATE_LOCK,))
        process = subprocess.Popen(
            command, cwd=ROOT, env=env | {"PGAPPNAME": application}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        waited = False
        try:
            while not waited and process.poll() is None:
                row = holder.execute(
                    "select exists (select from pg_stat_activity"
                    " where application_name = %s and %s = any(pg_blocking_pids(pid)))",
                    (application, holder.info.backend_pid),
                ).fetchone()
                waited = bool(row and row[0])
                if waited:
                    while_waiting()
                time.sleep(0.05)
        finally:
            holder.execute("select pg_advisory_unlock_all()")
        printed, _ = process.communicate(timeout=120)
    return waited, process.returncode, printed
