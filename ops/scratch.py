"""Throwaway databases for checks: on a server we are given, or on a temporary cluster."""

from __future__ import annotations

import atexit
import collections
import functools
import itertools
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from blossom_db.settings import check_database_url, connection_failure
from deploy.migrate import migrate, with_database
from ops.cluster import LocalCluster
from ops.settings import forget_libpq_environment

# The test runner exports this so every check shares the one throwaway cluster of the run.
SCRATCH_URL_VARIABLE = "BLOSSOM_SCRATCH_URL"
# And this: the migrated database on that cluster that pytest's tests copy (ops/run_tests.py).
TEMPLATE_VARIABLE = "BLOSSOM_TEST_TEMPLATE"
# Tests whose assertions are about time under a load they make: `just test` runs them alone, after
# the others have run in parallel (ops/run_tests.py), so that no other test's work skews them;
# tests/conftest.py marks them `serial`. Tests that only wait for processes, with bounds of
# seconds (tests/test_up.py, tests/test_edge_lifecycle.py), run with the others: alone they kept
# two cores idle for 17 s.
SERIAL_TESTS = (
    "tests/test_auth_limits.py::test_a_flood_of_sign_ups_leaves_logins_their_share",
    "tests/test_edge_database.py::test_a_postgres_restart_under_load_fails_fast_and_recovers_within_a_second",
    "tests/test_edge_server.py::test_three_hundred_trickling_bodies_leave_rpc_answering_within_a_second",
)


# Throwaway servers listen below the kernel's ephemeral range. A port from bind(0) lies inside it,
# and between our check and the server's own bind an outgoing connection (a test run opens
# thousands) could take it as its source port: the edge then failed to start, its port in use.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000
_walk_lock = threading.Lock()


@functools.cache  # the kernel's range, read once: free_port asks for it at each call
def listening_ports() -> range:
    """The ports free_port hands out: from LOWEST_PORT up to the kernel's ephemeral range, or
    above it when that range starts too low to leave room below."""
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE.read_text().split())
    except OSError:  # no /proc: Linux's default range
        low, high = 32768, 60999
    if low - LOWEST_PORT >= 1000:
        return range(LOWEST_PORT, low)
    if 65535 - high >= 1000:
        return range(high + 1, 65536)
    raise RuntimeError(f"the ephemeral port range {low}-{high} leaves no room for test servers")


@functools.cache
def _port_walk(_process: int) -> Iterator[int]:
    # Each process walks the ports in turn from a random start: two processes of a run meet only
    # if their walks come to the same port within the moment a server takes to start. Keyed by
    # the process id, so that a forked child does not walk on in step with its parent.
    ports = listening_ports()
    start = secrets.randbelow(len(ports))
    return (ports[(start + step) % len(ports)] for step in itertools.count())


# A port free_port hands out is the process's, among every process on the machine, while it holds
# the port's claim: a Unix socket bound to an abstract name of the port's, which no other process
# can bind meanwhile, and which the kernel lets go when its holder ends. A server binds its port a
# moment after free_port saw it free (a recipe's Postgres seconds later, after initdb), and another
# process's walk that came to the same port meanwhile handed it out again (seen: a test's cluster
# would not start, "could not bind IPv4 address: Address already in use"). Each process keeps its
# last PORTS_KEPT claims; by the time it has handed out that many more, an older port is long bound
# or given up.
PORTS_KEPT = 64
_claims: collections.deque[socket.socket] = collections.deque()


def _claimed(port: int) -> bool:
    """Whether the port is now this process's: no other process claims it."""
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0blossom-port-{port}")
    except OSError:
        claim.close()
        return False
    _claims.append(claim)
    if len(_claims) > PORTS_KEPT:
        _claims.popleft().close()
    return True


@atexit.register
def _let_claims_go() -> None:
    """Closes this process's claims: at its end (the kernel would let them go, but warn of them as
    unclosed), and in a forked child, whose copies of its parent's claims are the parent's to keep."""
    while _claims:
        _claims.popleft().close()


os.register_at_fork(after_in_child=_let_claims_go)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds, for a server about to start, and that no other
    process hands out while this one keeps its claim (_claimed)."""
    with _walk_lock:
        walk = _port_walk(os.getpid())
        for _ in listening_ports():
            port = next(walk)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            if _claimed(port):
                return port
    raise RuntimeError("every port free_port hands out is in use")


# A run makes and drops hundreds of databases, each a few hundred files. On ext4 the
# kernel's work of creating and unlinking them was a tenth of a run's CPU; in memory it is
# small. Both folders can be entered by the unprivileged server account even when we are root.
MEMORY_FOLDER = Path("/dev/shm")
DISK_FOLDER = Path("/var/tmp")
# A run's cluster held 0.2 GB at its peak (measured); its write-ahead log may grow to 1 GB.
MEMORY_NEEDED = 2 * 1024**3


def throwaway_folder(*, on_disk: bool = False) -> Path:
    """Where throwaway clusters are made: BLOSSOM_TMP when set; else, unless `on_disk`, in
    memory when a tmpfs with room is mounted at /dev/shm; else /var/tmp."""
    given = os.environ.get("BLOSSOM_TMP")
    if given:
        folder = Path(given)
        if not folder.is_dir():
            raise SystemExit(f"BLOSSOM_TMP must name a folder that exists, got {given!r}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise SystemExit(f"BLOSSOM_TMP must name a folder this user may write in, got {given!r}")
        return folder
    if not on_disk and _is_tmpfs(MEMORY_FOLDER) and _free_bytes(MEMORY_FOLDER) >= MEMORY_NEEDED:
        return MEMORY_FOLDER
    return DISK_FOLDER


def _is_tmpfs(folder: Path) -> bool:
    try:
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1:3] == [str(folder), "tmpfs"] for line in mounts)
    except OSError:
        return False


def _free_bytes(folder: Path) -> int:
    found = os.statvfs(folder)
    return found.f_bavail * found.f_frsize


@contextmanager
def temporary_cluster(
    prefix: str = "blossom-", *, on_disk: bool = False, autovacuum: bool = True
) -> Iterator[LocalCluster]:
    """A fresh cluster on a free port, deleted on exit; `on_disk` where a real server keeps its
    data, for what is measured, not in memory. Whatever connects to it, here or in a child, is
    ours: a developer's libpq settings are forgotten first (forget_libpq_environment).
    `autovacuum` off for tests: a run makes and drops hundreds of databases, which its launcher
    visits in turn with a worker process each, for tables that live seconds; a test that needs a
    vacuum or fresh statistics runs them itself."""
    forget_libpq_environment()
    data_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=throwaway_folder(on_disk=on_disk)))
    cluster = LocalCluster(data_dir, free_port(), throwaway=True, autovacuum=autovacuum)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@contextmanager
def scratch_server() -> Iterator[str]:
    """An admin URL (to its `postgres` database) of a server where we may create databases."""
    for variable in (SCRATCH_URL_VARIABLE, "DATABASE_URL"):
        given = os.environ.get(variable)
        if given:
            yield reachable_server(variable, given)
            return
    with temporary_cluster() as cluster:
        yield cluster.url("postgres")


def reachable_server(variable: str, url: str) -> str:
    """The URL of the `postgres` database on the server that the setting `variable` names, once
    it answered: a URL libpq would read otherwise than meant, or a server out of reach, stops the
    program in one line naming the setting (never the URL, which may hold a password), before a
    check has made anything there."""
    try:
        check_database_url(variable, url)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    server = with_database(url, "postgres")
    try:
        psycopg.connect(server).close()
    except psycopg.Error as error:
        said = connection_failure(server, error) or str(error).strip().splitlines()[0]
        raise SystemExit(f"{variable}: {said}") from None
    return server


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """A new empty database on the server, dropped on exit; yields its URL."""
    name = f"scratch_{label}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(database_drop(name))


def database_drop(name: str) -> sql.Composed:
    """The statement that drops the throwaway database `name`, its sessions ended first, and does
    nothing when it is gone already (a copy whose making failed)."""
    return sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))


def database_copy(name: str, template: str) -> sql.Composed:
    """The statement that makes database `name` a copy of `template` (no one may be connected to
    it meanwhile), as the tests' databases and the pgTAP files' are made: copied file by file, not
    page by page through the WAL (Postgres 15's default, made for large templates), for a template
    this small half the time (25 ms a copy against 45). The privileges on the database itself are
    not copied (deploy.migrate.privileges_on_database)."""
    return sql.SQL("create database {} template {} strategy file_copy").format(
        sql.Identifier(name), sql.Identifier(template)
    )


@contextmanager
def migrated_database(label: str) -> Iterator[str]:
    """A scratch database on the run's server (see scratch_server) with roles, migrations and
    the stateless layer applied, dropped on exit; yields its admin URL."""
    with scratch_server() as server, scratch_database(server, label) as url:
        migrate(url, quiet=True)
        yield url
