"""URL helpers of ops.settings: the same server under another role or database, and printing."""

from __future__ import annotations

import psycopg
import pytest

from deploy.migrate import with_database
from ops.settings import redacted, with_user


def test_with_user_keeps_server_database_and_options() -> None:
    url = "postgresql://admin:secret@db.internal:6543/blossom?sslmode=require"
    assert with_user(url, "edge") == "postgresql://edge@db.internal:6543/blossom?sslmode=require"
    assert (
        with_user(url, "edge", "p@ss/word")
        == "postgresql://edge:p%40ss%2Fword@db.internal:6543/blossom?sslmode=require"
    )


def test_with_user_keeps_an_ipv6_host_bracketed() -> None:
    assert (
        with_user("postgresql://admin@[::1]:5433/blossom", "edge") == "postgresql://edge@[::1]:5433/blossom"
    )


def test_with_database_changes_only_the_database() -> None:
    assert (
        with_database("postgresql://a:b@h:1/blossom?x=y", "postgres") == "postgresql://a:b@h:1/postgres?x=y"
    )


@pytest.mark.parametrize(
    "name", ["postgre%73", "target%5fx", "newdb?dbname=target_y", "x?host=elsewhere", "a b#c/d"]
)
def test_with_database_names_exactly_the_database_given(name: str) -> None:
    """The name went into the URL as it was, and libpq read it as a URL: `./dev restore FILE
    postgre%73` created a database of that name and restored into `postgres`; `?host=` would
    have sent the dump, and the password, to another server."""
    url = with_database("postgresql://a:b@h:1/blossom?sslmode=require", name)
    assert psycopg.conninfo.conninfo_to_dict(url) == {
        "user": "a", "password": "b", "host": "h", "port": "1", "dbname": name, "sslmode": "require",
    }  # fmt: skip


def test_redacted_hides_only_the_password() -> None:
    assert redacted("postgresql://admin:secret@h:1/db") == "postgresql://admin:***@h:1/db"
    assert (
        redacted("postgresql://postgres@127.0.0.1:54329/blossom")
        == "postgresql://postgres@127.0.0.1:54329/blossom"
    )
