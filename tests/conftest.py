"""Fixtures: one throwaway cluster per run, one migrated template, a database per test, and
real PostgREST and edge processes for end-to-end tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ops.migrate import migrate
from ops.scratch import SCRATCH_URL_VARIABLE, temporary_cluster
from ops.services import Endpoints, running_services
from ops.settings import with_database


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL (database `postgres`) of the run's cluster: the test runner's, or our own."""
    given = os.environ.get(SCRATCH_URL_VARIABLE)
    if given:
        yield with_database(given, "postgres")
        return
    with temporary_cluster(prefix="blossom-pytest-") as cluster:
        yield cluster.url("postgres")


# bcrypt at its minimum cost keeps sign-ups and logins fast; production keeps the default 12.
TEST_BCRYPT_COST = "4"


def _create_database(server_url: str, name: str, template: str = "template1") -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
        )
        # Database settings are not copied from a template: set it on every copy.
        conn.execute(
            sql.SQL("alter database {} set app.settings.bcrypt_cost = {}").format(
                sql.Identifier(name), sql.Literal(TEST_BCRYPT_COST)
            )
        )
    return with_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_database(pg_server: str) -> Iterator[str]:
    """Name of a database migrated once per run; tests copy it instead of migrating again."""
    name = f"template_{secrets.token_hex(4)}"
    url = _create_database(pg_server, name)
    migrate(url, quiet=True)
    yield name
    _drop_database(pg_server, name)


@pytest.fixture
def database_url(pg_server: str, template_database: str) -> Iterator[str]:
    """Admin URL of a freshly migrated database of this test's own."""
    name = f"test_{secrets.token_hex(4)}"
    url = _create_database(pg_server, name, template_database)
    yield url
    _drop_database(pg_server, name)


@dataclass(frozen=True)
class Stack:
    database_url: str
    endpoints: Endpoints
    services: running_services

    @property
    def edge_url(self) -> str:
        return self.endpoints.edge_url

    @property
    def postgrest_url(self) -> str:
        return self.endpoints.postgrest_url


@contextmanager
def make_stack(
    pg_server: str,
    template_database: str,
    logs: Path,
    setup_sql: str = "",
    settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A migrated database (plus `setup_sql`, run as its owner) behind real PostgREST and edge,
    started with these environment `settings` over the defaults."""
    name = f"stack_{secrets.token_hex(4)}"
    url = _create_database(pg_server, name, template_database)
    try:
        if setup_sql:
            with psycopg.connect(url) as conn:
                conn.execute("set local role blossom_owner")
                conn.execute(setup_sql.encode())
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, logs, settings=settings) as services:
            yield Stack(url, endpoints, services)
    finally:
        _drop_database(pg_server, name)


@pytest.fixture(scope="session")
def stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A migrated database with real PostgREST and edge processes in front, shared by a run."""
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("stack")) as running:
        yield running
