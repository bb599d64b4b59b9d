"""Databases for tests: copies of the run's migrated template, with the tests' settings."""

from __future__ import annotations

import psycopg
from psycopg import sql

from deploy.migrate import database_privileges, with_database

# bcrypt at its minimum cost keeps sign-ups and logins fast; production keeps the default 12.
TEST_BCRYPT_COST = "4"


def create_database(server_url: str, name: str, template: str = "template1") -> str:
    """Database `name`, a copy of `template`, on the server; returns its admin URL."""
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
    url = with_database(server_url, name)
    if template not in ("template0", "template1"):
        # A copy of a migrated database has its functions' privileges but not its own.
        with psycopg.connect(url, autocommit=True) as conn:
            database_privileges(conn)
    return url


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
