"""The operators' views through a real login as panopticon (sql/views/admin.sql), and
`just psql-admin`. sql/tests/admin_views.sql states the rest; what needs a login of its own is
here: the read-only start of its sessions, and SET ROLE, which the login decides."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from psycopg import errors, sql

from deploy.migrate import one_migrate_at_a_time
from ops.settings import ROOT, with_user
from tests.support.orgs_db import make_org, make_user

VIEWS = (
    "users",
    "organizations",
    "memberships",
    "active_sessions",
    "audit_events",
    "outbox_health",
    "failed_deliveries",
    "job_queue",
    "rate_limit_pressure",
    "ai_usage",
    "organization_deletions",
)


@pytest.fixture
def seeded(database_url: str) -> tuple[str, str]:
    """Two tenants, made as the admin: (the first one's id, the second one's)."""
    with psycopg.connect(database_url) as conn:
        ann, bob = make_user(conn, "ann"), make_user(conn, "bob")
        return make_org(conn, "Acme", {ann: "owner"}), make_org(conn, "Bobco", {bob: "owner", ann: "member"})


def panopticon(database_url: str) -> psycopg.Connection:
    return psycopg.connect(with_user(database_url, "panopticon"), autocommit=True)


def test_panopticon_reads_every_view_across_tenants(database_url: str, seeded: tuple[str, str]) -> None:
    with panopticon(database_url) as conn:
        for view in VIEWS:
            conn.execute(f"select * from admin.{view}").fetchall()
        rows = conn.execute("select id, members from admin.organizations order by name").fetchall()
    assert rows == [(seeded[0], 1), (seeded[1], 2)]


def test_its_sessions_start_read_only(database_url: str) -> None:
    with panopticon(database_url) as conn:
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute("create temporary table notes (id int)")


REFUSED = (
    "select * from app.users",
    "select * from app.user_secrets",
    "select * from jobs.procrastinate_jobs",
    "insert into admin.memberships (org_id, user_id, role) values ('org_x', 'usr_x', 'owner')",
    "update admin.users set display_name = 'mallory'",
    "delete from admin.audit_events",
    "create table admin.notes (id int)",
    "set role blossom_owner",
    "set role admin_reader",
    "set role postgres",
    "select pipeline.purge_auth()",
    # What every role could do unless told otherwise (sql/database.sql): hold an advisory lock
    # that logins or an organization's changes wait on, make a table or a large object.
    "select pg_advisory_lock(1)",
    "select pg_try_advisory_xact_lock(1)",
    "select pg_advisory_lock_shared(1, 2)",
    "create temporary table notes (id int)",
    "select lo_from_bytea(0, 'a write')",
    "select lo_create(0)",
    # A write of any size into the write-ahead log, in a read-only transaction too: 48 MB a call.
    "select pg_logical_emit_message(false, 'x', repeat('x', 1000))",
    # The server's files, settings and programs, which a role granted none of Postgres's
    # predefined roles may not reach (sql/roles.sql takes back any membership it did not give).
    "select pg_read_file('postgresql.conf')",
    "select pg_ls_dir('.')",
    "select lo_import('/etc/hostname')",
    "copy (select 1) to '/tmp/panopticon'",
    "copy (select 1) to program 'true'",
    "select * from pg_file_settings",
    "select current_setting('primary_conninfo')",
    "set session authorization postgres",
    "select pg_reload_conf()",
    "select pg_stat_reset()",
)


def test_it_is_refused_the_rest_even_in_a_writable_transaction(database_url: str) -> None:
    with panopticon(database_url) as conn:
        for statement in REFUSED:
            with conn.transaction(force_rollback=True):
                conn.execute("set transaction read write")
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(statement)


def test_its_temporary_files_are_bounded_for_good(database_url: str) -> None:
    """A query needs no table to write temporary files: `select count(*) from generate_series(1,
    1e10)` spills its rows to disk, as does any large sort or hash, until the disk is full (where
    Postgres cannot write its write-ahead log, and stops every session). panopticon may lift its
    statement timeout, so nothing bounded that. Its temp_file_limit is a superuser's setting: it
    may not lift it, neither for the session nor for its later ones."""
    with panopticon(database_url) as conn:
        assert conn.execute("show temp_file_limit").fetchone() == ("1GB",)
        for attempt in (
            "set temp_file_limit = -1",
            "alter role panopticon set temp_file_limit = -1",
            "alter role panopticon reset temp_file_limit",
        ):
            with conn.transaction(force_rollback=True):
                conn.execute("set transaction read write")
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(attempt)


COUNT_AS_WHO = "select current_user, count(*) from admin.organizations"


@pytest.mark.parametrize("recipe", ["psql", "psql-admin"])
def test_psqls_options_are_psqls_own(database_url: str, recipe: str) -> None:
    """`./dev psql -h HOST` (psql's host) or `--help` showed the recipe runner's usage (`stack.py
    psql [-h] ...`) and ran no psql: every argument after the recipe is psql's, its -h included."""
    answer = _recipe(database_url, recipe, "--help")
    assert "psql is the PostgreSQL interactive terminal." in answer.stdout, answer.stdout


def _recipe(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`./dev ARGUMENTS` on the test's database."""
    return subprocess.run(
        [sys.executable, "-m", "ops.stack", *arguments],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_psql_admin_opens_psql_as_panopticon(database_url: str, seeded: tuple[str, str]) -> None:
    answer = _recipe(database_url, "psql-admin", "-Atc", COUNT_AS_WHO)
    assert answer.stdout.strip() == "panopticon|2"


def test_psql_admin_starts_read_only_whatever_the_roles_default(database_url: str) -> None:
    """panopticon may lift its own read-only default (ALTER ROLE itself), and every later session
    of it started writable until the next migrate set it again: psql-admin asks for a read-only
    start itself, whatever the role's default. Its privileges refuse every write either way."""
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    # Another test's migrate would reset the role's defaults meanwhile (sql/roles.sql).
    with one_migrate_at_a_time(database_url):
        with panopticon(database_url) as conn:
            conn.execute("set default_transaction_read_only = off")
            conn.execute(
                sql.SQL(
                    "alter role panopticon in database {} set default_transaction_read_only = off"
                ).format(sql.Identifier(str(dbname)))
            )
        with panopticon(database_url) as conn:
            assert conn.execute("show default_transaction_read_only").fetchone() == ("off",)
        answer = _recipe(database_url, "psql-admin", "-Atc", "show default_transaction_read_only")
    assert answer.stdout.strip() == "on"
