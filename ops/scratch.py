"""Throwaway databases for checks: on a server we are given, or on a temporary cluster."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.migrate import migrate
from ops.cluster import LocalCluster
from ops.settings import with_database

# The test runner exports this so every check shares the one throwaway cluster of the run.
SCRATCH_URL_VARIABLE = "BLOSSOM_SCRATCH_URL"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def temporary_cluster(prefix: str = "blossom-") -> Iterator[LocalCluster]:
    """A fresh cluster on a free port, deleted on exit."""
    # /var/tmp: a folder the unprivileged server account can enter even when we are root.
    data_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BLOSSOM_TMP", "/var/tmp")))
    cluster = LocalCluster(data_dir, free_port(), throwaway=True)
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
