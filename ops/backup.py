"""`just backup FILE` and `just restore FILE DATABASE`: a logical backup of the database with
pg_dump (custom format: compressed, restorable table by table), and its restore into a new
database with pg_restore, in one transaction that stops at the first error.

The roles are the cluster's, not the database's: on a new server, run `just migrate` on an empty
database first (it makes the roles of sql/roles.sql), or restore `pg_dumpall --roles-only`.
Settings made with `alter database … set` are not in the dump; set them again. For point-in-time
recovery (WAL archiving), see docs/deployment.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.migrate import database_privileges, with_database
from ops.cluster import PG_BIN
from ops.settings import Settings


def dump(url: str, path: Path) -> None:
    subprocess.run(
        [str(PG_BIN / "pg_dump"), "--format=custom", "--file", str(path), "--dbname", url],
        check=True,
    )


def restore(path: Path, url: str) -> None:
    """Into the database at `url`, which must exist and be empty; then what no dump holds, the
    database's own privileges (deploy.migrate.database_privileges)."""
    subprocess.run(
        [str(PG_BIN / "pg_restore"), "--exit-on-error", "--single-transaction", "--dbname", url, str(path)],
        check=True,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        database_privileges(conn)


def refusal(url: str, command: str) -> str | None:
    """Why the admin user of `url` cannot do `command`, before anything is written: a backup
    reads every row past Row Level Security (a superuser, or a role with BYPASSRLS that may read
    every table), a restore makes objects owned by the roles of sql/roles.sql (a superuser).
    migrate's CREATEROLE is not enough for either."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone()
    superuser, bypasses = row if row is not None else (False, False)
    if command == "backup" and not (superuser or bypasses):
        return (
            "backup: DATABASE_URL must name a superuser or a role with BYPASSRLS: pg_dump reads every"
            " row, past Row Level Security"
        )
    if command == "restore" and not superuser:
        return (
            "restore: DATABASE_URL must name a superuser: the dump's objects are owned by the roles"
            " of sql/roles.sql"
        )
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="dump the database into FILE")
    backup.add_argument("file", type=Path)
    into = sub.add_parser("restore", help="restore FILE into a new database DATABASE on the same server")
    into.add_argument("file", type=Path)
    into.add_argument("database")
    args = parser.parse_args()
    url = Settings.from_env().admin_url
    try:
        refused = refusal(url, args.command)
        if refused:
            sys.exit(refused)
        if args.command == "backup":
            dump(url, args.file)
            print(f"backup: {args.file} written")
            return
        with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("create database {} template template0").format(sql.Identifier(args.database))
            )
        restore(args.file, with_database(url, args.database))
        print(f"restore: {args.file} restored into database {args.database}")
    except (subprocess.CalledProcessError, psycopg.Error) as error:
        sys.exit(f"{args.command}: {error}")


if __name__ == "__main__":
    main()
