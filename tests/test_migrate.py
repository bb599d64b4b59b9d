"""`just migrate`: idempotent, and the stateless layer follows the files exactly."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ops import migrate as migrate_module
from ops.migrate import SqlFileError, apply_stateless, migrate
from ops.schema_check import normalized_dump


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


def _use_stateless_dirs(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    monkeypatch.setattr(migrate_module, "STATELESS_DIRS", folders)


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
    _use_stateless_dirs(monkeypatch, functions, policies)
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
    (tmp_path / "a_good.sql").write_text(
        "create function api.half_applied() returns int language sql stable as $$ select 1 $$;\n"
    )
    (tmp_path / "b_broken.sql").write_text("\n\ncreate function api.broken( returns int;\n")
    _use_stateless_dirs(monkeypatch, tmp_path)
    with pytest.raises(SqlFileError, match=r"b_broken\.sql:3: syntax error"):
        apply_stateless(database_url)
    assert not _exists(database_url, "select from pg_proc where proname = 'half_applied'")
    assert normalized_dump(database_url) == before


def test_a_policy_is_the_same_whatever_order_pg_dump_lists_its_roles_in(database_url: str) -> None:
    """Every migrate re-states the roles, which rewrites their rows, and pg_dump lists a
    policy's roles in the order it finds those rows: the dump must not see that as a change."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("alter role org_lister nologin")
        conn.execute("alter role membership_reader nologin")
    first = [line for line in normalized_dump(database_url) if line.startswith("CREATE POLICY own_rows")]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("alter role membership_reader nologin")
        conn.execute("alter role org_lister nologin")
    assert [
        line for line in normalized_dump(database_url) if line.startswith("CREATE POLICY own_rows")
    ] == first
    assert "TO membership_reader, org_lister USING" in first[0]
