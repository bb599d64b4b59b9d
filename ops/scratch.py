"""Throwaway databases for checks: on a server we are given, or on a temporary cluster."""

from __future__ import annotations

import atexit
import collections
import fcntl
import functools
import itertools
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from deploy.migrate import migrate, with_database
from ops.cluster import LocalCluster
from ops.settings import forget_libpq_environment

# The test runner exports this so every check shares the one throwaway cluster of the run.
SCRATCH_URL_VARIABLE = "BLOSSOM_SCRATCH_URL"
# And this: the migrated database on that cluster that pytest's tests copy (ops/run_tests.py).
TEMPLATE_VARIABLE = "BLOSSOM_TEST_TEMPLATE"


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


# A port free_port hands out is the process's, among every process of ours on the machine, while
# the port's lock file here is locked by it: a server binds its port a moment after free_port saw
# it free (a recipe's Postgres seconds later, after initdb), and another process's walk that came
# to the same port meanwhile handed it out again (seen: a test's cluster would not start, "could
# not bind IPv4 address: Address already in use"). Each process keeps its last PORTS_KEPT ports;
# by the time it has handed out that many more, an older one is long bound or given up.
PORT_LOCKS = Path(tempfile.gettempdir()) / "blossom-ports"
PORTS_KEPT = 64
_kept_ports: collections.deque[tuple[Path, IO[str]]] = collections.deque()
# A forked child shares its parent's locks, and must not let the parent's ports go as its own.
os.register_at_fork(after_in_child=_kept_ports.clear)


def _keep(port: int) -> bool:
    """Whether the port is now this process's: its lock file locked here, no other process
    holding it. Where no lock file can be made, the bind check alone decides, as before."""
    path = PORT_LOCKS / str(port)
    try:
        PORT_LOCKS.mkdir(mode=0o1777, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - kept open while the port is ours
    except OSError:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked, but maybe a file its last holder unlinked as it let the port go: the port is
        # whoever locks the file that has the name now.
        if os.fstat(handle.fileno()).st_ino != os.stat(path).st_ino:
            raise BlockingIOError
    except OSError:
        handle.close()
        return False
    _kept_ports.append((path, handle))
    if len(_kept_ports) > PORTS_KEPT:
        _let_go(*_kept_ports.popleft())
    return True


def _let_go(path: Path, handle: IO[str]) -> None:
    # Unlinked before it is unlocked: a run hands out thousands of ports, each a file.
    with suppress(OSError):
        path.unlink()
    handle.close()


@atexit.register
def _let_every_port_go() -> None:
    """The process's ports at its end, whose servers end with it."""
    while _kept_ports:
        _let_go(*_kept_ports.popleft())


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds, for a server about to start, and that no other
    process of ours hands out while this one keeps it (PORT_LOCKS)."""
    with _walk_lock:
        walk = _port_walk(os.getpid())
        for _ in listening_ports():
            port = next(walk)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            if _keep(port):
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
        return Path(given)
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
    given = os.environ.get(SCRATCH_URL_VARIABLE) or os.environ.get("DATABASE_URL")
    if given:
        yield with_database(given, "postgres")
        return
    with temporary_cluster() as cluster:
        yield cluster.url("postgres")


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
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextmanager
def migrated_database(label: str) -> Iterator[str]:
    """A scratch database on the run's server (see scratch_server) with roles, migrations and
    the stateless layer applied, dropped on exit; yields its admin URL."""
    with scratch_server() as server, scratch_database(server, label) as url:
        migrate(url, quiet=True)
        yield url
