"""The tests' databases (tests/support/databases.py): copies of the run's template, made and
dropped over one admin connection per process."""

from __future__ import annotations

import os
import secrets

import psycopg

from tests.support import databases


def test_a_copy_is_made_after_the_server_ended_the_admin_connection(
    pg_server: str, template_database: str
) -> None:
    """The server ends the admin connection kept for the copies (a restart, an admin's
    pg_terminate_backend): the next copy is made over a new one, not refused with that end."""
    name = f"test_{secrets.token_hex(4)}"
    databases.drop_database(pg_server, name)  # the connection made, if this process had none yet
    kept = databases._admin_connections[(os.getpid(), pg_server)].info.backend_pid
    with psycopg.connect(pg_server, autocommit=True) as admin:
        assert admin.execute("select pg_terminate_backend(%s, 5000)", [kept]).fetchone() == (True,)
    url = databases.create_database(pg_server, name, template_database)
    try:
        with psycopg.connect(url) as copy:
            assert copy.execute("select to_regclass('app.users') is not null").fetchone() == (True,)
    finally:
        databases.drop_database(pg_server, name)
