"""Every login's sessions are in UTC whatever the server's time zone (sql/roles.sql): the API's
timestamps, the admin views' and what the worker and the pipeline read are written with +00:00,
and a day or a month counted from a session's clock is the UTC one the docs name."""

from __future__ import annotations

import psycopg
import pytest

from ops.settings import with_user

LOGINS = ("authenticator", "edge", "worker", "pipeline", "panopticon")


@pytest.fixture
def server_in_kathmandu(database_url: str) -> str:
    """The database's sessions in a zone 5:45 ahead of UTC unless their role says otherwise, as
    on a server whose timezone (postgresql.conf, from the machine at initdb) is not UTC."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        name = admin.info.dbname
        admin.execute(f"alter database {name} set timezone = 'Asia/Kathmandu'".encode())
    with psycopg.connect(database_url) as admin:
        assert admin.execute("show timezone").fetchone() == ("Asia/Kathmandu",)
    return database_url


@pytest.mark.parametrize("role", LOGINS)
def test_a_login_answers_times_in_utc_on_a_server_in_another_zone(
    server_in_kathmandu: str, role: str
) -> None:
    with psycopg.connect(with_user(server_in_kathmandu, role)) as conn:
        assert conn.execute("show timezone").fetchone() == ("UTC",)
        month = conn.execute(
            "select date_trunc('month', '2026-12-01 03:00:00+00'::timestamptz)::text"
        ).fetchone()
        assert month == ("2026-12-01 00:00:00+00",)
