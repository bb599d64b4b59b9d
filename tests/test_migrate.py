"""`just migrate`: idempotent, and the stateless layer follows the files exactly."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import procrastinate
import psycopg
import pytest
from psycopg import sql

from blossom_db.connections import Connection
from blossom_db.settings import CONNECTION_DEFAULTS
from deploy import migrate as migrate_module
from deploy.migrate import (
    DATABASE_FILE,
    JOBS_SCHEMA_LAST_MIGRATION,
    ROLES_FILE,
    STATELESS_MANIFEST,
    ManifestError,
    MigrationError,
    RolesFileError,
    SqlFileError,
    apply_migrations,
    apply_stateless,
    declared_roles,
    migrate,
    one_migrate_at_a_time,
    rollback,
    run_file,
    stateless_files,
    stateless_unchanged,
    with_database,
)
from ops.schema_check import bootstrap_in_turn, normalized_dump
from ops.scratch import free_port
from ops.settings import with_user
from tests.support.databases import create_database, drop_database, tcp_keepalives, waiting_for


def _yoyo_log_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from blossom_meta._yoyo_log").fetchone()
        assert row is not None
        return int(row[0])


def test_migrating_twice_changes_nothing(database_url: str) -> None:
    rows_before, dump_before = _yoyo_log_rows(database_url), normalized_dump(database_url)
    migrate(database_url, quiet=True)
    assert _yoyo_log_rows(database_url) == rows_before, "no new rows in yoyo's log"
    assert normalized_dump(database_url) == dump_before, "the same pg_dump"


def _use_layer(monkeypatch: pytest.MonkeyPatch, base: Path, *files: str) -> None:
    """A stateless layer of these files (paths relative to `base`), in this order."""
    manifest = base / "stateless.txt"
    manifest.write_text("".join(f"{name}\n" for name in files))
    monkeypatch.setattr(migrate_module, "STATELESS_MANIFEST", manifest)


def _exists(url: str, query: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone() is not None


def test_a_function_or_policy_deleted_from_the_files_is_gone_after_migrate(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("create table app.probe (id int primary key)")
        conn.execute("alter table app.probe owner to blossom_owner")
    functions, policies = tmp_path / "functions", tmp_path / "policies"
    functions.mkdir()
    policies.mkdir()
    (functions / "probe.sql").write_text(
        "create function api.probe() returns int language sql stable as $$ select 1 $$;\n"
        "create function app.probe_visible() returns boolean language sql stable as $$ select true $$;\n"
    )
    (policies / "probe.sql").write_text(
        "create policy probe_read on app.probe for select using ((select app.probe_visible()));\n"
        "grant execute on function api.probe() to web_anon;\n"
    )
    _use_layer(monkeypatch, tmp_path, "functions/probe.sql", "policies/probe.sql")
    apply_stateless(database_url)
    assert _exists(database_url, "select from pg_proc where proname = 'probe'")
    assert _exists(database_url, "select from pg_policy where polname = 'probe_read'")
    assert _exists(
        database_url, "select from pg_proc where proname = 'probe' and proacl::text like '%web_anon%'"
    )

    (policies / "probe.sql").write_text("")
    (functions / "probe.sql").write_text(
        "create function app.probe_visible() returns boolean language sql stable as $$ select true $$;\n"
    )
    apply_stateless(database_url)
    assert not _exists(database_url, "select from pg_proc where proname = 'probe'")
    assert not _exists(database_url, "select from pg_policy where polname = 'probe_read'")
    assert _exists(database_url, "select from pg_proc where proname = 'probe_visible'")
    assert _exists(database_url, "select from pg_class where relname = 'probe'"), "tables are never dropped"


def test_a_broken_file_names_itself_and_leaves_the_layer_as_it_was(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = normalized_dump(database_url)
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "a_good.sql").write_text(
        "create function api.half_applied() returns int language sql stable as $$ select 1 $$;\n"
    )
    (tmp_path / "functions" / "b_broken.sql").write_text("\n\ncreate function api.broken( returns int;\n")
    _use_layer(monkeypatch, tmp_path, "functions/a_good.sql", "functions/b_broken.sql")
    with pytest.raises(SqlFileError, match=r"b_broken\.sql:3: syntax error"):
        apply_stateless(database_url)
    assert not _exists(database_url, "select from pg_proc where proname = 'half_applied'")
    assert normalized_dump(database_url) == before


def test_a_warning_of_an_sql_file_reaches_the_operator(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sql/roles.sql and sql/database.sql warn of what an admin user that is not a superuser could
    not do (the lock functions left PUBLIC's, the login roles' temporary files unbounded …), and
    the docs say migrate warns. psycopg drops a notice no handler takes: no warning was ever shown.
    A file's warnings are written on stderr; its notices of less weight are not."""
    (tmp_path / "warns.sql").write_text(
        "do $$ begin raise notice 'a notice';"
        " raise warning 'sql/x.sql: % may not do that', 'clerk'; end $$;\n"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        run_file(conn, tmp_path / "warns.sql")
    assert capsys.readouterr().err == "migrate: warning: sql/x.sql: clerk may not do that\n"


def test_the_warnings_of_database_sql_name_the_database_they_are_of(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """sql/database.sql runs in the application's database and in the server's `postgres`: an
    admin user that is not a superuser read each of its warnings twice, word for word, not
    knowing which database either was of."""
    clerk = f"clerk_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(clerk)))
        try:
            with psycopg.connect(with_user(database_url, clerk), autocommit=True) as conn:
                database = conn.info.dbname
                run_file(conn, DATABASE_FILE)
        finally:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(clerk)))
    warned = [line for line in capsys.readouterr().err.splitlines() if "sql/database.sql" in line]
    assert warned == [
        f"migrate: warning: sql/database.sql, database {database}: {clerk} is not a superuser,"
        " so every role may still take advisory locks, read the lock table, create large objects"
        " and write messages into the write-ahead log"
    ]


# Roles are the server's, and the modules that run beside this one restate them (each migrate,
# restore and schema check, in turn under migrate's lock): a test here alters them holding that
# lock too, or both may fail with `tuple concurrently updated`.


def test_a_policy_is_the_same_whatever_order_pg_dump_lists_its_roles_in(database_url: str) -> None:
    """Every migrate re-states the roles, which rewrites their rows, and pg_dump lists a
    policy's roles in the order it finds those rows: the dump must not see that as a change."""
    with one_migrate_at_a_time(database_url) as conn:
        conn.execute("alter role org_lister nologin")
        conn.execute("alter role membership_reader nologin")
    first = [line for line in normalized_dump(database_url) if line.startswith("CREATE POLICY own_rows")]
    with one_migrate_at_a_time(database_url) as conn:
        conn.execute("alter role membership_reader nologin")
        conn.execute("alter role org_lister nologin")
    assert [
        line for line in normalized_dump(database_url) if line.startswith("CREATE POLICY own_rows")
    ] == first
    assert "TO membership_reader, org_lister USING" in first[0]


def test_the_manifest_names_what_it_misses_repeats_or_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "listed.sql").write_text("")
    (tmp_path / "functions" / "forgotten.sql").write_text("")
    _use_layer(monkeypatch, tmp_path, "functions/listed.sql")
    with pytest.raises(ManifestError, match=r"functions/forgotten\.sql is not listed"):
        stateless_files()
    _use_layer(
        monkeypatch, tmp_path, "functions/listed.sql", "functions/forgotten.sql", "functions/listed.sql"
    )
    with pytest.raises(ManifestError, match=r"functions/listed\.sql is listed twice"):
        stateless_files()
    _use_layer(monkeypatch, tmp_path, "functions/listed.sql", "functions/forgotten.sql", "views/gone.sql")
    with pytest.raises(ManifestError, match=r"views/gone\.sql is listed but does not exist"):
        stateless_files()


def test_an_sql_body_function_may_call_a_helper_loaded_before_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In path order, api/ came before app/ and util/: a `begin atomic` API function calling
    util.parse_id could not be made. The manifest loads the helpers first."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "probe.sql").write_text(
        "create function api.probe_id(org_id text) returns text language sql immutable\n"
        "begin atomic select util.parse_id(org_id, 'org'); end;\n"
        "grant execute on function api.probe_id(text) to web_anon;\n"
    )
    manifest = [line.strip() for line in STATELESS_MANIFEST.read_text().splitlines()]
    layer = tmp_path / "layer"
    shutil.copytree(STATELESS_MANIFEST.parent, layer, ignore=shutil.ignore_patterns("tests", "schema"))
    (layer / "functions" / "api" / "zz_probe.sql").write_text(
        (tmp_path / "functions" / "probe.sql").read_text()
    )
    files = [line for line in manifest if line and not line.startswith("#")]
    _use_layer(monkeypatch, layer, *files, "functions/api/zz_probe.sql")
    apply_stateless(database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select api.probe_id('org_01jd8x0000000000000000000a'), api.probe_id('usr_x')"
        ).fetchone()
    assert row == ("org_01jd8x0000000000000000000a", None)


def test_the_roles_read_from_roles_sql_are_the_roles_it_makes(database_url: str) -> None:
    roles = declared_roles()
    assert {"blossom_owner", "authenticator", "web_anon", "edge"} <= set(roles)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select rolname, rolcanlogin from pg_roles where rolname = any(%s)", [list(roles)]
        ).fetchall()
    made = {str(name): bool(login) for name, login in rows}
    assert made == {name: "login" in attributes for name, attributes in roles.items()}


def test_a_role_added_to_roles_sql_alone_gets_its_password_and_loses_stray_grants(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing but roles.sql lists the roles: a role added there logs in with
    BLOSSOM_<ROLE>_PASSWORD, and migrate revokes a grant to it that no file makes."""
    role = f"probe_{secrets.token_hex(3)}"
    text = ROLES_FILE.read_text()
    added = text.replace('"blossom_owner":', f'"{role}": "login noinherit",\n    "blossom_owner":', 1)
    assert added != text
    (tmp_path / "roles.sql").write_text(added)
    monkeypatch.setattr(migrate_module, "ROLES_FILE", tmp_path / "roles.sql")
    monkeypatch.setenv(f"BLOSSOM_{role.upper()}_PASSWORD", "probe-secret")
    granted = (
        "select from pg_namespace n, aclexplode(n.nspacl) a"
        f" where n.nspname = 'app' and a.grantee = '{role}'::regrole"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements")
    try:
        migrate(database_url, quiet=True)
        assert _exists(database_url, f"select from pg_authid where rolname = '{role}' and rolcanlogin")
        assert _exists(
            database_url,
            f"select from pg_authid where rolname = '{role}' and rolpassword like 'SCRAM-SHA-256$%'",
        )
        # The password is set by its verifier: no statement the server keeps holds it.
        assert not _exists(database_url, "select from pg_stat_statements where query like '%probe-secret%'")
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("grant usage on schema app to {}").format(sql.Identifier(role)))
        assert _exists(database_url, granted)
        migrate(database_url, quiet=True)
        assert not _exists(database_url, granted)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_what_a_role_set_for_itself_is_undone_by_the_next_migrate(database_url: str) -> None:
    """A role may ALTER ROLE itself SET anything a session may set, and it stays: panopticon
    could start every later session writable. migrate states every role's defaults again."""
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with (
        one_migrate_at_a_time(database_url),
        psycopg.connect(with_user(database_url, "panopticon"), autocommit=True) as conn,
    ):
        conn.execute("begin read write")
        conn.execute(
            sql.SQL("alter role panopticon in database {} set default_transaction_read_only = off").format(
                sql.Identifier(str(dbname))
            )
        )
        conn.execute("alter role panopticon set statement_timeout = 0")
        conn.execute("commit")
        # Before the lock is let go: another test's migrate resets them too.
        with psycopg.connect(with_user(database_url, "panopticon")) as seen:
            assert seen.execute("show default_transaction_read_only").fetchone() == ("off",)
    migrate(database_url, quiet=True)
    with psycopg.connect(with_user(database_url, "panopticon")) as conn:
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("show statement_timeout").fetchone() == ("2min",)


def test_what_a_role_set_for_itself_in_another_database_is_undone_too(database_url: str) -> None:
    """panopticon may connect to the server's `postgres` database, and set its own defaults
    there (ALTER ROLE itself IN DATABASE postgres): migrate reset them only in its own
    database, and panopticon's sessions there started writable for good."""
    postgres_url = with_user(with_database(database_url, "postgres"), "panopticon")
    try:
        with one_migrate_at_a_time(database_url), psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("begin read write")
            conn.execute("alter role panopticon in database postgres set default_transaction_read_only = off")
            conn.execute("commit")
            with psycopg.connect(postgres_url) as seen:  # before another test's migrate resets it
                assert seen.execute("show default_transaction_read_only").fetchone() == ("off",)
        migrate(database_url, quiet=True)
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
    finally:
        with one_migrate_at_a_time(database_url) as conn:
            conn.execute("alter role panopticon in database postgres reset all")


def _default_privileges_of(url: str, roles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select r.rolname, coalesce(n.nspname, ''), d.defaclobjtype::text from pg_default_acl d"
            " join pg_roles r on r.oid = d.defaclrole left join pg_namespace n on n.oid = d.defaclnamespace"
            " where r.rolname = any(%s) order by 1, 2, 3",
            (list(roles),),
        ).fetchall()
    return [(str(role), str(schema), str(kind)) for role, schema, kind in rows]


def test_default_privileges_a_role_set_for_itself_are_undone_by_the_next_migrate(
    database_url: str, pg_server: str
) -> None:
    """Any role may ALTER DEFAULT PRIVILEGES for itself, a row in the database's catalog that
    stays: panopticon, read-only, wrote them in ours and in the server's `postgres` database, and
    authenticator as the `authenticated` it may become, and migrate left them there. They grant
    nothing today (no role of ours but the owner may create anything), but what a role of ours
    may keep is what migrate states, as with the defaults a role sets for itself."""
    postgres_url = with_database(pg_server, "postgres")
    kept = ("panopticon", "authenticated")
    # As (login, database, the role it is then, what it does with its own default privileges).
    written = [
        ("panopticon", database_url, "panopticon", "grant all on tables to public"),
        ("panopticon", database_url, "panopticon", "revoke all on functions from public"),
        ("panopticon", database_url, "panopticon", "revoke all on schemas from panopticon"),
        ("panopticon", database_url, "panopticon", "in schema admin grant all on sequences to public"),
        ("panopticon", postgres_url, "panopticon", "revoke all on types from public"),
        ("authenticator", database_url, "authenticated", "grant select on tables to web_anon"),
    ]
    try:
        with one_migrate_at_a_time(database_url):
            for login, url, role, change in written:
                with psycopg.connect(with_user(url, login), autocommit=True) as conn:
                    conn.execute("set default_transaction_read_only = off")
                    conn.execute(f"set role {role}".encode())
                    conn.execute(f"alter default privileges for role {role} {change}".encode())
            # Before the lock is let go: another test's migrate would undo them too.
            assert len(_default_privileges_of(database_url, kept)) == 5
            assert _default_privileges_of(postgres_url, kept) == [("panopticon", "", "T")]
        migrate(database_url, quiet=True)
        assert _default_privileges_of(database_url, kept) == []
        assert _default_privileges_of(postgres_url, kept) == []
        # The owner's own stay: functions it makes are nobody else's to call.
        assert _default_privileges_of(database_url, ("blossom_owner",)) == [("blossom_owner", "", "f")]
    finally:
        with one_migrate_at_a_time(database_url) as conn:
            conn.execute("alter default privileges for role panopticon grant usage on types to public")


def test_a_change_of_its_own_role_a_login_keeps_open_fails_the_roles_soon_saying_so(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login may change its own settings (or default privileges) in a transaction it keeps
    open: the next migrate waited for it as long as that session lasted (panopticon's idle
    timeout, 5 minutes), then failed with Postgres's "tuple concurrently updated" when it
    committed. It waits briefly, and says what holds it; roles.sql changes nothing."""
    monkeypatch.setattr(migrate_module, "ROLE_ROWS_WAIT", "300ms")
    with (
        one_migrate_at_a_time(database_url) as admin,
        psycopg.connect(with_user(database_url, "panopticon")) as holder,
    ):
        holder.execute("set transaction read write")
        holder.execute("alter role panopticon set work_mem = '1MB'")
        began = time.monotonic()
        with pytest.raises(SqlFileError, match="another session changed a role of ours and keeps") as refused:
            migrate_module.make_roles(admin)
        assert time.monotonic() - began < 5
        assert "sql/roles.sql" in str(refused.value)
        holder.rollback()
        (settings,) = admin.execute(
            "select array_to_string(setconfig, ',') from pg_db_role_setting"
            " where setrole = 'panopticon'::regrole and setdatabase = 0"
        ).fetchone() or ("",)
        assert "statement_timeout=2min" in settings, "its settings are as the last migrate left them"
        assert "work_mem" not in settings


def test_a_database_dropped_while_the_roles_are_made_fails_no_migrate(
    database_url: str, pg_server: str
) -> None:
    """roles.sql undoes a role's own defaults in every database it set them for; one of those
    dropped meanwhile (another deployment's, a test's) failed the migrate: "database … was
    concurrently dropped". Its settings went with it: nothing is left to undo there."""
    name = f"dropped_{secrets.token_hex(4)}"
    doomed_url = create_database(pg_server, name, "template0")
    with one_migrate_at_a_time(database_url), psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("alter role panopticon in database {} set work_mem = '1MB'").format(sql.Identifier(name))
        )
        # The drop takes the database's lock, then waits for this connection to leave.
        with psycopg.connect(doomed_url, autocommit=True):
            dropper = psycopg.connect(pg_server, autocommit=True)
            dropper_pid = dropper.info.backend_pid
            drop, dropped = _in_thread(
                lambda: dropper.execute(sql.SQL("drop database {}").format(sql.Identifier(name)))
            )
            while admin.execute(
                "select wait_event is distinct from 'ClientRead' and state = 'active'"
                " from pg_stat_activity where pid = %s",
                [dropper_pid],
            ).fetchone() != (True,):
                time.sleep(0.01)
            roles = psycopg.connect(database_url, autocommit=True)
            made, outcome = _in_thread(partial(migrate_module.run_file, roles, ROLES_FILE))
            while waiting_for(admin, dropper_pid) != roles.info.backend_pid and made.is_alive():
                time.sleep(0.01)
        drop.join()
        made.join()
        dropper.close()
        roles.close()
    assert not isinstance(dropped[0], Exception), dropped
    assert outcome == [None], outcome


def test_a_role_that_existed_with_other_rights_is_stripped_of_them(database_url: str) -> None:
    """A server whose roles exist already (a restore into it, a reused server): roles.sql stated
    `login noinherit` alone, and a worker that was a superuser, an `authenticated` that bypassed
    Row Level Security, an edge that could make roles and a web_anon that read every table
    (pg_read_all_data) kept it, through migrate and restore."""
    extra = {
        "worker": "alter role worker superuser",
        "authenticated": "alter role authenticated bypassrls",
        "edge": "alter role edge createrole createdb replication connection limit 1",
        "web_anon": "grant pg_read_all_data to web_anon",
        # Granted by another role: from Postgres 16 on, a plain revoke by the admin left it.
        "session_reader": "create role blossom_test_grantor;"
        " grant pg_read_all_data to session_reader granted by blossom_test_grantor",
        # Granted by a role since dropped: Postgres 15 keeps the grantor's oid, with no name.
        "org_lister": "create role blossom_test_gone;"
        " grant pg_read_all_data to org_lister granted by blossom_test_gone; drop role blossom_test_gone",
    }
    rights = (
        "select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication, rolconnlimit,"
        " exists (select from pg_auth_members m where m.member = r.oid"
        "         and m.roleid = 'pg_read_all_data'::regrole)"
        " from pg_roles r where rolname = any(%s) order by 1"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            with one_migrate_at_a_time(database_url) as roles:
                for statement in extra.values():
                    roles.execute(statement.encode())
            migrate(database_url, quiet=True)
            stated = conn.execute(rights, [list(extra)]).fetchall()
        finally:
            with one_migrate_at_a_time(database_url) as roles:
                roles.execute(
                    "alter role worker nosuperuser; alter role authenticated nobypassrls;"
                    " alter role edge nocreaterole nocreatedb noreplication connection limit -1;"
                    " revoke pg_read_all_data from web_anon; drop role if exists blossom_test_grantor"
                )
    assert stated == [(role, False, False, False, False, False, -1, False) for role in sorted(extra)]


def test_a_database_of_a_newer_release_is_refused_and_left_as_it_is(database_url: str) -> None:
    """A database migrated by a newer release (a backup of it restored, a deploy undone without
    its rollback): the older code's migrate applied its stateless layer over the newer schema,
    functions of the old release on tables of the new, and said it had migrated."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into blossom_meta._yoyo_migration (migration_hash, migration_id, applied_at_utc)"
            " values ('future', '9999.from_a_newer_release', now())"
        )
        conn.execute("update blossom_meta.stateless_state set files = 'a newer release''s files'")
        before = conn.execute("select files, catalog from blossom_meta.stateless_state").fetchone()
    for rollback_to in ([], ["--rollback-to", "0001.platform"]):
        done = subprocess.run(
            [sys.executable, "-m", "deploy.migrate", "--database-url", database_url, *rollback_to],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode != 0
        assert done.stderr.strip().splitlines() == [
            "migrate: the database has migration(s) this code does not: 9999.from_a_newer_release;"
            " migrate it with the code of the release that made them (or roll them back with it)"
        ]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select files, catalog from blossom_meta.stateless_state").fetchone() == before


def test_a_roles_file_without_its_roles_object_names_itself(tmp_path: Path) -> None:
    (tmp_path / "roles.sql").write_text("create role someone;\n")
    with pytest.raises(RolesFileError, match=r"roles\.sql: want one `wanted constant jsonb"):
        declared_roles(tmp_path / "roles.sql")


def _forget_the_layers_state(url: str) -> None:
    """As if the files had changed: the next migrate re-applies the stateless layer."""
    with psycopg.connect(url) as conn:
        conn.execute("delete from blossom_meta.stateless_state")


def test_migrates_at_once_take_turns(database_url: str, pg_server: str, template_database: str) -> None:
    """Deploys overlap: each migrate waits for the one before, of the same database or of another
    of the server, whose roles are the same (two at once failed with "tuple concurrently
    updated" on the roles, or deadlocked in the stateless layer)."""
    other = f"test_{secrets.token_hex(4)}"
    other_url = create_database(pg_server, other, template_database)
    try:
        for url in (database_url, other_url):
            _forget_the_layers_state(url)
        failures: list[BaseException] = []

        def run(url: str) -> None:
            try:
                migrate(url, quiet=True)
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

        threads = [threading.Thread(target=run, args=(url,)) for url in (database_url, other_url) * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a migrate never ended"
        assert failures == []
    finally:
        drop_database(pg_server, other)


@contextmanager
def _a_long_read(url: str) -> Iterator[psycopg.Connection]:
    """A transaction that has read app.memberships and stays open (an admin's psql session)."""
    with psycopg.connect(url) as conn:
        conn.execute("select count(*) from app.memberships").fetchone()
        yield conn


def test_a_migrate_with_nothing_to_do_waits_for_no_table(database_url: str) -> None:
    migrate(database_url, quiet=True)
    with _a_long_read(database_url):
        done = threading.Thread(target=migrate, args=(database_url,), kwargs={"quiet": True})
        done.start()
        done.join(timeout=10)
        assert not done.is_alive(), "migrate waited for a read of the application's tables"


def _request_waits(database_url: str, *, count: int, give_up: str, pause: float) -> list[float]:
    """How long each of `count` requests on app.memberships, `pause` apart, waited while migrate
    works behind a long read; each given up after `give_up` (else it waited for the read's end)."""
    waits = []
    with psycopg.connect(database_url, autocommit=True) as request:
        request.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(give_up)))
        for _ in range(count):
            started = time.monotonic()
            with suppress(psycopg.errors.QueryCanceled):
                request.execute("select count(*) from app.memberships").fetchone()
            waits.append(time.monotonic() - started)
            time.sleep(pause)
    return waits


def test_a_migrate_that_must_wait_for_a_table_holds_up_no_request_for_long(database_url: str) -> None:
    """The layer is re-applied while a long read holds a table: migrate gives way after a short
    wait and tries again, so the requests that queue behind its lock wait at most that long;
    once the read ends, migrate finishes."""
    _forget_the_layers_state(database_url)
    with _a_long_read(database_url) as reader:
        done = threading.Thread(target=migrate, args=(database_url,), kwargs={"quiet": True})
        done.start()
        time.sleep(0.3)
        waits = _request_waits(database_url, count=5, give_up="3s", pause=0.2)
        assert max(waits) < 1.5, waits
        reader.commit()
        done.join(timeout=30)
        assert not done.is_alive(), "migrate did not finish once the read ended"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select count(*) from blossom_meta.stateless_state").fetchone() == (1,)


@pytest.mark.parametrize("role", ["panopticon", "pipeline", "worker", "authenticator", "edge"])
def test_the_login_roles_write_in_no_other_database_of_the_server(
    pg_server: str, database_url: str, role: str
) -> None:
    """sql/database.sql takes PUBLIC's temporary tables, large objects and advisory locks away in
    the server's `postgres` database too, and its connections to template1, whose objects every
    new database copies. They were left there: panopticon, read-only in ours, made a large object
    in template1, and the next database made had it."""
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(with_user(with_database(pg_server, "template1"), role)).close()
    with psycopg.connect(with_user(pg_server, role), autocommit=True) as conn:
        conn.execute("set default_transaction_read_only = off")
        for attempt in (
            "create temporary table scratch (a integer)",
            "select pg_catalog.lo_from_bytea(0, 'x')",
            "select pg_catalog.lo_create(0)",
            "select pg_catalog.pg_advisory_lock(1)",
            "select pg_catalog.pg_try_advisory_xact_lock(1)",
            "select pg_catalog.pg_logical_emit_message(false, 'x', 'y')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attempt)


@pytest.mark.parametrize("role", ["panopticon", "pipeline", "worker", "authenticator", "edge"])
@pytest.mark.parametrize("where", ["the application's database", "the server's postgres database"])
def test_no_login_role_reads_the_lock_a_login_holds(
    pg_server: str, database_url: str, role: str, where: str
) -> None:
    """A login holds the advisory lock of the text typed as its address while bcrypt runs
    (app.lock_rate_key), whose key is the first 64 bits of an unsalted sha256 of that text: any
    role could read it in pg_locks, from any database of the server, and match it against a
    dictionary offline. That text is often a password typed in the wrong field (auth.login).
    pg_locks is Postgres's lock table, every session's, of every database, PUBLIC's to read."""
    typed = "hunter2!"
    url = database_url if where == "the application's database" else pg_server
    with psycopg.connect(database_url) as login, psycopg.connect(with_user(url, role)) as other:
        login.execute("select app.lock_rate_key('login', %s)", (typed,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            other.execute(
                "select (classid::bigint << 32) | objid::bigint from pg_catalog.pg_locks"
                " where locktype = 'advisory' and objsubid = 1"
            )


def test_a_migration_that_fails_or_cannot_be_placed_is_named(database_url: str, tmp_path: Path) -> None:
    """A failing migration said only Postgres's error (`division by zero`), and one that depends
    on a migration that is not there ended in yoyo's traceback."""
    (tmp_path / "9001_first.sql").write_text("create schema probe_first;\n")
    (tmp_path / "9002_divide.sql").write_text(
        "-- depends: 9001_first\ncreate schema probe_gone;\nselect 1/0;\n"
    )
    with pytest.raises(MigrationError, match=r"migration 9002_divide failed, rolled back: division by zero"):
        apply_migrations(database_url, tmp_path)
    assert _exists(database_url, "select from pg_namespace where nspname = 'probe_first'")
    assert not _exists(database_url, "select from pg_namespace where nspname = 'probe_gone'")
    (tmp_path / "9002_divide.sql").write_text("-- depends: 0000_not_there\nselect 1;\n")
    with pytest.raises(MigrationError, match=r"^migrations: Could not resolve dependencies in .*9002_divide"):
        apply_migrations(database_url, tmp_path)


def test_the_audit_index_migration_builds_again_over_a_failed_build(database_url: str) -> None:
    """0018 builds its index concurrently, outside a transaction: a build that failed (a timeout,
    a cancel) leaves an invalid index of that name. Migrating again drops it and builds it: a
    guard refused instead, with a hint whose index yoyo's own clean-up had dropped meanwhile."""
    migration = "0018.audit_events_at_index"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from blossom_meta._yoyo_migration where migration_id = %s", (migration,))
        conn.execute(
            "update pg_index set indisvalid = false where indexrelid = 'app.audit_events_at_idx'::regclass"
        )
    assert apply_migrations(database_url) == [migration]
    assert _exists(
        database_url,
        "select from pg_index where indexrelid = 'app.audit_events_at_idx'::regclass and indisvalid",
    )


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select migration_id from blossom_meta._yoyo_migration order by migration_id")
        return [str(migration_id) for (migration_id,) in rows]


def test_a_rollback_waits_out_a_long_read_as_migrate_does(database_url: str) -> None:
    """Dropping the stateless layer takes the tables' locks, each waited for a short while, as
    migrate applies it: a rollback behind an admin's open read failed at the first try ("canceling
    statement due to lock timeout"), where migrate tries again until the read is over."""
    applied = _applied(database_url)
    with _a_long_read(database_url) as reader:
        done, outcome = _in_thread(partial(rollback, database_url, applied[-2]))
        time.sleep(1.5)  # past its first try's wait
        reader.commit()
        done.join(timeout=30)
    assert outcome == [applied[-1:]], outcome
    migrate(database_url, quiet=True)
    assert _applied(database_url) == applied


def test_a_rollback_to_a_migration_not_applied_changes_nothing(database_url: str) -> None:
    applied = _applied(database_url)
    with pytest.raises(MigrationError, match=r"rollback: 9999\.later is not an applied migration"):
        rollback(database_url, "9999.later")
    assert _applied(database_url) == applied
    assert stateless_unchanged(database_url)


def test_a_rollback_to_an_empty_name_is_refused_and_migrates_nothing(database_url: str) -> None:
    """`--rollback-to "$TARGET"` with TARGET unset migrated forward and exited 0."""
    ran = subprocess.run(
        [sys.executable, "-m", "deploy.migrate", "--database-url", database_url, "--rollback-to", ""],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "rollback: name the last migration to keep" in ran.stderr


@pytest.mark.parametrize(
    ("given", "said"), [("0025", "did you mean 0025.slack_digest_claims?"), ("9999.later", "")]
)
def test_the_rollback_recipe_refuses_a_name_that_is_no_migration_before_it_asks(
    given: str, said: str
) -> None:
    """`./dev rollback 0025` asked to confirm first, and only then failed on the name (an id is
    whole). Refused before the question, and before any server is reached (this one is down)."""
    url = f"postgresql://admin@127.0.0.1:{free_port()}/blossom"
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "rollback", given],
        env=os.environ | {"DATABASE_URL": url}, input="y\n", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert "[y/N]" not in ran.stdout + ran.stderr
    assert ran.stderr.startswith(f"rollback: {given!r} is no migration of this code"), ran.stderr
    assert said in ran.stderr


def _rollbacks_that_leave_a_difference(
    server: str, migrations_dir: Path, planted: Path | None = None
) -> tuple[list[str], list[str]]:
    """Each migration in turn, on a database of migrations alone: applied, rolled back, the
    schema compared with the one before it, then applied again for the next. Where the folder
    `planted` (a copy of `migrations_dir`) has another rollback of it, that one is tried too,
    the same way, after the first and on the same schema before. The ids whose rollback does not
    give the schema before back, of `migrations_dir` and of `planted`."""
    from yoyo import read_migrations

    name = f"test_{secrets.token_hex(4)}"
    url = create_database(server, name)
    try:
        bootstrap_in_turn(url)
        backend = migrate_module._yoyo_backend(url)
        try:
            planted_ones = {} if planted is None else {m.id: m for m in read_migrations(str(planted))}
            differ: tuple[list[str], list[str]] = ([], [])
            for migration in backend.to_apply(read_migrations(str(migrations_dir))):
                rollback_file = f"{migration.id}.rollback.sql"
                tried = [(migration, differ[0])]
                if (
                    planted is not None
                    and (planted / rollback_file).read_bytes()
                    != (migrations_dir / rollback_file).read_bytes()
                ):
                    tried.append((planted_ones[migration.id], differ[1]))
                before = normalized_dump(url)
                for rolled_back, found in tried:
                    backend.apply_migrations_only([rolled_back])
                    backend.rollback_one(rolled_back)
                    if normalized_dump(url) != before:
                        found.append(migration.id)
                backend.apply_migrations_only([migration])
            return differ
        finally:
            backend.connection.close()
    finally:
        drop_database(server, name)


def test_each_rollback_gives_back_the_schema_before_its_migration(pg_server: str, tmp_path: Path) -> None:
    """Rolling every migration back and applying them all again compared only the end: a rollback
    that left what its migration made, which the migration makes again (an index it drops first, a
    comment, `create … if not exists`), passed. Each is compared with the schema before it; a
    rollback planted to leave 0024's comments, tried in the same walk, is named."""
    planted = tmp_path / "migrations"
    shutil.copytree(migrate_module.MIGRATIONS_DIR, planted)
    rollback_file = planted / "0024.ai_reported_tokens.rollback.sql"
    text = rollback_file.read_text()
    rollback_file.write_text(text[: text.index("comment on column")])
    assert _rollbacks_that_leave_a_difference(pg_server, migrate_module.MIGRATIONS_DIR, planted) == (
        [],
        ["0024.ai_reported_tokens"],
    )


@pytest.mark.parametrize(
    "password",
    ["ante/zulu", "ante@zulu", "ante%zulu", "ante?zulu", "ante#zulu", "ante@zulu?application_name=x"],
)
@pytest.mark.parametrize("given", ["DATABASE_URL", "--database-url"])
def test_migrate_shows_no_part_of_a_password_in_its_messages(password: str, given: str) -> None:
    """A password with an unencoded / @ or % is read by libpq with a part of it as the host or
    the port, or quoted in libpq's complaint: `migrate: failed to resolve host 'zulu@127.0.0.1'`.
    One with ? or # libpq reads as meant, and migrate's change of the URL's database (urlsplit's
    reading) cut it short, its rest in the message. Nothing of it is shown, whatever the form."""
    url = f"postgresql://admin:{password}@127.0.0.1:{free_port()}/blossom"
    arguments = ["--database-url", url] if given == "--database-url" else []
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    ran = subprocess.run(
        [sys.executable, "-m", "deploy.migrate", *arguments],
        env=environment | ({"DATABASE_URL": url} if given == "DATABASE_URL" else {}),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith("migrate: "), ran.stderr
    assert "Traceback" not in ran.stderr
    for part in ("ante", "zulu"):
        assert part not in ran.stdout + ran.stderr, ran.stderr


@pytest.mark.parametrize("module", ["deploy.migrate", "ops.stack"])
def test_a_server_out_of_reach_is_one_line_naming_where(module: str) -> None:
    """`./dev migrate` (ops.stack) and deploy/migrate.py on a server that is down printed libpq's
    two lines, the second a tab-indented hint (`migrate: \tIs the server running…`): one line
    now, naming the host and port, and no part of the password."""
    port = free_port()
    url = f"postgresql://admin:ante-zulu@127.0.0.1:{port}/blossom"
    ran = subprocess.run(
        [sys.executable, "-m", module, *(["migrate"] if module == "ops.stack" else [])],
        env=os.environ | {"DATABASE_URL": url}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    prefix = "migrate" if module == "deploy.migrate" else "blossom"
    assert ran.stderr.startswith(f"{prefix}: cannot reach the database server at 127.0.0.1:{port}: "), (
        ran.stderr
    )
    assert "Connection refused" in ran.stderr
    assert "ante" not in ran.stderr


# ---- a migration waiting for a lock ------------------------------------------------------------


def _in_thread(step: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """`step` (a migrate, a rollback) started in a thread of its own; the list gets what it
    returned, or the error it ended with."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(step())
        except Exception as error:  # noqa: BLE001 - the test reads what the thread ended with
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _has_probe_column(url: str) -> bool:
    return _exists(
        url,
        "select from pg_attribute where attrelid = 'app.memberships'::regclass and attname = 'probe'",
    )


def test_a_migration_behind_a_long_read_holds_up_requests_briefly_and_is_tried_again(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A migration written by `new-migration` whose ALTER waits behind an admin's open read: every
    request on the table queues behind its lock. It waited the template's lock_timeout (5 s, as
    long as the API's statement_timeout), so the requests timed out; it waits a moment, gives way,
    and is tried again until the read is over."""
    from ops.new_migration import TIMEOUTS

    monkeypatch.setattr(migrate_module, "ATTEMPT_PAUSE_SECONDS", 0.2)
    (tmp_path / "9001_probe.sql").write_text(
        TIMEOUTS + "alter table app.memberships add column probe text;\n"
    )
    with _a_long_read(database_url) as reader:
        done, outcome = _in_thread(partial(apply_migrations, database_url, tmp_path))
        time.sleep(0.2)
        waits = _request_waits(database_url, count=4, give_up="2s", pause=0.1)
        reader.commit()
        done.join(timeout=30)
    assert max(waits) < 1.0, waits
    assert outcome == [["9001_probe"]], outcome
    assert _has_probe_column(database_url)
    assert "migration 9001_probe waited too long for a lock" in capsys.readouterr().err


def test_a_read_longer_than_a_migrations_lock_timeout_fails_no_migrate(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migration gave up on its lock after its lock_timeout and migrate stopped there, the
    deploy failed by an admin's open read; it is tried again, a while apart."""
    monkeypatch.setattr(migrate_module, "ATTEMPT_PAUSE_SECONDS", 0.1)
    (tmp_path / "9001_probe.sql").write_text(
        "set local lock_timeout = '100ms';\nset local statement_timeout = '1min';\n"
        "alter table app.memberships add column probe text;\n"
    )
    with _a_long_read(database_url) as reader:
        done, outcome = _in_thread(partial(apply_migrations, database_url, tmp_path))
        time.sleep(0.6)
        reader.commit()
        done.join(timeout=30)
    assert outcome == [["9001_probe"]], outcome
    assert _has_probe_column(database_url)


def test_a_migration_that_never_has_its_lock_gives_up_after_a_few_tries_naming_itself(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(migrate_module, "ATTEMPT_PAUSE_SECONDS", 0.05)
    monkeypatch.setattr(migrate_module, "ATTEMPTS", 3)
    (tmp_path / "9001_probe.sql").write_text(
        "set local lock_timeout = '50ms';\nset local statement_timeout = '1min';\n"
        "alter table app.memberships add column probe text;\n"
    )
    with (
        _a_long_read(database_url),
        pytest.raises(
            MigrationError,
            match=r"^migration 9001_probe could not have its locks in 3 tries, each rolled back"
            r" \(the last: canceling statement due to lock timeout\); a long transaction holds one",
        ),
    ):
        apply_migrations(database_url, tmp_path)
    assert capsys.readouterr().err.count("trying again") == 2
    assert not _has_probe_column(database_url)
    assert _applied(database_url)[-1] != "9001_probe"


@pytest.mark.parametrize(
    "text",
    [
        # A statement timeout: the work itself is too slow, trying again would be as slow.
        "set local statement_timeout = '50ms';\nselect pg_catalog.pg_sleep(1);\n",
        # Outside a transaction what ran before the failing statement stays: not tried again.
        "-- transactional: false\nset lock_timeout = '50ms';\n"
        "alter table app.memberships add column probe text;\nreset lock_timeout;\n",
    ],
    ids=["statement-timeout", "outside-a-transaction"],
)
def test_a_migration_that_fails_otherwise_is_not_tried_again(
    database_url: str, tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "9001_probe.sql").write_text(text)
    with _a_long_read(database_url), pytest.raises(MigrationError, match=r"^migration 9001_probe failed"):
        apply_migrations(database_url, tmp_path)
    assert "trying again" not in capsys.readouterr().err
    assert not _has_probe_column(database_url)


def test_a_rollback_behind_a_long_read_is_tried_again(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback waits for its locks as briefly as its migration (`new-migration` writes both
    alike): one run in an incident behind an admin's open read is tried again, as migrate tries
    a migration, rather than failing at the first try."""
    monkeypatch.setattr(migrate_module, "ATTEMPT_PAUSE_SECONDS", 0.1)
    migrations = tmp_path / "migrations"
    shutil.copytree(migrate_module.MIGRATIONS_DIR, migrations)
    timeouts = "set local lock_timeout = '100ms';\nset local statement_timeout = '1min';\n"
    # A table of no policy, which dropping the stateless layer before the rollback does not touch.
    (migrations / "9001_probe.sql").write_text(timeouts + "create table app.lock_probe (id bigint);\n")
    (migrations / "9001_probe.rollback.sql").write_text(timeouts + "drop table app.lock_probe;\n")
    last_landed = _applied(database_url)[-1]
    assert apply_migrations(database_url, migrations) == ["9001_probe"]
    monkeypatch.setattr(migrate_module, "MIGRATIONS_DIR", migrations)
    with psycopg.connect(database_url) as reader:
        reader.execute("select count(*) from app.lock_probe").fetchone()
        done, outcome = _in_thread(partial(rollback, database_url, last_landed))
        # Once the rollback waits for the table (after the stateless layer is dropped), a while more.
        waiting = "select from pg_locks where relation = 'app.lock_probe'::regclass and not granted"
        while done.is_alive() and not _exists(database_url, waiting):
            time.sleep(0.01)
        time.sleep(0.4)
        reader.commit()
        done.join(timeout=30)
    assert outcome == [["9001_probe"]], outcome
    assert "rollback of 9001_probe waited too long for a lock" in capsys.readouterr().err
    assert not _exists(database_url, "select from pg_class where relname = 'lock_probe'")


def _recorded_checksums(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select migration_id, sha256 from blossom_meta.migration_checksums")
        return {str(migration_id): str(sha256) for migration_id, sha256 in rows}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def migrations_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The landed migrations in a folder of the test's own, which migrate and rollback read."""
    migrations = tmp_path / "migrations"
    shutil.copytree(migrate_module.MIGRATIONS_DIR, migrations)
    monkeypatch.setattr(migrate_module, "MIGRATIONS_DIR", migrations)
    return migrations


def test_an_edited_landed_migration_is_refused_and_nothing_changes(
    database_url: str, migrations_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """yoyo keys a migration by its name: an edit of one that had run was applied nowhere that
    ran it, and migrate said nothing. Each edited file is named, on a line of its own (each
    `migrate: …` on the command line), and neither migrate nor a rollback changes anything (a
    pending migration stays pending)."""
    for edited in ("0012.ai.sql", "0024.ai_reported_tokens.sql"):
        path = migrations_copy / edited
        path.write_bytes(path.read_bytes() + b"\ncreate schema probe_edit;\n")
    (migrations_copy / "9001_pending.sql").write_text("create schema probe_pending;\n")
    applied, recorded = _applied(database_url), _recorded_checksums(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update blossom_meta.stateless_state set files = 'other files'")
        layer_state = conn.execute("select files, catalog from blossom_meta.stateless_state").fetchone()
    for attempt in (partial(migrate, database_url, quiet=True), partial(rollback, database_url, applied[0])):
        with pytest.raises(MigrationError) as refused:
            attempt()
        lines = str(refused.value).splitlines()
        assert [line.split(":")[0] for line in lines] == [
            "migration 0012.ai was edited after it ran here",
            "migration 0024.ai_reported_tokens was edited after it ran here",
        ]
        assert all("restore the file as it ran" in line and "roll it back" in line for line in lines)
    monkeypatch.setattr(sys, "argv", ["migrate", "--database-url", database_url])
    with pytest.raises(SystemExit) as exited:
        migrate_module.main()
    assert [line.split(" was edited")[0] for line in str(exited.value.code).splitlines()] == [
        "migrate: migration 0012.ai",
        "migrate: migration 0024.ai_reported_tokens",
    ]
    assert _applied(database_url) == applied
    assert _recorded_checksums(database_url) == recorded
    assert not _exists(database_url, "select from pg_namespace where nspname like 'probe_%'")
    with psycopg.connect(database_url) as conn:
        assert (
            conn.execute("select files, catalog from blossom_meta.stateless_state").fetchone() == layer_state
        )


def test_an_untouched_folder_passes_and_each_applied_migration_records_what_ran(
    database_url: str, migrations_copy: Path
) -> None:
    (migrations_copy / "9001_probe.sql").write_bytes(b"create schema probe_recorded;\r\n")
    (migrations_copy / "9001_probe.rollback.sql").write_text("drop schema probe_recorded;\n")
    migrate(database_url, quiet=True)
    migrate(database_url, quiet=True)
    assert _recorded_checksums(database_url) == {
        migration_id: _sha256(migrations_copy / f"{migration_id}.sql")
        for migration_id in _applied(database_url)
    }
    assert "9001_probe" in _applied(database_url)


def test_a_database_migrated_before_checksums_were_kept_records_them_once(
    database_url: str, migrations_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its files are taken as what ran (a baseline), said once; an edit after that is refused."""
    with psycopg.connect(database_url) as conn:
        conn.execute("drop table blossom_meta.migration_checksums")
    migrate(database_url)
    applied = _applied(database_url)
    said = capsys.readouterr().err
    assert f"baseline: recorded the checksums of {len(applied)} migration(s)" in said
    assert _recorded_checksums(database_url) == {
        migration_id: _sha256(migrations_copy / f"{migration_id}.sql") for migration_id in applied
    }
    migrate(database_url)
    assert "baseline" not in capsys.readouterr().err
    edited = migrations_copy / "0020.users_last_seen.sql"
    edited.write_text(edited.read_text().replace("\n", "\r\n"))
    with pytest.raises(
        MigrationError, match=r"^migration 0020\.users_last_seen was edited after it ran here"
    ):
        migrate(database_url, quiet=True)


def test_a_migration_rolled_back_then_edited_is_applied_again_as_edited(
    database_url: str, migrations_copy: Path
) -> None:
    """A rollback forgets the checksum with the migration: its file is no longer what ran
    anywhere, and may be changed before it runs again."""
    last_landed = _applied(database_url)[-1]
    probe = migrations_copy / "9001_probe.sql"
    probe.write_text("create schema probe_first_text;\n")
    (migrations_copy / "9001_probe.rollback.sql").write_text("drop schema probe_first_text;\n")
    migrate(database_url, quiet=True)
    assert _recorded_checksums(database_url)["9001_probe"] == _sha256(probe)
    assert rollback(database_url, last_landed) == ["9001_probe"]
    assert "9001_probe" not in _recorded_checksums(database_url)
    probe.write_text("create schema probe_second_text;\n")
    (migrations_copy / "9001_probe.rollback.sql").write_text("drop schema probe_second_text;\n")
    migrate(database_url, quiet=True)
    assert _recorded_checksums(database_url)["9001_probe"] == _sha256(probe)
    assert _exists(database_url, "select from pg_namespace where nspname = 'probe_second_text'")


@pytest.mark.parametrize("direction", ["apply", "rollback"])
def test_a_migration_and_its_record_are_one_transaction(
    database_url: str, migrations_copy: Path, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    """yoyo ran a migration (or its rollback) in a transaction on a connection of its own, then
    recorded it in a second transaction on another: a migrate cut between the two (killed, its
    connection lost) left the work done and not recorded, and each later migrate ran it again and
    failed on what it had made ("schema … already exists"), or a rollback on what it had dropped.
    Now the record failing undoes the work, and migrate says so truly ("rolled back")."""
    from yoyo.backends.base import DatabaseBackend

    last_landed = _applied(database_url)[-1]
    (migrations_copy / "9001_probe.sql").write_text("create schema probe_one_transaction;\n")
    (migrations_copy / "9001_probe.rollback.sql").write_text("drop schema probe_one_transaction;\n")
    probe = "select from pg_namespace where nspname = 'probe_one_transaction'"
    if direction == "rollback":
        migrate(database_url, quiet=True)

    def cut(*_args: object, **_kwargs: object) -> None:
        raise psycopg.OperationalError("the connection was lost")

    def run() -> None:
        if direction == "apply":
            migrate(database_url, quiet=True)
        else:
            assert rollback(database_url, last_landed) == ["9001_probe"]

    with monkeypatch.context() as cutting:
        cutting.setattr(DatabaseBackend, "mark_one" if direction == "apply" else "unmark_one", cut)
        with pytest.raises(MigrationError, match="9001_probe") as failed:
            run()
    if direction == "apply":
        assert "failed, rolled back" in str(failed.value)
    assert _exists(database_url, probe) == (direction == "rollback")
    assert ("9001_probe" in _applied(database_url)) == (direction == "rollback")
    run()
    assert _exists(database_url, probe) == (direction == "apply")
    assert ("9001_probe" in _applied(database_url)) == (direction == "apply")


def test_a_migration_that_sets_its_own_search_path_and_role_is_recorded(
    database_url: str, migrations_copy: Path
) -> None:
    """Recorded in the migration's transaction, after its statements, yoyo's record must not
    depend on what the migration set for itself (`set local`): found through a search_path of
    '' or as another role, its tables were not there, and the migration was rolled back."""
    last_landed = _applied(database_url)[-1]
    (migrations_copy / "9001_probe.sql").write_text(
        "set local search_path = '';\nset local role authenticator;\nselect 1;\n"
    )
    (migrations_copy / "9001_probe.rollback.sql").write_text(
        "set local search_path = app;\nset local role authenticator;\nselect 1;\n"
    )
    migrate(database_url, quiet=True)
    assert "9001_probe" in _applied(database_url)
    assert rollback(database_url, last_landed) == ["9001_probe"]
    assert "9001_probe" not in _applied(database_url)


def test_migrates_connections_find_a_silent_cut_within_a_minute(database_url: str) -> None:
    """A migration's connection (yoyo's, which runs them) and migrate's own have keepalives and a
    bound on unacknowledged data, as every connection of ours (tests/test_edge_database.py): one
    cut without a word left migrate waiting for the OS's TCP timeout, many minutes; what the URL
    sets itself stays as set."""
    expected = {name: int(value) for name, value in CONNECTION_DEFAULTS.items()}
    backend = migrate_module._yoyo_backend(database_url + "?keepalives_idle=7")
    try:
        assert tcp_keepalives(backend.connection) == expected | {"keepalives_idle": 7}
    finally:
        backend.connection.close()
    # migrate's own connections are made with blossom_db's Connection (deploy/migrate.py).
    with Connection.connect(database_url) as conn:
        assert tcp_keepalives(conn) == expected


# ---- yoyo's lock ------------------------------------------------------------------------------

# A migration that waits, in its transaction, for the advisory lock 9001, which the test holds: a
# migrate stopped in the middle of its migrations, yoyo's lock taken, for as long as the test wants.
_WAITING_MIGRATION = "select pg_catalog.pg_advisory_xact_lock(9001);\n"


def _migrate_in_a_process(url: str, migrations: Path) -> subprocess.Popen[str]:
    """`python -m deploy.migrate --database-url url`, its migrations read from `migrations`."""
    code = (
        "import sys; from pathlib import Path; from deploy import migrate;"
        " migrate.MIGRATIONS_DIR = Path(sys.argv.pop(1)); migrate.main()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(migrations), "--database-url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _its_migration_waits(url: str, process: subprocess.Popen[str]) -> int:
    """Once the process's migration waits for the test's lock 9001: the server's pid of its session."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with psycopg.connect(url) as conn:
            waiting = conn.execute(
                "select pid from pg_locks where locktype = 'advisory' and objid = 9001 and not granted"
            ).fetchone()
        if waiting:
            return int(waiting[0])
        time.sleep(0.05)
    raise AssertionError("the migrate never reached its migration")


def _yoyo_lock_pids(url: str) -> list[int]:
    """The process ids yoyo's lock rows name (a migrate's, on the machine it ran on)."""
    with psycopg.connect(url) as conn:
        return [int(pid) for (pid,) in conn.execute("select pid from blossom_meta.yoyo_lock")]


def test_a_migrate_killed_mid_way_leaves_no_lock_for_the_next_to_wait_for(
    database_url: str, migrations_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """yoyo's lock is a row its run deletes as it ends: a migrate killed in the middle of a
    migration (SIGKILL, the machine gone) left it, and every migrate after waited 10 s for a
    process that no longer existed and failed (`LockTimeout: Process … has locked this database`)
    until someone deleted the row. The next migrate now waits as long as the killed one's session
    still runs its statement on the server, then releases the row, says so, and migrates."""
    (migrations_copy / "9001_waits.sql").write_text(_WAITING_MIGRATION)
    with psycopg.connect(database_url, autocommit=True) as test_lock:
        test_lock.execute("select pg_catalog.pg_advisory_lock(9001)")
        killed = _migrate_in_a_process(database_url, migrations_copy)
        session = _its_migration_waits(database_url, killed)
        killed.kill()
        killed.communicate()
        assert _yoyo_lock_pids(database_url) == [killed.pid]
        done, outcome = _in_thread(partial(migrate, database_url, quiet=True))
        time.sleep(1.5)
        # Its session still waits on the server, and would apply the migration: not taken from it.
        assert done.is_alive(), outcome
        assert _exists(database_url, f"select from pg_stat_activity where pid = {session}")
        assert _yoyo_lock_pids(database_url) == [killed.pid]
        test_lock.execute("select pg_catalog.pg_advisory_unlock(9001)")
        done.join(timeout=30)
    assert outcome == [None], outcome
    assert _yoyo_lock_pids(database_url) == []
    assert _applied(database_url)[-1] == "9001_waits"
    told = [line for line in capsys.readouterr().err.splitlines() if "yoyo" in line]
    assert len(told) == 1, told
    assert told[0].startswith(f"migrate: released yoyo's lock left by process {killed.pid} (taken at "), told


def test_a_live_migrates_yoyo_lock_is_kept_and_waited_for(
    database_url: str, migrations_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a migrate runs its migrations, yoyo's lock is its own: what takes yoyo's lock beside
    it (without migrate's, as the schema check's build does) waits for it, a while, then fails
    naming why, and leaves its row; the live one ends as it would have."""
    monkeypatch.setattr(migrate_module, "YOYO_LOCK_WAIT_SECONDS", 1)
    (migrations_copy / "9001_waits.sql").write_text(_WAITING_MIGRATION)
    with psycopg.connect(database_url, autocommit=True) as test_lock:
        test_lock.execute("select pg_catalog.pg_advisory_lock(9001)")
        live = _migrate_in_a_process(database_url, migrations_copy)
        _its_migration_waits(database_url, live)
        with pytest.raises(MigrationError, match=r"^yoyo's lock is held by a session still connected"):
            apply_migrations(database_url, migrations_copy)
        assert _yoyo_lock_pids(database_url) == [live.pid]
        test_lock.execute("select pg_catalog.pg_advisory_unlock(9001)")
        _, told = live.communicate(timeout=60)
    assert live.returncode == 0, told
    assert "yoyo" not in told
    assert _yoyo_lock_pids(database_url) == []
    assert _applied(database_url)[-1] == "9001_waits"


def procrastinates_migrations() -> list[str]:
    """The names of the migrations the installed procrastinate ships, in the order they apply."""
    folder = Path(procrastinate.__file__).parent / "sql" / "migrations"
    return sorted(path.name for path in folder.glob("*.sql"))


def test_the_job_queues_last_migration_is_the_installed_procrastinates_last() -> None:
    """A database made before a newer procrastinate keeps its job queue's schema (apply_jobs_schema
    makes it only where it is missing): without a migration of ours that applies procrastinate's
    own, its worker would run against a schema older than its code. A tripwire: it fails when the
    procrastinate requirements.lock pins ships migrations past JOBS_SCHEMA_LAST_MIGRATION."""
    shipped = procrastinates_migrations()
    assert JOBS_SCHEMA_LAST_MIGRATION in shipped
    newer = shipped[shipped.index(JOBS_SCHEMA_LAST_MIGRATION) + 1 :]
    assert not newer, (
        f"procrastinate {procrastinate.__version__} brings migrations that a job queue made before"
        f" lacks: {newer}. Apply them in a migration of ours (in schema jobs, each new table given Row"
        " Level Security), then set deploy.migrate.JOBS_SCHEMA_LAST_MIGRATION to the last of them."
    )
