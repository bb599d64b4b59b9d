"""`just new-migration NAME`: write the next migration, prefilled with the SQL that takes the
migrations' schema to what sql/schema describes, and its rollback. A person reviews both.

The SQL comes from `results dbdiff` (the maintained successor of migra), comparing a database
built from migrations/ with one built from sql/schema/.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import psycopg

from deploy.migrate import LOCK_WAIT, META_SCHEMA, MIGRATIONS_DIR
from ops.schema_check import SCHEMA_DIR, built_pair
from ops.settings import recipe_parser

HEADER = """\
-- {title}
-- Written by `just new-migration {name}`: review it, it is only a proposal of a diff tool.
-- Runs as blossom_owner in one transaction; schema-qualify every name.
"""
# squawk (`just lint`) asks every migration for both: one that waits for a lock behind a long
# transaction holds up every query queued behind it. The lock wait is short (LOCK_WAIT, under
# the API's 5 s statement_timeout and Postgres's 1 s deadlock_timeout; sql_lint's
# lock-timeout-too-long bounds it): migrate tries the migration again when it gives way. Raise
# statement_timeout for a long backfill. The rollback gets them too: its drops take the same
# locks, and squawk does not read rollbacks.
TIMEOUTS = f"""\
set local lock_timeout = '{LOCK_WAIT}';
set local statement_timeout = '1min';
"""


# A statement of the diff's on one constraint: its table's schema and name, and its own name.
CONSTRAINT_STATEMENT = re.compile(
    r'alter table "(?P<schema>[^"]+)"\."(?P<table>[^"]+)" '
    r'(?P<action>drop|add|validate) constraint "(?P<name>[^"]+)"'
)
CONSTRAINTS = """
select n.nspname, c.relname, con.conname, pg_catalog.pg_get_constraintdef(con.oid)
  from pg_catalog.pg_constraint con
  join pg_catalog.pg_class c on c.oid = con.conrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
"""


def diff_sql(source_url: str, target_url: str) -> str:
    """The statements that take the source database's schema to the target's."""
    import results
    from results.database import close_pool
    from results.dbdiff import Migration

    try:
        migration = Migration(results.db(source_url), results.db(target_url), exclude_schema=META_SCHEMA)
        migration.set_safety(False)
        migration.add_all_changes_ordered(privileges=True)
        statements = [str(statement).strip() for statement in migration.statements]
    finally:
        close_pool(source_url)
        close_pool(target_url)
    trimmed = without_unchanged_constraints(statements, source_url, target_url)
    # A rebuild left out may be one the change needs: a foreign key on a unique constraint that
    # the change drops must go first. What the trimmed statements cannot do to the source, the
    # whole diff does.
    if trimmed != statements and (failure := _failure(trimmed, source_url)) is not None:
        print(
            f"new-migration: without the rebuilds of unchanged constraints the diff fails ({failure});"
            " all of them are kept",
            file=sys.stderr,
        )
        trimmed = statements
    return "\n\n".join(valid_at_once_on_new_tables(trimmed))


# A table the diff makes.
CREATED_TABLE = re.compile(
    r'create (?:unlogged )?table "(?P<schema>[^"]+)"\."(?P<table>[^"]+)"', re.IGNORECASE
)
NOT_VALID = re.compile(r"\s+not valid\s*;?\s*$", re.IGNORECASE)


def valid_at_once_on_new_tables(statements: list[str]) -> list[str]:
    """The statements, with a constraint on a table they make added valid at once: the diff adds
    every check and foreign key `not valid` and validates it next, which spares a big table a
    long lock but an empty one nothing, and which squawk refuses in one transaction."""
    created = {(found["schema"], found["table"]) for s in statements if (found := CREATED_TABLE.match(s))}
    kept: list[str] = []
    for statement in statements:
        found = CONSTRAINT_STATEMENT.match(statement)
        if found is not None and (found["schema"], found["table"]) in created:
            if found["action"] == "validate":
                continue
            statement = NOT_VALID.sub(";", statement)
        kept.append(statement)
    return kept


def _failure(statements: list[str], url: str) -> str | None:
    """Postgres's error where the statements fail on the database, tried in a transaction that is
    rolled back; None when they all run."""
    with psycopg.connect(url) as conn:
        try:
            for statement in statements:
                conn.execute(statement.encode())
        except psycopg.Error as error:
            return str(error).splitlines()[0]
        finally:
            conn.rollback()
    return None


def without_unchanged_constraints(statements: list[str], source_url: str, target_url: str) -> list[str]:
    """The statements but those that drop, add again and validate a constraint defined alike on
    both sides: the diff rebuilds every foreign key to a table that changes (a column added to
    app.organizations dropped and validated nine, each a lock and a scan, and squawk refused
    them). Kept when a table is dropped, whose foreign keys must go before it, and when the
    statements without them do not apply (diff_sql)."""
    if any(statement.lower().startswith("drop table") for statement in statements):
        return statements
    alike = _constraints(source_url) & _constraints(target_url)
    unchanged = {(schema, table, name) for schema, table, name, _definition in alike}

    def rebuilds_unchanged(statement: str) -> bool:
        found = CONSTRAINT_STATEMENT.match(statement)
        return found is not None and (found["schema"], found["table"], found["name"]) in unchanged

    return [statement for statement in statements if not rebuilds_unchanged(statement)]


def _constraints(url: str) -> set[tuple[str, str, str, str]]:
    with psycopg.connect(url) as conn:
        return {(str(a), str(b), str(c), str(d)) for a, b, c, d in conn.execute(CONSTRAINTS)}


def next_number(folder: Path) -> int:
    numbers = [int(m.group(1)) for p in folder.glob("*.sql") if (m := re.match(r"(\d{4})\.", p.name))]
    return max(numbers, default=0) + 1


def main() -> None:
    parser = recipe_parser("just new-migration", __doc__)
    parser.add_argument("name", help="what the migration does, e.g. add_users")
    parser.add_argument("--schema-dir", type=Path, default=SCHEMA_DIR)
    parser.add_argument("--migrations-dir", type=Path, default=MIGRATIONS_DIR)
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", args.name):
        raise SystemExit("new-migration: NAME must be lower-case letters, digits and _ (e.g. add_users)")

    with built_pair(args.schema_dir, args.migrations_dir) as (from_migrations, from_schema):
        forward = diff_sql(from_migrations, from_schema)
        backward = diff_sql(from_schema, from_migrations)
    if not forward:
        print("new-migration: migrations/ already build sql/schema/; nothing to write", file=sys.stderr)
        raise SystemExit(1)

    stem = f"{next_number(args.migrations_dir):04d}.{args.name}"
    apply_path = args.migrations_dir / f"{stem}.sql"
    rollback_path = args.migrations_dir / f"{stem}.rollback.sql"
    apply_path.write_text(
        HEADER.format(title=args.name, name=args.name) + "\n" + TIMEOUTS + "\n" + forward + "\n"
    )
    rollback_path.write_text(
        HEADER.format(title=f"rollback of {args.name}", name=args.name)
        + "\n"
        + TIMEOUTS
        + "\n"
        + (backward or "select 1;")
        + "\n"
    )
    print(f"new-migration: wrote {apply_path} and its rollback")


if __name__ == "__main__":
    main()
