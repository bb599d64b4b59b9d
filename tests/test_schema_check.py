"""`just schema-check` catches drift between migrations/ and sql/schema/ and shows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.migrate import LOCK_WAIT, MIGRATIONS_DIR
from ops.schema_check import SCHEMA_DIR
from ops.scratch import SCRATCH_URL_VARIABLE, free_port
from ops.settings import ROOT
from ops.sql_lint import squawk_findings
from tests.support.databases import run_behind_migrates_lock

PROBE_TABLE = "create table app.drift_probe (id text primary key);\n"
# The same table with a column that no migration adds.
DRIFTED_TABLE = "create table app.drift_probe (id text primary key, nickname text not null);\n"


def _copies(tmp_path: Path) -> tuple[Path, Path]:
    schema, migrations = tmp_path / "schema", tmp_path / "migrations"
    shutil.copytree(SCHEMA_DIR, schema)
    shutil.copytree(MIGRATIONS_DIR, migrations)
    (schema / "999_probe.sql").write_text(PROBE_TABLE)
    (migrations / "0900.probe.sql").write_text(PROBE_TABLE)
    return schema, migrations


def _run_module(server: str, module: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m ops.<module> ARGS` on the run's cluster, as a person runs the recipe."""
    return subprocess.run(
        [sys.executable, "-m", f"ops.{module}", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {SCRATCH_URL_VARIABLE: server},
    )


def _schema_check(server: str, schema: Path, migrations: Path) -> subprocess.CompletedProcess[str]:
    return _run_module(server, "schema_check", "--schema-dir", schema, "--migrations-dir", migrations)


def test_schema_check_passes_when_migrations_match(pg_server: str, tmp_path: Path) -> None:
    result = _schema_check(pg_server, *_copies(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_restates_the_roles_in_its_turn_with_migrate(pg_server: str, tmp_path: Path) -> None:
    """Each database the check builds is bootstrapped, which restates the server's roles as
    migrate does, and two sessions altering one role at once fail (`tuple concurrently
    updated`): beside a migrate of the same server it went on, and failed so. It waits for
    migrate's lock, held here, as migrate and restore do."""
    schema, migrations = _copies(tmp_path)
    command = ["--schema-dir", str(schema), "--migrations-dir", str(migrations)]
    waited, status, printed = run_behind_migrates_lock(
        pg_server,
        [sys.executable, "-m", "ops.schema_check", *command],
        os.environ | {SCRATCH_URL_VARIABLE: pg_server},
    )
    assert waited, f"the check went on beside migrate: {printed}"
    assert status == 0, printed


def test_a_column_only_in_sql_schema_fails_with_a_readable_diff(pg_server: str, tmp_path: Path) -> None:
    schema, migrations = _copies(tmp_path)
    (schema / "999_probe.sql").write_text(DRIFTED_TABLE)
    result = _schema_check(pg_server, schema, migrations)
    assert result.returncode == 1
    assert "migrations/ and sql/schema/ disagree" in result.stderr
    assert "+    nickname text NOT NULL" in result.stdout
    assert "-    id text NOT NULL" in result.stdout


def test_new_migration_writes_the_sql_that_closes_the_drift(pg_server: str, tmp_path: Path) -> None:
    """A new table, and a column added to a table that nine foreign keys reference: those were
    dropped, added again and validated, each a lock and a scan of a table, for nothing."""
    schema, migrations = _copies(tmp_path)
    (schema / "999_probe.sql").write_text(
        DRIFTED_TABLE + "alter table app.organizations add column note text;\n"
    )
    made = _run_module(
        pg_server, "new_migration", "add_nickname", "--schema-dir", schema, "--migrations-dir", migrations
    )
    assert made.returncode == 0, made.stderr
    written = sorted(path.name for path in migrations.glob("*add_nickname*"))
    assert written == ["0901.add_nickname.rollback.sql", "0901.add_nickname.sql"]
    written_sql = (migrations / "0901.add_nickname.sql").read_text()
    assert "nickname" in written_sql
    assert 'add column "note" text' in written_sql
    assert "constraint" not in written_sql, written_sql
    assert _schema_check(pg_server, schema, migrations).returncode == 0


def test_new_migration_keeps_the_foreign_key_rebuild_its_change_needs(pg_server: str, tmp_path: Path) -> None:
    """A foreign key defined alike on both sides that uses a unique constraint the change drops
    must go before it and come back after, as the diff writes it: without them the migration
    failed (the constraint has a dependent)."""
    schema, migrations = _copies(tmp_path)
    parent = "create table app.probe_parent (code text not null, constraint probe_parent_{} {} (code));\n"
    child = (
        "create table app.probe_child (id text primary key,"
        " code text constraint probe_child_code_fkey references app.probe_parent (code));\n"
    )
    (migrations / "0900.probe.sql").write_text(PROBE_TABLE + parent.format("code_key", "unique") + child)
    (schema / "999_probe.sql").write_text(PROBE_TABLE + parent.format("pkey", "primary key") + child)
    made = _run_module(
        pg_server, "new_migration", "parent_key", "--schema-dir", schema, "--migrations-dir", migrations
    )
    assert made.returncode == 0, made.stderr
    assert "all of them are kept" in made.stderr
    written_sql = (migrations / "0901.parent_key.sql").read_text()
    assert 'drop constraint "probe_child_code_fkey"' in written_sql, written_sql
    checked = _schema_check(pg_server, schema, migrations)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_new_migration_adds_a_new_tables_constraints_as_squawk_takes_them(
    pg_server: str, tmp_path: Path
) -> None:
    """A new table's foreign key and check came as `add constraint … not valid` and `validate
    constraint`, which squawk refuses in one transaction (and which an empty table has no use
    for): they are added valid at once."""
    schema, migrations = _copies(tmp_path)
    (schema / "999_probe.sql").write_text(
        PROBE_TABLE + "create table app.probe_notes (id text primary key,"
        " probe_id text not null constraint probe_notes_probe_id_fkey references app.drift_probe (id),"
        " body text constraint probe_notes_body_short check (length(body) < 100));\n"
    )
    made = _run_module(
        pg_server, "new_migration", "probe_notes", "--schema-dir", schema, "--migrations-dir", migrations
    )
    assert made.returncode == 0, made.stderr
    written = migrations / "0901.probe_notes.sql"
    written_sql = written.read_text().lower()
    assert "not valid" not in written_sql, written_sql
    assert "validate constraint" not in written_sql, written_sql
    assert 'add constraint "probe_notes_probe_id_fkey"' in written_sql, written_sql
    assert squawk_findings([written]) == []
    assert _schema_check(pg_server, schema, migrations).returncode == 0


def test_new_migration_refuses_a_name_that_is_not_an_identifier(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "ops.new_migration", "Add Users; drop"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode != 0
    assert "NAME must be" in made.stderr


def test_new_migration_bounds_the_rollbacks_locks_as_the_migrations(pg_server: str, tmp_path: Path) -> None:
    """The rollback it wrote took its locks without a lock_timeout: a `drop column` of a busy table
    waiting behind a long transaction held up every query queued behind it, for as long as that
    transaction lasted (squawk reads only the migration, so nothing said so)."""
    schema, migrations = _copies(tmp_path)
    (schema / "999_probe.sql").write_text(PROBE_TABLE + "alter table app.users add column nickname text;\n")
    made = _run_module(
        pg_server, "new_migration", "nickname", "--schema-dir", schema, "--migrations-dir", migrations
    )
    assert made.returncode == 0, made.stderr
    rollback = (migrations / "0901.nickname.rollback.sql").read_text()
    assert 'drop column "nickname"' in rollback, rollback
    statements = [line for line in rollback.splitlines() if line and not line.startswith("--")]
    assert statements[:2] == [
        f"set local lock_timeout = '{LOCK_WAIT}';",
        "set local statement_timeout = '1min';",
    ], rollback


# The checks that make their databases on the run's server (ops/scratch.py): schema-check,
# codegen-check and sql-lint.
SCRATCH_CHECKS = (("schema_check",), ("codegen", "--check"), ("sql_lint",))


BAD_SCRATCH_SETTINGS = (
    "database_url_out_of_reach",
    "scratch_url_out_of_reach",
    "scratch_url_read_otherwise",
    "scratch_url_unreadable",
    "tmp_a_file",
    "tmp_missing",
)


def _bad_scratch_settings(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """Settings that leave a check nowhere to make its databases, each with what its refusal
    says; the password of the URL libpq would read otherwise than meant is never shown."""
    out_of_reach = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    return {
        "database_url_out_of_reach": ({"DATABASE_URL": out_of_reach}, "DATABASE_URL: cannot reach the"),
        "scratch_url_out_of_reach": (
            {SCRATCH_URL_VARIABLE: out_of_reach},
            f"{SCRATCH_URL_VARIABLE}: cannot reach the",
        ),
        "scratch_url_read_otherwise": (
            {SCRATCH_URL_VARIABLE: "postgresql://postgres:sec/ret@127.0.0.1/postgres"},
            f"{SCRATCH_URL_VARIABLE} cannot be read as meant",
        ),
        "scratch_url_unreadable": ({SCRATCH_URL_VARIABLE: "no connection string"}, SCRATCH_URL_VARIABLE),
        "tmp_a_file": ({"BLOSSOM_TMP": str(a_file)}, "BLOSSOM_TMP must name a folder"),
        "tmp_missing": ({"BLOSSOM_TMP": str(tmp_path / "absent")}, "BLOSSOM_TMP must name a folder"),
    }


@pytest.mark.parametrize(
    ("check", "setting"),
    [
        *((SCRATCH_CHECKS[0], setting) for setting in BAD_SCRATCH_SETTINGS),
        # The other checks reach the same server and folder the same way (ops/scratch.py).
        *((check, "scratch_url_out_of_reach") for check in SCRATCH_CHECKS[1:]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value,
)
def test_a_check_with_nowhere_to_make_its_databases_says_which_setting_in_one_line(
    check: tuple[str, ...], setting: str, tmp_path: Path
) -> None:
    """A server out of reach (DATABASE_URL's or BLOSSOM_SCRATCH_URL's), a scratch URL libpq
    cannot read as meant, or a BLOSSOM_TMP that is no folder ended each check in a traceback
    (psycopg's OperationalError, tempfile's FileNotFoundError …). Each stops it before anything is
    made, in one line naming the setting."""
    given, said = _bad_scratch_settings(tmp_path)[setting]
    env = {
        key: value for key, value in os.environ.items() if key not in (SCRATCH_URL_VARIABLE, "DATABASE_URL")
    }
    ran = subprocess.run(
        [sys.executable, "-m", f"ops.{check[0]}", *check[1:]],
        cwd=ROOT, env=env | given, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    assert said in ran.stderr, ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    assert "ret@" not in ran.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"], "nothing was made"
