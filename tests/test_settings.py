"""URL helpers of ops.settings: the same server under another role or database, and printing."""

from __future__ import annotations

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


def test_redacted_hides_only_the_password() -> None:
    assert redacted("postgresql://admin:secret@h:1/db") == "postgresql://admin:***@h:1/db"
    assert (
        redacted("postgresql://postgres@127.0.0.1:54329/blossom")
        == "postgresql://postgres@127.0.0.1:54329/blossom"
    )
