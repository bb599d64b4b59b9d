"""The tests' databases (tests/support/databases.py): copies of the run's template, made and
dropped over one admin connection per process."""

from __future__ import annotations

import os
import secrets

import psycopg

from deploy.migrate import with_database
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


def test_a_copy_has_the_privileges_of_the_migrated_template(pg_server: str, template_database: str) -> None:
    """The privileges on a database itself are the server's (pg_database), not copied with it:
    each copy is given them. Those of sql/database.sql on the system catalog's functions are in
    the database's own catalog, copied with it."""
    name = f"test_{secrets.token_hex(4)}"
    url = databases.create_database(pg_server, name, template_database)
    try:
        with psycopg.connect(pg_server) as server:
            acl = "select datacl::text[] from pg_database where datname = %s"
            template_acl = server.execute(acl, [template_database]).fetchone()
            assert template_acl is not None
            assert template_acl[0] is not None  # migrate gave it its privileges
            assert server.execute(acl, [name]).fetchone() == template_acl
        functions = (
            "select array_agg((oid::regprocedure, proacl)::text order by oid) from pg_proc"
            " where pronamespace = 'pg_catalog'::regnamespace and proacl is not null"
        )
        with psycopg.connect(with_database(pg_server, template_database)) as template:
            of_template = template.execute(functions).fetchone()
        with psycopg.connect(url) as copy:
            assert copy.execute(functions).fetchone() == of_template
            assert copy.execute(
                "select has_database_privilege('public', current_database(), 'temporary'),"
                " has_database_privilege('blossom_owner', current_database(), 'create, temporary')"
            ).fetchone() == (False, True)
    finally:
        databases.drop_database(pg_server, name)
