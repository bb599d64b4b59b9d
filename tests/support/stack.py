"""A migrated database behind real PostgREST and edge processes, for end-to-end tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ops.services import Endpoints, running_services
from tests.support.databases import create_database, drop_database


@dataclass(frozen=True)
class Stack:
    database_url: str
    endpoints: Endpoints
    services: running_services
    # The folder of the processes' logs (edge.log, postgrest.log).
    logs: Path

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
    endpoint_settings: Callable[[Endpoints], dict[str, str]] | None = None,
    database_settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A migrated database (plus `setup_sql`, run as its owner, and `database_settings`, the
    database's own app.settings.<name>) behind real PostgREST and edge, started with these
    environment `settings` over the defaults (and those `endpoint_settings` makes from the ports
    chosen, e.g. origins that name the edge's)."""
    name = f"stack_{secrets.token_hex(4)}"
    url = create_database(pg_server, name, template_database)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for setting, value in (database_settings or {}).items():
                conn.execute(
                    psycopg.sql.SQL("alter database {} set {} = {}").format(
                        psycopg.sql.Identifier(name),
                        psycopg.sql.Identifier(f"app.settings.{setting}"),
                        psycopg.sql.Literal(value),
                    )
                )
        if setup_sql:
            with psycopg.connect(url) as conn:
                conn.execute("set local role blossom_owner")
                conn.execute(setup_sql.encode())
        endpoints = Endpoints.on_free_ports(url)
        settings = (settings or {}) | (endpoint_settings(endpoints) if endpoint_settings else {})
        with running_services(endpoints, logs, settings=settings) as services:
            yield Stack(url, endpoints, services, logs)
    finally:
        drop_database(pg_server, name)
