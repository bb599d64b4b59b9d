"""`just schema-check`: do the migrations build exactly what sql/schema describes?

Builds one database by applying `migrations/` and one by running `sql/schema/*.sql`, dumps
both with `pg_dump --schema-only`, normalizes the dumps and prints a unified diff of what
disagrees. Exit status 1 when they differ.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from deploy.migrate import (
    META_SCHEMA,
    MIGRATIONS_DIR,
    apply_migrations,
    bootstrap,
    one_migrate_at_a_time,
    owner_url,
    run_file,
)
from ops.cluster import PG_BIN
from ops.scratch import scratch_database, scratch_server
from ops.settings import ROOT, recipe_parser

# The declarative target the migrations must build; only these checks read it.
SCHEMA_DIR = ROOT / "sql" / "schema"


def bootstrap_in_turn(url: str) -> None:
    """bootstrap, which restates the server's roles, in its turn with migrate and restore (their
    lock): two sessions altering one role at once fail (`tuple concurrently updated`), and a
    check built beside a deploy's migrate on the same server failed so."""
    with one_migrate_at_a_time(url):
        bootstrap(url)


def build_from_schema(url: str, schema_dir: Path = SCHEMA_DIR) -> None:
    bootstrap_in_turn(url)
    with psycopg.connect(owner_url(url)) as conn:
        for path in sorted(schema_dir.rglob("*.sql")):  # in path order: the NNN_ prefixes say it
            run_file(conn, path)


def build_from_migrations(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    bootstrap_in_turn(url)
    apply_migrations(url, migrations_dir)


# pg_dump lists a policy's roles in the order pg_roles happens to hold them on disk, which every
# `alter role` (sql/roles.sql, each migrate) may change; the order means nothing, so it is sorted.
_POLICY_ROLES = re.compile(r"^(CREATE POLICY .*? TO )(\S+(?:, \S+)*)( USING | WITH CHECK |;)")


def _sorted_policy_roles(line: str) -> str:
    return _POLICY_ROLES.sub(lambda m: m[1] + ", ".join(sorted(m[2].split(", "))) + m[3], line, count=1)


def normalized_dump(url: str) -> list[str]:
    """The schema as pg_dump prints it, minus what says nothing about the schema itself."""
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", f"--exclude-schema={META_SCHEMA}", "--dbname", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = []
    for line in dump.splitlines():
        if not line.strip() or line.startswith("--"):
            continue
        # \restrict carries a random key per dump (pg_dump 15.14+); SET lines are session state.
        if line.startswith(("SET ", "SELECT pg_catalog.set_config(", "\\restrict", "\\unrestrict")):
            continue
        lines.append(_sorted_policy_roles(line))
    return lines


@contextmanager
def built_pair(
    schema_dir: Path = SCHEMA_DIR, migrations_dir: Path = MIGRATIONS_DIR
) -> Iterator[tuple[str, str]]:
    """URLs of two fresh databases: (from migrations, from sql/schema)."""
    with (
        scratch_server() as server,
        scratch_database(server, "migrations") as from_migrations,
        scratch_database(server, "schema") as from_schema,
    ):
        build_from_migrations(from_migrations, migrations_dir)
        build_from_schema(from_schema, schema_dir)
        yield from_migrations, from_schema


def schema_diff(schema_dir: Path = SCHEMA_DIR, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    with built_pair(schema_dir, migrations_dir) as (from_migrations, from_schema):
        return list(
            difflib.unified_diff(
                normalized_dump(from_migrations),
                normalized_dump(from_schema),
                fromfile="migrations/",
                tofile="sql/schema/",
                lineterm="",
            )
        )


def main() -> None:
    parser = recipe_parser("just schema-check", __doc__)
    parser.add_argument("--schema-dir", type=Path, default=SCHEMA_DIR)
    parser.add_argument("--migrations-dir", type=Path, default=MIGRATIONS_DIR)
    args = parser.parse_args()
    diff = schema_diff(args.schema_dir, args.migrations_dir)
    if diff:
        print(
            "schema-check: migrations/ and sql/schema/ disagree "
            "(lines with - come from migrations, + from sql/schema):",
            file=sys.stderr,
        )
        print("\n".join(diff))
        print("\nschema-check: write a migration for it: just new-migration NAME", file=sys.stderr)
        raise SystemExit(1)
    print("schema-check: migrations/ build exactly what sql/schema/ describes", file=sys.stderr)


if __name__ == "__main__":
    main()
