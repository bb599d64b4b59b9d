"""`just backup FILE` and `just restore FILE DATABASE`: a logical backup of the database with
pg_dump (custom format: compressed, restorable table by table), and its restore into a new
database with pg_restore, in one transaction that stops at the first error.

The roles are the cluster's, not the database's: the restore makes those of sql/roles.sql first,
as migrate does (their passwords from BLOSSOM_<ROLE>_PASSWORD), so a new server needs nothing else.
Settings made with `alter database … set` are not in the dump; set them again. For point-in-time
recovery (WAL archiving), see docs/deployment.md.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from blossom_db.connections import Connection
from blossom_db.settings import connection_failure, with_connection_defaults
from deploy.migrate import database_privileges, make_roles, one_migrate_at_a_time, with_database
from ops.cluster import PG_BIN
from ops.settings import Settings, password_apart, recipe_parser
from ops.stack import database


class ToolFailed(RuntimeError):
    """pg_dump or pg_restore ended in failure (it said why on stderr)."""


def _run(tool: str, arguments: list[str], url: str) -> None:
    """The tool, the database's password apart from its command line (which a failure's message
    used to quote, too)."""
    # With the keepalives of every connection of ours: a dump of hours on a connection cut
    # without a word waited the OS's minutes (blossom_db.settings.CONNECTION_DEFAULTS).
    conninfo, password = password_apart(with_connection_defaults(url))
    done = subprocess.run(
        [str(PG_BIN / tool), *arguments, "--dbname", conninfo], env=os.environ | password, check=False
    )
    if done.returncode != 0:
        raise ToolFailed(f"{tool} failed (exit status {done.returncode})")


def dump(url: str, path: Path) -> None:
    """Into a new file beside `path`, readable by its owner only (a dump holds password hashes and
    sealed credentials), put in `path`'s place once whole: a dump that fails leaves the backup
    that was there."""
    descriptor, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(descriptor)
    try:
        _run("pg_dump", ["--format=custom", "--file", partial], url)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def restore(path: Path, url: str) -> None:
    """Into the database at `url`, which must exist and be empty; then what no dump holds, the
    database's own privileges (deploy.migrate.database_privileges), and connections of every
    role (`run` makes the database with a connection limit of 0, which the admin, a superuser,
    is not held to)."""
    _run("pg_restore", ["--exit-on-error", "--single-transaction", str(path)], url)
    with Connection.connect(url, autocommit=True) as conn:
        database_privileges(conn)
        conn.execute(
            sql.SQL("alter database {} connection limit -1").format(sql.Identifier(conn.info.dbname))
        )


def unwritable(path: Path) -> str | None:
    """Why no backup can be written to `path`, answered before the cluster starts or the server is
    asked: the dump is put in `path`'s place once whole, and onto a folder that failed only then.
    os.path's isdir: a folder closed to us is a no, not an error."""
    if os.path.isdir(path):
        return f"backup: {path} is a folder, not a file to write the backup into"
    if not os.path.isdir(path.parent):
        return f"backup: there is no folder {path.parent} to write {path.name} into"
    return None


# NAMEDATALEN - 1: the longest name Postgres keeps whole.
NAME_BYTES = 63


def refusal(url: str, command: str) -> str | None:
    """Why the admin user of `url` cannot do `command`, before anything is written: a backup
    reads every row past Row Level Security (a superuser, or a role with BYPASSRLS that may read
    every table), a restore makes objects owned by the roles of sql/roles.sql (a superuser).
    migrate's CREATEROLE is not enough for either."""
    with Connection.connect(url) as conn:
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
    parser = recipe_parser("just", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="dump the database into FILE")
    backup.add_argument("file", type=Path)
    into = sub.add_parser("restore", help="restore FILE into a new database DATABASE on the same server")
    into.add_argument("file", type=Path)
    into.add_argument("database")
    args = parser.parse_args()
    settings = Settings.from_env()
    url = settings.admin_url
    if args.command == "restore" and len(args.database.encode()) > NAME_BYTES:
        # Postgres would cut it, and restore into a database of another name than the one given.
        sys.exit(f"restore: a database name is at most {NAME_BYTES} bytes")
    if args.command == "backup" and (refused := unwritable(args.file)):
        sys.exit(refused)
    try:
        # A restore makes its database itself: made by `database`, as for the recipes that read
        # it, the local cluster's own was then refused as existing.
        with database(settings, create=args.command != "restore"):
            run(args.command, args.file, url, getattr(args, "database", None))
    # OSError: a backup's folder we may not write in, or one removed meanwhile; ClusterError (a
    # RuntimeError): the local cluster would not start.
    except (ToolFailed, psycopg.Error, OSError, RuntimeError) as error:
        sys.exit(f"{args.command}: {connection_failure(url, error) or error}")


def run(command: str, file: Path, url: str, into: str | None) -> None:
    """The backup into `file`, or its restore into the new database `into`, on `url`'s server."""
    # A restore asks the server's `postgres` database: the database of `url` may not exist yet.
    server = with_database(url, "postgres")
    refused = refusal(url if command == "backup" else server, command)
    if refused:
        sys.exit(refused)
    if command == "backup":
        dump(url, file)
        print(f"backup: {file} written")
        return
    assert into is not None
    database_name = sql.Identifier(into)
    with Connection.connect(server, autocommit=True) as conn:
        try:
            # template0's privileges are Postgres's defaults: until restore() has set the
            # database's own, any login could connect, read every session's locks and leave a
            # large object the restore kept. Until then only superusers connect.
            conn.execute(
                sql.SQL("create database {} template template0 connection limit 0").format(database_name)
            )
        except psycopg.errors.DuplicateDatabase:
            # Any recipe on the local database makes `blossom` (`./dev up`, `migrate`, `psql` …),
            # so on a checkout that has run one, Postgres's own "already exists" left the
            # developer to guess that a restore never writes into a database it did not make.
            # The command is quoted for SQL, then for the shell: a name pasted in as it was, with
            # a quote or a double quote, made a command that failed or named another database.
            drop = shlex.quote(sql.SQL("drop database {}").format(database_name).as_string(conn))
            sys.exit(
                f"restore: database {into!r} exists already, and a restore makes a new one: give"
                f" another name, or drop it first (with the stack stopped: ./dev psql -d postgres -c {drop})"
            )
    try:
        # The dump's objects are owned by the roles of sql/roles.sql, which a new server lacks.
        # Made in turn with migrate, which makes them too: two sessions altering one role at
        # once fail ("tuple concurrently updated").
        with one_migrate_at_a_time(server) as conn:
            make_roles(conn)
        restore(file, with_database(url, into))
    except BaseException:
        # What a failed restore made is of no use, and would refuse the next try of that name.
        with Connection.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(database_name))
        raise
    print(f"restore: {file} restored into database {into}")


if __name__ == "__main__":
    main()
