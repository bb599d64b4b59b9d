"""ops/sql_lint.py: each check passes the tree as it is, and fails on a breach planted in a
scratch copy, naming the object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from deploy.migrate import migration_files
from ops import new_migration
from ops.settings import ROOT
from ops.sql_lint import (
    EXCEPTIONS_FILE,
    Finding,
    call_findings,
    foreign_key_findings,
    load_exceptions,
    migration_number_findings,
    plpgsql_findings,
    rollback_findings,
    squawk_findings,
)

# ---- plpgsql_check ---------------------------------------------------------------------------


def test_plpgsql_check_finds_nothing_in_our_functions_but_what_is_excused(database_url: str) -> None:
    assert plpgsql_findings(database_url, load_exceptions()["plpgsql_check"]) == []


PLANTED_FUNCTIONS = """\
create function app.lint_unused(p_org app.org_id) returns integer
language plpgsql stable
as $$
declare
  v_unused integer;
  v_count integer;
begin
  select pg_catalog.count(*)::integer into v_count from app.memberships m where m.org_id = p_org;
  return v_count;
end
$$;

create function app.tg_lint_missing_column() returns trigger
language plpgsql
as $$
begin
  new.nickname := 'x';
  return new;
end
$$;

create trigger lint_missing_column before insert on app.memberships
  for each row execute function app.tg_lint_missing_column();

create function app.tg_lint_unattached() returns trigger
language plpgsql
as $$
begin
  return new;
end
$$;

create function app.lint_shadowed(p_base integer) returns integer
language plpgsql immutable
as $$
begin
  declare
    p_base integer := 2;
  begin
    return p_base;
  end;
end
$$;
"""


def test_plpgsql_check_names_each_function_its_line_and_a_triggers_table(
    database_url: str, tmp_path: Path
) -> None:
    planted = tmp_path / "planted.sql"
    planted.write_text(PLANTED_FUNCTIONS)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(PLANTED_FUNCTIONS.encode())
    findings = plpgsql_findings(database_url, load_exceptions()["plpgsql_check"], files=[planted])
    assert [(finding.where, finding.what) for finding in findings] == [
        (
            f"{planted}:25",
            "app.tg_lint_unattached(): a trigger function that no trigger uses, "
            "which plpgsql_check cannot check",
        ),
        (
            f"{planted}:39",
            'app.lint_shadowed(integer): warning: parameter "p_base" is overlapped '
            "(Local variable overlap function parameter.)",
        ),
        (f"{planted}:33", 'app.lint_shadowed(integer): warning extra: unused parameter "p_base"'),
        (f"{planted}:5", 'app.lint_unused(app.org_id): warning: unused variable "v_unused"'),
        (
            f"{planted}:17",
            "app.tg_lint_missing_column() on app.memberships (trigger lint_missing_column): "
            'error: record "new" has no field "nickname"',
        ),
    ]


def test_an_exception_excuses_its_finding_and_fails_once_nothing_needs_it(
    database_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(PLANTED_FUNCTIONS.split("create function app.tg_lint_missing")[0].encode())
    exceptions = tmp_path / "exceptions.toml"
    exceptions.write_text(
        "[[plpgsql_check]]\n"
        'function = "app.lint_unused(app.org_id)"\n'
        'message = "unused variable \\"v_unused\\""\n'
        'reason = "planted"\n'
        "[[plpgsql_check]]\n"
        'function = "app.lint_unused(app.org_id)"\n'
        'message = "never read variable \\"v_count\\""\n'
        'reason = "planted, and wrong"\n'
    )
    excused = load_exceptions()["plpgsql_check"] + load_exceptions(exceptions)["plpgsql_check"]
    assert plpgsql_findings(database_url, excused, files=[]) == [
        Finding(
            str(exceptions),
            'plpgsql_check\'s never read variable "v_count" in app.lint_unused(app.org_id): '
            "nothing breaks it; remove the entry",
        )
    ]


def test_an_exception_gives_a_reason(tmp_path: Path) -> None:
    exceptions = tmp_path / "exceptions.toml"
    exceptions.write_text('[[squawk]]\nrule = "ban-drop-table"\nmigrations = ["0009.x.sql"]\n')
    with pytest.raises(ValueError, match="gives no reason"):
        load_exceptions(exceptions)


# ---- foreign keys ----------------------------------------------------------------------------


def test_every_foreign_key_has_an_index_but_those_excused(database_url: str) -> None:
    assert foreign_key_findings(database_url, load_exceptions()["foreign_key"]) == []


def test_a_foreign_key_that_no_index_leads_is_a_finding(database_url: str) -> None:
    """squawk passed a new table's `references` with no index: each delete of an account then read
    the table whole to find its rows. An index that starts with the key's columns serves it; one
    that starts with another column, or a partial one, does not."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "create table app.lint_badges (id bigint primary key,"
            " user_id app.user_id references app.users (id) on delete cascade,"
            " org_id app.org_id references app.organizations (id),"
            " given_by app.user_id references app.users (id),"
            " kept_by app.user_id references app.users (id));"
            "create index lint_badges_org_id_user_id_idx on app.lint_badges (org_id, user_id);"
            "create index lint_badges_given_by_idx on app.lint_badges (given_by) where id > 0;"
            "create index lint_badges_kept_by_id_idx on app.lint_badges (kept_by, id);"
        )
    found = [finding.what.split(" (")[0] for finding in foreign_key_findings(database_url)]
    assert "foreign-key-without-index: lint_badges_user_id_fkey" in found
    assert "foreign-key-without-index: lint_badges_given_by_fkey" in found
    assert not any(what.endswith(("lint_badges_org_id_fkey", "lint_badges_kept_by_fkey")) for what in found)
    assert foreign_key_findings(database_url, load_exceptions()["foreign_key"]) == [
        Finding(
            "app.lint_badges",
            f"foreign-key-without-index: lint_badges_{column}_fkey ({column}): no index of app.lint_badges"
            f" starts with {column}, so each delete of a row it refers to reads app.lint_badges whole;"
            f" add one (`create index concurrently … on app.lint_badges ({column})`, in a migration"
            " that says `-- transactional: false`)",
        )
        for column in ("given_by", "user_id")
    ]


def test_an_index_that_only_includes_a_key_column_does_not_serve_it(database_url: str) -> None:
    """An INCLUDE column is stored in the index, not ordered by it: `(org_id) include (user_id)`
    finds a pair's rows by org_id alone, and was taken for an index of the key (org_id, user_id)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "create table app.lint_pairs (org_id app.org_id, user_id app.user_id,"
            " foreign key (org_id, user_id) references app.memberships (org_id, user_id) on delete cascade);"
            "create index lint_pairs_org_id_idx on app.lint_pairs (org_id) include (user_id);"
        )
    found = [finding.what.split(" (")[0] for finding in foreign_key_findings(database_url)]
    assert "foreign-key-without-index: lint_pairs_org_id_user_id_fkey" in found


# ---- squawk ----------------------------------------------------------------------------------

# What `just new-migration` writes first: every planted migration passes with it.
TIMEOUTS = new_migration.TIMEOUTS


def where_and_rule(findings: list[Finding]) -> list[tuple[str, str]]:
    """Each finding's place and the rule it breaks (the first word of what it says)."""
    return [(finding.where, finding.what.split(":")[0]) for finding in findings]


def test_squawk_passes_the_migrations_with_the_landed_ones_exceptions() -> None:
    assert squawk_findings(excused=load_exceptions()["squawk"]) == []
    assert not any(path.name.endswith(".rollback.sql") for path in migration_files())


def test_squawk_names_the_migration_line_and_rule_of_a_breach(tmp_path: Path) -> None:
    migration = tmp_path / "0009.nicknames.sql"
    migration.write_text(
        "-- nicknames\n"
        + TIMEOUTS
        + "alter table app.users add column nickname text default extensions.gen_random_uuid()::text;\n"
        + "create index users_nickname_idx on app.users (nickname);\n"
    )
    findings = squawk_findings([migration])
    assert where_and_rule(findings) == [
        (f"{migration}:4", "adding-field-with-default"),
        (f"{migration}:5", "require-concurrent-index-creation"),
    ]
    assert "non-VOLATILE DEFAULTs can be added without a rewrite" in findings[0].what


def test_a_constraint_on_a_column_added_to_an_existing_table_is_a_finding(tmp_path: Path) -> None:
    """squawk passes `add column … check (…)`, which Postgres validates by reading the whole table
    under the ALTER's ACCESS EXCLUSIVE lock (migration 0014 did so on app.audit_events); it
    refuses the same with `references`. One added `not valid`, then validated, is fine, as is one
    on a table the migration itself makes."""
    migration = tmp_path / "0009.nicknames.sql"
    migration.write_text(
        "-- nicknames\n"
        + TIMEOUTS
        + "alter table app.users add column nickname text\n"
        + "  constraint users_nickname_short check (length(nickname) < 9);\n"
        + "alter table app.users add column badge text;\n"
        + "alter table app.users add constraint users_badge_short check (length(badge) < 9) not valid;\n"
        + "create table app.nicknames (id bigint primary key);\n"
        + "create table app.copied as select id from app.users;\n"
        + "alter table app.copied add column nickname text check (length(nickname) < 9);\n"
        + "alter table app.nicknames add column nickname text check (length(nickname) < 9);\n"
    )
    findings = squawk_findings([migration])
    assert where_and_rule(findings) == [
        (f"{migration}:5", "constraint-on-added-column"),
    ]
    assert "not valid" in findings[0].what


def test_a_constraint_on_an_added_column_is_found_on_its_line_after_text_not_in_ascii(tmp_path: Path) -> None:
    """The parser's locations count bytes: read as characters, each byte past the first of a
    character before the CHECK (a comment's "…", "é") moved the finding lines down."""
    migration = tmp_path / "0009.nicknames.sql"
    migration.write_text(
        "-- nicknames "
        + "…" * 100
        + "\n"
        + TIMEOUTS
        + "alter table app.users add column nickname text\n"
        + "  constraint users_nickname_short check (length(nickname) < 9);\n"
        + "alter table app.users add column badge text;\n"
        + "alter table app.users add column mentor text;\n"
        + "alter table app.users add column nickname_seen timestamptz;\n",
        encoding="utf-8",
    )
    findings = squawk_findings([migration])
    assert where_and_rule(findings) == [
        (f"{migration}:5", "constraint-on-added-column"),
    ]


def test_a_statement_that_rewrites_an_existing_table_is_a_finding(tmp_path: Path) -> None:
    """squawk refuses a column's new type, which rewrites the table under an ACCESS EXCLUSIVE
    lock, but passed `set unlogged`, `set logged`, `set tablespace`, `set access method`,
    `cluster` and `vacuum full`, which rewrite it the same way: every query of the table waits
    for the copy. On a table the migration makes they cost nothing."""
    migration = tmp_path / "0009.rewrites.sql"
    migration.write_text(
        TIMEOUTS
        + "alter table app.rate_limit_hits set unlogged;\n"
        + "alter table app.users set logged;\n"
        + "alter table app.users set tablespace pg_default;\n"
        + "alter table app.users set access method heap;\n"
        + "cluster app.audit_events using audit_events_pkey;\n"
        + "create table app.scratch (id bigint primary key);\n"
        + "alter table app.scratch set unlogged;\n"
        + "cluster app.scratch using scratch_pkey;\n"
    )
    outside = tmp_path / "0010.vacuum.sql"
    outside.write_text(
        "-- transactional: false\nset lock_timeout = '5s';\nset statement_timeout = '1min';\n"
        "vacuum (full) app.audit_events;\nvacuum app.users;\n"
    )
    findings = squawk_findings([migration, outside])
    assert where_and_rule(findings) == [
        (f"{migration}:3", "table-rewrite"),
        (f"{migration}:4", "table-rewrite"),
        (f"{migration}:5", "table-rewrite"),
        (f"{migration}:6", "table-rewrite"),
        (f"{migration}:7", "table-rewrite"),
        (f"{outside}:4", "table-rewrite"),
    ]
    assert "app.rate_limit_hits" in findings[0].what


def test_a_vacuum_full_or_a_cluster_of_every_table_is_a_finding(tmp_path: Path) -> None:
    """Without a table named, `vacuum full` and `cluster` rewrite every table of the database (every
    clustered one), each under its ACCESS EXCLUSIVE lock: the rule passed them, as it looked for a
    table to name."""
    outside = tmp_path / "0009.everything.sql"
    outside.write_text(
        "-- transactional: false\nset lock_timeout = '5s';\nset statement_timeout = '1min';\n"
        "vacuum full;\ncluster;\nvacuum;\n"
    )
    findings = squawk_findings([outside])
    assert where_and_rule(findings) == [(f"{outside}:4", "table-rewrite"), (f"{outside}:5", "table-rewrite")]
    assert all("every table" in finding.what for finding in findings), findings


def test_squawk_knows_a_migration_that_yoyo_runs_outside_a_transaction(tmp_path: Path) -> None:
    statement = "create index concurrently if not exists users_nickname_idx on app.users (display_name);\n"
    outside = tmp_path / "0009.outside.sql"
    outside.write_text(
        "-- transactional: false\nset lock_timeout = '5s';\nset statement_timeout = '1min';\n" + statement
    )
    inside = tmp_path / "0010.inside.sql"
    inside.write_text(TIMEOUTS + statement)
    assert where_and_rule(squawk_findings([outside, inside])) == [
        (f"{inside}:3", "ban-concurrent-index-creation-in-transaction")
    ]


def test_a_migration_whose_timeouts_bound_nothing_is_a_finding(tmp_path: Path) -> None:
    """squawk asks only that a migration sets lock_timeout and statement_timeout first, whatever
    to: a timeout of 0 (or the server's default, or one reset before the ALTER) waited without
    bound behind a long transaction for the ACCESS EXCLUSIVE lock, every query of the table queued
    behind it; and `set local` in a migration yoyo runs outside a transaction does nothing
    (Postgres only warns), so its `alter table` waited the same. Resetting them once the work is
    done, as 0018 does, is fine."""
    alter = "alter table app.users add column if not exists nickname text;\n"
    zero = tmp_path / "0009.zero.sql"
    zero.write_text("set local lock_timeout = 0;\nset local statement_timeout = '1min';\n" + alter)
    default = tmp_path / "0010.default.sql"
    default.write_text("set local lock_timeout = '500ms';\nset local statement_timeout to default;\n" + alter)
    reset = tmp_path / "0011.reset.sql"
    reset.write_text(TIMEOUTS + "reset lock_timeout;\n" + alter)
    local = tmp_path / "0012.local.sql"
    local.write_text("-- transactional: false\n" + TIMEOUTS + alter)
    bounded = tmp_path / "0013.bounded.sql"
    bounded.write_text(TIMEOUTS + alter)
    outside = tmp_path / "0014.outside.sql"
    outside.write_text(
        "-- transactional: false\nset lock_timeout = '5s';\nset statement_timeout = '1min';\n"
        + alter
        + "reset statement_timeout;\nreset lock_timeout;\n"
    )
    assert where_and_rule(squawk_findings([zero, default, reset, local, bounded, outside])) == [
        (f"{zero}:1", "timeout-without-bound"),
        (f"{default}:2", "timeout-without-bound"),
        (f"{reset}:3", "timeout-without-bound"),
        (f"{local}:2", "set-local-outside-transaction"),
        (f"{local}:3", "set-local-outside-transaction"),
    ]


def test_a_migration_in_a_transaction_that_waits_long_for_a_lock_is_a_finding(tmp_path: Path) -> None:
    """The template's lock_timeout was 5 s, as long as the API's statement_timeout: the requests
    queued behind a migration waiting for its lock timed out. A migration in a transaction waits
    at most LOCK_WAIT (migrate tries it again when it gives way); one outside a transaction,
    which only builds indexes concurrently and is not tried again, may wait longer."""
    alter = "alter table app.users add column if not exists nickname text;\n"
    statement_timeout = "set local statement_timeout = '1min';\n"
    planted = {
        "0009.five_seconds.sql": "set local lock_timeout = '5s';\n" + statement_timeout + alter,
        "0010.milliseconds.sql": "set local lock_timeout = 2000;\n" + statement_timeout + alter,
        "0011.a_minute.sql": "set lock_timeout to '1 min';\n" + statement_timeout + alter,
        "0012.template.sql": TIMEOUTS + alter,
        "0013.shorter.sql": "set local lock_timeout = '0.2s';\n" + statement_timeout + alter,
        "0014.outside.sql": "-- transactional: false\nset lock_timeout = '1min';\n"
        "set statement_timeout = '30min';\n"
        "create index concurrently if not exists users_nickname_idx on app.users (nickname);\n"
        "reset statement_timeout;\nreset lock_timeout;\n",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    paths = [tmp_path / name for name in planted]
    assert where_and_rule(squawk_findings(paths)) == [
        (f"{tmp_path / '0009.five_seconds.sql'}:1", "lock-timeout-too-long"),
        (f"{tmp_path / '0010.milliseconds.sql'}:1", "lock-timeout-too-long"),
        (f"{tmp_path / '0011.a_minute.sql'}:1", "lock-timeout-too-long"),
    ]
    assert "wait at most 500ms" in squawk_findings(paths[:1])[0].what


def test_every_migration_has_a_number_of_its_own() -> None:
    assert migration_number_findings() == []


def test_a_migration_numbered_as_another_is_a_finding(tmp_path: Path) -> None:
    """Two migrations were numbered by hand 0026 and 0027, the numbers of two landed ones: yoyo
    orders migrations by name, so they ran among the landed ones, and a rollback to the release
    before them (0036) undid nothing of theirs."""
    for name in ("0026.owner_count_index", "0026.job_wakeups", "0027.departing_inviter_index", "0028.x"):
        (tmp_path / f"{name}.sql").write_text(TIMEOUTS + "select 1;\n")
    (tmp_path / "0026.job_wakeups.rollback.sql").write_text(TIMEOUTS + "select 1;\n")
    assert where_and_rule(migration_number_findings(tmp_path)) == [
        (f"{tmp_path / '0026.job_wakeups.sql'}:1", "migration-number-taken")
    ]
    assert (
        "0026.job_wakeups, 0026.owner_count_index share 0026" in migration_number_findings(tmp_path)[0].what
    )
    assert "(0029, as `just new-migration` does)" in migration_number_findings(tmp_path)[0].what


def test_every_rollback_waits_for_its_locks_a_bounded_time() -> None:
    assert rollback_findings() == []


def test_a_rollback_that_may_wait_without_bound_is_a_finding(tmp_path: Path) -> None:
    """squawk reads no rollback, and those of 0001 to 0013 set no timeout: run in an incident, a
    rollback's `drop column` waited behind a long transaction for its ACCESS EXCLUSIVE lock, and
    every query of the table queued behind it. One that runs outside a transaction (dropping
    indexes concurrently) blocks no one while it waits."""
    bare = tmp_path / "0009.nicknames.rollback.sql"
    bare.write_text("-- rollback of nicknames\nalter table app.users drop column nickname;\n")
    late = tmp_path / "0010.badges.rollback.sql"
    late.write_text("alter table app.users drop column badge;\n" + TIMEOUTS)
    bounded = tmp_path / "0011.mentors.rollback.sql"
    bounded.write_text(TIMEOUTS + "alter table app.users drop column mentor;\n")
    outside = tmp_path / "0012.indexes.rollback.sql"
    outside.write_text("-- transactional: false\ndrop index concurrently if exists app.users_badge_idx;\n")
    # A timeout of 0, or the server's default, is none.
    unbounded = tmp_path / "0013.ranks.rollback.sql"
    unbounded.write_text(
        "set local lock_timeout = 0;\nset local statement_timeout = '1min';\n"
        "alter table app.users drop column rank;\n"
    )
    default = tmp_path / "0014.titles.rollback.sql"
    default.write_text(
        "set local lock_timeout to default;\nset local statement_timeout = '0ms';\n"
        "alter table app.users drop column title;\n"
    )
    assert where_and_rule(rollback_findings(tmp_path)) == [
        (f"{bare}:1", "rollback-without-timeouts"),
        (f"{late}:1", "rollback-without-timeouts"),
        (f"{unbounded}:1", "rollback-without-timeouts"),
        (f"{default}:1", "rollback-without-timeouts"),
    ]


def test_a_migration_without_a_rollback_file_is_a_finding(tmp_path: Path) -> None:
    """yoyo rolls back a migration without a rollback file by forgetting it: its work stayed.
    A backfill changes no schema, so no test that compares schemas saw it."""
    for name in ("0009.nicknames", "0010.backfill"):
        (tmp_path / f"{name}.sql").write_text(TIMEOUTS + "update app.users set display_name = 'x';\n")
    (tmp_path / "0009.nicknames.rollback.sql").write_text(TIMEOUTS + "select 1;\n")
    assert where_and_rule(rollback_findings(tmp_path)) == [
        (f"{tmp_path / '0010.backfill.sql'}:1", "rollback-missing")
    ]


def test_a_rollback_outside_a_transaction_that_blocks_is_a_finding(tmp_path: Path) -> None:
    """A rollback yoyo runs outside a transaction was passed whatever it held: a `drop table`
    beside its `drop index concurrently` waited without bound for its ACCESS EXCLUSIVE lock. Its
    timeouts are set without `local`, which does nothing outside a transaction."""
    blocking = tmp_path / "0009.badges.rollback.sql"
    blocking.write_text(
        "-- transactional: false\ndrop index concurrently if exists app.badges_idx;\ndrop table app.badges;\n"
    )
    local = tmp_path / "0010.mentors.rollback.sql"
    local.write_text("-- transactional: false\n" + TIMEOUTS + "drop table app.mentors;\n")
    bounded = tmp_path / "0011.nicknames.rollback.sql"
    bounded.write_text(
        "-- transactional: false\nset lock_timeout = '5s';\nset statement_timeout = '1min';\n"
        "drop table app.nicknames;\n"
    )
    assert where_and_rule(rollback_findings(tmp_path)) == [
        (f"{blocking}:1", "rollback-without-timeouts"),
        (f"{local}:1", "rollback-without-timeouts"),
    ]


# ---- schema-qualified calls ------------------------------------------------------------------


def test_every_call_in_the_stateless_layer_names_its_schema() -> None:
    assert call_findings() == []


PLANTED_CALLS = """\
/* now() in a comment is no call */
create view app.lint_view as
  select pg_catalog.now() as qualified, coalesce(null, greatest(1, least(2, 3))) as syntax,
         extract(epoch from clock_timestamp()) as bare;

create policy lint_policy on app.users for select to blossom_owner
  using (created_at < now());

create function app.lint_atomic() returns integer
language sql stable
begin atomic
  select count(*)::integer from app.users;
end;

create function app.lint_string_body() returns text
language sql stable
as $$
  select 'lower(x)' || upper('y')
$$;

create function app.lint_plpgsql(p_id app.user_id) returns setof text
language plpgsql stable
as $$
declare
  v_at timestamptz := now();
begin
  -- A comment that calls now() is no call either.
  perform pg_catalog.set_config('x.y', 'now()', true);
  return query
    select u.email::text from app.users u
     where u.id = p_id and u.created_at < v_at + pg_catalog.make_interval(days => abs(-1));
end
$$;
"""


def test_a_bare_call_is_named_by_file_line_object_and_function(tmp_path: Path) -> None:
    planted = tmp_path / "planted.sql"
    planted.write_text(PLANTED_CALLS)
    findings = call_findings([planted])
    assert [(finding.where, finding.what.split(" names no schema")[0]) for finding in findings] == [
        (f"{planted}:4", "app.lint_view: clock_timestamp(...)"),
        (f"{planted}:7", "policy lint_policy on app.users: now(...)"),
        (f"{planted}:12", "app.lint_atomic: count(...)"),
        (f"{planted}:18", "app.lint_string_body: upper(...)"),
        (f"{planted}:25", "app.lint_plpgsql: now(...)"),
        (f"{planted}:31", "app.lint_plpgsql: abs(...)"),
    ]
    assert findings[1].what.endswith("now(...) names no schema (pg_catalog.now for a built-in)")


# ---- the command -----------------------------------------------------------------------------


def test_the_checks_without_a_database_pass_the_tree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops.sql_lint", "--no-database"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sql-lint: squawk: no finding(s)" in result.stdout
    assert "sql-lint: calls: no finding(s)" in result.stdout
    assert EXCEPTIONS_FILE.exists()
