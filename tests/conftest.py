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

from deploy.migrate import migrate, with_database
from ops.scratch import SCRATCH_URL_VARIABLE, TEMPLATE_VARIABLE, temporary_cluster
from tests.support.databases import create_database, drop_database
from tests.support.local_data import made_and_migrated_data_folder
from tests.support.serial import runs_alone
from tests.support.sheets_fake import FakeSheets
from tests.support.stack import Stack, make_stack


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL (database `postgres`) of the run's cluster: the test runner's, or our own."""
    given = os.environ.get(SCRATCH_URL_VARIABLE)
    if given:
        yield with_database(given, "postgres")
        return
    with temporary_cluster(prefix="blossom-pytest-", autovacuum=False) as cluster:
        yield cluster.url("postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if runs_alone(item.nodeid, item.get_closest_marker("serial") is not None):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session")
def template_database(pg_server: str) -> Iterator[str]:
    """Name of a database migrated once; tests copy it instead of migrating again. Under the
    test runner (ops/run_tests.py) it is the runner's, made once for all its processes."""
    given = os.environ.get(TEMPLATE_VARIABLE)
    if given and os.environ.get(SCRATCH_URL_VARIABLE):
        yield given
        return
    name = f"template_{secrets.token_hex(4)}"
    migrate(create_database(pg_server, name), quiet=True)
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
    """A migrated database with real PostgREST and edge processes in front, shared by a run's
    process. Its sign-ups per client address are not limited to 20 an hour: every module of the
    process calls it, and those that sign up from 127.0.0.1 (the TypeScript client's flows, the
    answers of every route) spent one another's allowance, so that whichever came last was
    refused 429 auth.rate_limited, as the order of modules had it. The limit is tested on
    stacks of their own (test_auth_limits.py) and in pgTAP (auth_limits.sql)."""
    with make_stack(
        pg_server,
        template_database,
        tmp_path_factory.mktemp("stack"),
        database_settings={"signups_per_address_per_hour": "100000"},
    ) as running:
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


@pytest.fixture(scope="session")
def migrated_data_folder() -> Iterator[Path]:
    """A data folder (BLOSSOM_DATA_DIR) as `./dev migrate` leaves it on a new checkout, made once a
    process, for the tests of what comes after: each copies it (tests/support/local_data.py)."""
    with made_and_migrated_data_folder() as folder:
        yield folder
