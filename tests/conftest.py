"""Fixtures: one throwaway cluster per run, one migrated template, a database per test, and
real PostgREST and edge processes for end-to-end tests. What they are made with, and what the
test modules share, is in tests/support."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from deploy.migrate import migrate
from ops.scratch import SCRATCH_URL_VARIABLE, temporary_cluster
from ops.settings import with_database
from tests.support.databases import create_database, drop_database
from tests.support.sheets_fake import FakeSheets
from tests.support.stack import Stack, make_stack


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL (database `postgres`) of the run's cluster: the test runner's, or our own."""
    given = os.environ.get(SCRATCH_URL_VARIABLE)
    if given:
        yield with_database(given, "postgres")
        return
    with temporary_cluster(prefix="blossom-pytest-") as cluster:
        yield cluster.url("postgres")


@pytest.fixture(scope="session")
def template_database(pg_server: str) -> Iterator[str]:
    """Name of a database migrated once per run; tests copy it instead of migrating again."""
    name = f"template_{secrets.token_hex(4)}"
    url = create_database(pg_server, name)
    migrate(url, quiet=True)
    yield name
    drop_database(pg_server, name)


@pytest.fixture
def database_url(pg_server: str, template_database: str) -> Iterator[str]:
    """Admin URL of a freshly migrated database of this test's own."""
    name = f"test_{secrets.token_hex(4)}"
    url = create_database(pg_server, name, template_database)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A migrated database with real PostgREST and edge processes in front, shared by a run."""
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture(scope="session")
def fake_http_server() -> Iterator[HTTPServer]:
    """A local HTTP server on a loopback port for the fakes of outside services, one per run
    (stopping one takes half a second); each test's fake installs its own handler."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sheets_fake(fake_http_server: HTTPServer, tmp_path: Path) -> Iterator[FakeSheets]:
    """A fake of Google Sheets and its token endpoint, and a service account's key file that
    names it (FakeSheets.key_file)."""
    fake_http_server.clear()
    yield FakeSheets(fake_http_server, tmp_path / "service-account.json")
    fake_http_server.clear()
