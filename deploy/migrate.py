"""`just migrate`: roles, then yoyo migrations, then the stateless layer, then a PostgREST reload.

    python -m deploy.migrate [--database-url URL]     (default: DATABASE_URL)

The Docker image's migrate job runs this; `just migrate`, `just up` and the tests call
`migrate()` with the URL of their own database.

Each migration applied has the checksum of its file recorded (CHECKSUMS_TABLE); migrate and a
rollback first refuse a database whose applied migrations' files differ from what it ran
(refuse_edited_or_unknown_migrations).

The stateless layer (`sql/functions`, `sql/views`, `sql/policies`, `sql/grants`, in the order
`sql/stateless.txt` lists them) is re-applied in one transaction. The objects it made last time
are recorded in `blossom_meta.stateless_objects` and dropped first, so a function or policy
deleted from the files is gone afterwards, while the objects migrations made (tables, domains,
`app.gen_id`) are never touched.

Migrate runs while the application serves. So one migrate runs at a time (a session advisory
lock), and the layer is re-applied only when it would change something: when a migration was
applied, the files differ, or the database's objects differ from what the layer made last time
(fingerprints in `blossom_meta.stateless_state`); a migrate with nothing to do takes no lock
on the application's tables. When it does re-apply, dropping a policy or trigger needs its
table alone: each lock is waited for at most LOCK_WAIT (under Postgres's deadlock_timeout, so
it gives way rather than deadlock a request), and the whole layer is tried again, up to
ATTEMPTS times; requests wait at most that long for one try. A migration's own locks are waited
for as briefly (its `lock_timeout`, LOCK_WAIT as `just new-migration` writes it), and one in a
transaction that gives way on one is tried again the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from blossom_db.connections import Connection
from blossom_db.settings import (
    check_database_url,
    connection_failure,
    url_parts,
    with_connection_defaults,
    without_parameters,
)

ROOT = Path(__file__).resolve().parent.parent
OWNER_ROLE = "blossom_owner"
ROLES_FILE = ROOT / "sql" / "roles.sql"
# What every role may do in the database beyond the grants (temporary objects, large objects,
# advisory locks): run after ROLES_FILE, every time.
DATABASE_FILE = ROOT / "sql" / "database.sql"
SERVER_FILE = ROOT / "sql" / "server.sql"
MIGRATIONS_DIR = ROOT / "migrations"
# The stateless layer: the files under these folders of sql/, in the order sql/stateless.txt gives.
STATELESS_MANIFEST = ROOT / "sql" / "stateless.txt"
STATELESS_FOLDERS = ("functions", "views", "policies", "grants")
MANAGED_SCHEMAS = ("util", "app", "auth", "api", "admin", "pipeline", "analytics", "delivery", "ext", "jobs")
# The job queue's schema: procrastinate's own tables and functions (the version pinned in
# requirements.lock), made by migrate before the migrations, as the owner, when it is missing.
# Its code is procrastinate's, not ours: our SQL checks leave it alone.
JOBS_SCHEMA = "jobs"
# The last of procrastinate's own migrations (procrastinate/sql/migrations/) that every job queue
# holds. apply_jobs_schema makes a new database's from the installed procrastinate's whole schema;
# one made before a newer procrastinate keeps the schema it was made with. A procrastinate that
# brings migrations past this one needs a migration of ours that applies them where the job queue
# lacks them (a database made since has them: procrastinate's migrations are not written to run
# twice), in schema jobs, each new table given Row Level Security; and this name moved on with it:
# until then tests/test_migrate.py fails, naming them.
JOBS_SCHEMA_LAST_MIGRATION = "03.04.00_50_post_add_retry_failed_job_procedure.sql"
OUR_CODE_SCHEMAS = tuple(schema for schema in MANAGED_SCHEMAS if schema != JOBS_SCHEMA)
# yoyo's tables and our own bookkeeping live here, outside every schema the app uses.
META_SCHEMA = "blossom_meta"
# Our own record of what each applied migration's file was when it ran (its sha256): yoyo keys a
# migration by its name alone, so an edit of one that had run passed unseen.
CHECKSUMS_TABLE = f"{META_SCHEMA}.migration_checksums"
# The lock that lets one migrate of the server's databases run at a time.
MIGRATE_LOCK = "blossom.migrate"
# yoyo's own lock is a row (blossom_meta.yoyo_lock) that its run inserts, and deletes as it ends: a
# run killed meanwhile (SIGKILL, its machine gone) left it, and every migrate after waited for a
# process that no longer existed, then failed. So every session of the run holds this advisory
# lock, in the migrated database, while the row is its: the one that inserts the row (it has it
# alone until then, then shared) and the one each migration runs on (yoyo opens one per
# migration; shared). A run that has it alone knows no session of the row's run is left, not even
# one whose client was killed while its statement runs on, and releases the row (_yoyo_backend).
# A live holder is waited for YOYO_LOCK_WAIT_SECONDS (yoyo's own wait for its row), then refused.
YOYO_LOCK_HOLDER = "blossom.migrate.yoyo_lock"
YOYO_LOCK_WAIT_SECONDS = 10.0
# How long the stateless layer, and a migration made by `just new-migration`, waits for one
# table's lock (Postgres's deadlock_timeout is 1 s), and how many times either is tried, a while
# apart, before migrate gives up.
LOCK_WAIT = "500ms"
ATTEMPTS = 20
ATTEMPT_PAUSE_SECONDS = 1.0

# While the stateless layer is dropped (by a rollback, until the next migrate applies it), the
# owner, whom the forced row security binds, has no policy that shows it a row: a rollback or a
# migration that updates or deletes rows did so on none. This policy, on every table, shows the
# owner every row for the while they run, and is dropped after them (and by the next layer's
# drop, had a migrate been killed meanwhile).
MIGRATION_POLICY = "migrations_see_every_row"

T = TypeVar("T")


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


class SqlFileError(RuntimeError):
    """A SQL file failed; names the file and the line, as a person wants to read it."""

    def __init__(self, path: Path, error: psycopg.Error, hint: str = "") -> None:
        where = ""
        position = error.diag.statement_position
        if position:
            text = path.read_text()
            where = f":{text.count(chr(10), 0, int(position)) + 1}"
        said = f"{_shown(path)}{where}: {error.diag.message_primary or error}"
        super().__init__(f"{said}: {hint}" if hint else said)


class ManifestError(RuntimeError):
    """sql/stateless.txt and the files disagree; names the file."""


class RolesFileError(RuntimeError):
    """sql/roles.sql is not in the form its roles are read from; names the file."""


# roles.sql's `wanted constant jsonb := '{…}'`, an SQL string literal ('' is a quote inside it).
_WANTED_ROLES = re.compile(r"\bwanted\s+constant\s+jsonb\s*:=\s*'((?:[^']|'')*)'", re.IGNORECASE)


def declared_roles(roles_file: Path | None = None) -> dict[str, set[str]]:
    """Each role sql/roles.sql declares, with the words of its attributes (`login`, `noinherit` …).

    The file is the one list of our roles: its DO block creates or alters every role of one JSON
    object, `wanted`, and this reads that very object, so adding a role means editing roles.sql
    alone. It is read from the file rather than from the database after running it because the
    catalog cannot tell our roles from the others on the cluster (a shared server's own, or one
    roles.sql no longer declares)."""
    roles_file = roles_file or ROLES_FILE
    found = _WANTED_ROLES.findall(roles_file.read_text())
    if len(found) != 1:
        raise RolesFileError(
            f"{_shown(roles_file)}: want one `wanted constant jsonb := '{{…}}'` of roles, found {len(found)}"
        )
    try:
        wanted = json.loads(found[0].replace("''", "'"))
    except json.JSONDecodeError as error:
        raise RolesFileError(f"{_shown(roles_file)}: `wanted` is not JSON: {error}") from None
    if not isinstance(wanted, dict) or not all(isinstance(value, str) for value in wanted.values()):
        raise RolesFileError(f"{_shown(roles_file)}: `wanted` must map each role to its attributes")
    return {name: set(attributes.lower().split()) for name, attributes in wanted.items()}


def stateless_files(manifest: Path | None = None) -> list[Path]:
    """The stateless layer's files in the manifest's order (paths relative to its folder).
    Every .sql file under the stateless folders must be listed exactly once, and every listed
    file must exist: a new file cannot be forgotten, nor loaded in an accidental order."""
    manifest = manifest or STATELESS_MANIFEST
    base = manifest.parent
    listed = [
        line.strip()
        for line in manifest.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    shown = _shown(manifest)
    seen: set[str] = set()
    for entry in listed:
        if entry in seen:
            raise ManifestError(f"{shown}: {entry} is listed twice")
        if not (base / entry).is_file():
            raise ManifestError(f"{shown}: {entry} is listed but does not exist")
        seen.add(entry)
    for folder in STATELESS_FOLDERS:
        for path in sorted((base / folder).rglob("*.sql")):
            entry = path.relative_to(base).as_posix()
            if entry not in seen:
                raise ManifestError(
                    f"{shown}: {entry} is not listed; add it where its dependencies are loaded"
                )
    return [base / entry for entry in listed]


def run_file(conn: psycopg.Connection, path: Path) -> None:
    """The SQL file `path`, run on `conn`; its warnings (what an admin user that is not a
    superuser may not do, sql/roles.sql and sql/database.sql say) written on stderr, which
    psycopg drops when no handler takes them."""
    conn.add_notice_handler(_warning_shown)
    try:
        # No parameters: psycopg sends the file as one simple query, many statements allowed.
        conn.execute(path.read_text().encode())
    except psycopg.Error as error:
        raise SqlFileError(path, error) from error
    finally:
        conn.remove_notice_handler(_warning_shown)


def _warning_shown(notice: psycopg.errors.Diagnostic) -> None:
    if notice.severity_nonlocalized == "WARNING":
        print(f"migrate: warning: {notice.message_primary}", file=sys.stderr, flush=True)


def database_privileges(conn: psycopg.Connection) -> None:
    """The connected database's own privileges (as its admin user): DATABASE_FILE, and the owner
    role's right to create in it. A restored dump needs this again; a copy of a migrated database
    needs only `privileges_on_database`."""
    run_role_file(conn, DATABASE_FILE)
    for statement in privileges_on_database(conn.info.dbname):
        conn.execute(statement)


def privileges_on_database(name: str) -> list[sql.Composed]:
    """The privileges on database `name` itself, which the server's catalog (pg_database) keeps,
    and so a copy (CREATE DATABASE … TEMPLATE) does not get: TEMPORARY is not PUBLIC's (as
    DATABASE_FILE has it), CREATE and TEMPORARY are the owner role's. What DATABASE_FILE takes from
    PUBLIC of the system catalog's functions is the database's own catalog's, copied with it. Run
    over a connection to any database of the server."""
    database = sql.Identifier(name)
    return [
        sql.SQL("revoke temporary on database {} from public").format(database),
        sql.SQL("grant create, temporary on database {} to {}").format(database, sql.Identifier(OWNER_ROLE)),
    ]


def owner_url(admin_url: str) -> str:
    """The admin URL with every session switched to the owner role, so it owns what it makes."""
    separator = "&" if "?" in admin_url else "?"
    return f"{admin_url}{separator}options=-c%20role%3D{OWNER_ROLE}"


def bootstrap(admin_url: str) -> None:
    """What must exist before any migration: roles, the owner's rights, the bookkeeping schema."""
    with Connection.connect(admin_url, autocommit=True) as conn:
        make_roles(conn)
        database_privileges(conn)
        conn.execute(
            sql.SQL("create schema if not exists {} authorization {}").format(
                sql.Identifier(META_SCHEMA), sql.Identifier(OWNER_ROLE)
            )
        )
        with conn.transaction():
            _make_checksums_table(conn)
    apply_jobs_schema(admin_url)


def _make_checksums_table(conn: psycopg.Connection) -> None:
    """CHECKSUMS_TABLE, as the owner (whose yoyo backend writes it), when it is missing."""
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(OWNER_ROLE)))
    conn.execute(
        f"create table if not exists {CHECKSUMS_TABLE} ("
        " migration_id text primary key, sha256 text not null,"
        " recorded_at timestamptz not null default now())"
    )


# How long ROLES_FILE and DATABASE_FILE wait for a row of a role's (its settings, its default
# privileges) that another transaction changed and holds: a login may change its own in a
# transaction it keeps open, and migrate waited as long as that session lasted (panopticon's idle
# timeout, 5 minutes), then failed with "tuple concurrently updated" when it committed.
ROLE_ROWS_WAIT = "10s"


def run_role_file(conn: psycopg.Connection, path: Path) -> None:
    """run_file, on an autocommit connection, each lock waited for at most ROLE_ROWS_WAIT."""
    conn.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(ROLE_ROWS_WAIT)))
    try:
        run_file(conn, path)
    except SqlFileError as error:
        if isinstance(error.__cause__, psycopg.errors.LockNotAvailable):
            raise SqlFileError(
                path,
                error.__cause__,
                hint="another session changed a role of ours and keeps its transaction open"
                " (pg_stat_activity: 'idle in transaction'); end it, then migrate again",
            ) from error.__cause__
        raise
    finally:
        conn.execute("reset lock_timeout")


def make_roles(conn: psycopg.Connection) -> None:
    """The roles of ROLES_FILE, made or corrected on the connection's server (roles are the
    server's, whichever database it is connected to), each login role with its password from
    BLOSSOM_<ROLE>_PASSWORD when that is set: before a migration, and before a restore (a dump's
    objects are owned by them)."""
    run_role_file(conn, ROLES_FILE)
    for role, attributes in declared_roles().items():
        # A role that logs in gets BLOSSOM_<ROLE>_PASSWORD (servers that do not trust loopback).
        password = os.environ.get(f"BLOSSOM_{role.upper()}_PASSWORD")
        if password and "login" in attributes:
            # Its SCRAM verifier, made here as psql's \password makes it: the statement's text,
            # which pg_stat_statements and a server's statement log keep, never holds the password.
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(role), sql.Literal(verifier.decode())
                )
            )


def apply_jobs_schema(admin_url: str) -> None:
    """procrastinate's schema, in schema `jobs`, once: its SQL names its objects without a
    schema, so it is run with that schema first on the path. Its tables then get Row Level
    Security, enabled and forced like every table of ours, with policies for the two roles
    that use them (sql/policies/jobs.sql): the owner, whose functions defer jobs, and the
    worker. An upgrade of procrastinate brings migrations of its own, to run in a migration of
    ours (JOBS_SCHEMA_LAST_MIGRATION); and a change of ours to its schema is a migration of ours
    too (0037 drops its trigger that wakes the worker)."""
    from procrastinate.schema import SchemaManager

    with Connection.connect(admin_url) as conn:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(OWNER_ROLE)))
        if _exists(conn, f"{JOBS_SCHEMA}.procrastinate_jobs"):
            return
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(JOBS_SCHEMA)))
        conn.execute(sql.SQL("set local search_path = {}").format(sql.Identifier(JOBS_SCHEMA)))
        conn.execute(SchemaManager.get_schema().encode())
        conn.execute(
            sql.SQL("comment on schema {} is {}").format(
                sql.Identifier(JOBS_SCHEMA),
                sql.Literal(
                    "The job queue (procrastinate): jobs deferred in the transaction that causes them."
                ),
            )
        )
        for (table,) in conn.execute(
            "select c.oid::regclass::text from pg_class c where c.relnamespace = %s::regnamespace"
            " and c.relkind = 'r'",
            (JOBS_SCHEMA,),
        ).fetchall():
            conn.execute(f"alter table {table} enable row level security, force row level security".encode())


class MigrationError(RuntimeError):
    """A migration could not be read or applied; the message names it."""


def _yoyo_backend(admin_url: str) -> Any:
    """yoyo's backend on the database, as the owner, its bookkeeping in META_SCHEMA: its Postgres
    backend, less three statements that fail or warn on every healthy run. Each was an ERROR or
    a WARNING in the server's log (which `just up` shows), read as a migrate gone wrong:

    - its lock table made every time, `relation "yoyo_lock" already exists` but the first: made
      only when missing (IF NOT EXISTS);
    - its test of whether DDL is transactional, a table made in a transaction rolled back and
      then dropped, `table "yoyo_tmp_…" does not exist`: Postgres's DDL is transactional;
    - a ROLLBACK before each migration outside a transaction (`-- transactional: false`) on a
      connection in no transaction, `there is no transaction in progress`: sent only in one.

    A real failure is untouched: a migration's statement still fails, and is named
    (apply_migrations). Its lock first releases the row of a run killed while it held it
    (YOYO_LOCK_HOLDER). It also records each migration's checksum as it marks it applied, and
    forgets it as it marks it rolled back (refuse_edited_or_unknown_migrations)."""
    from yoyo.backends.base import DatabaseBackend
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.connections import default_migration_table, parse_uri

    class QuietPostgresBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        create_lock_table_sql = PostgresqlPsycopgBackend.create_lock_table_sql.replace(
            "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1
        )

        def _check_transactional_ddl(self) -> bool:
            return True

        @contextmanager
        def lock(self, timeout: float | None = None) -> Iterator[None]:
            if self._is_locked:  # yoyo's own calls inside the lock
                yield
                return
            wait = YOYO_LOCK_WAIT_SECONDS if timeout is None else timeout
            deadline = time.monotonic() + wait
            # Tried, not waited for in Postgres's queue: a wait there would hold up the shared
            # lock a live run's next migration takes (copy) behind it.
            while not _yoyo_lock_holder(self.connection, "pg_try_advisory_lock"):
                if wait and time.monotonic() >= deadline:
                    raise MigrationError(
                        f"yoyo's lock is held by a session still connected (waited {wait:g} s): another"
                        " migrate's, or that of one killed while its migration still runs on the server"
                        " (pg_stat_activity shows it); migrate again once it has ended"
                    )
                time.sleep(0.5)
            release = "pg_advisory_unlock"
            try:
                self._release_lock_left_behind()
                with super().lock(wait):
                    _yoyo_lock_holder(self.connection, "pg_advisory_lock_shared")
                    _yoyo_lock_holder(self.connection, "pg_advisory_unlock")
                    release = "pg_advisory_unlock_shared"
                    yield
            finally:
                # After the row is deleted (super's lock ends so). A session that cannot say it any
                # more lets the lock go as it closes, which its caller does next.
                with suppress(psycopg.Error):
                    _yoyo_lock_holder(self.connection, release)

        def copy(self) -> Any:
            """The backend a migration runs on (yoyo runs each on a connection of its own): while
            the lock is this run's, its session holds YOYO_LOCK_HOLDER too, shared."""
            twin = super().copy()
            if self._is_locked:
                _yoyo_lock_holder(twin.connection, "pg_advisory_lock_shared")
            return twin

        def _release_lock_left_behind(self) -> None:
            left = self.connection.execute(
                f"delete from {self.lock_table_quoted} returning pid, ctime".encode()
            ).fetchall()
            for pid, taken in left:
                since = f" (taken at {taken:%Y-%m-%d %H:%M:%S} UTC)" if taken else ""
                print(
                    f"migrate: released yoyo's lock left by process {pid}{since}, a run that ended"
                    " without releasing it (killed?): its database sessions are gone",
                    file=sys.stderr,
                )

        def rollback(self) -> None:
            if self.connection.info.transaction_status != self.TRANSACTION_STATUS_IDLE:
                self.execute("ROLLBACK")
            DatabaseBackend.rollback(self)

        # A migration (or its rollback) and yoyo's record of it in one transaction, on the
        # connection it runs on: yoyo commits the work, then records it in a transaction of its
        # own on another connection, and a migrate cut between the two left work done and not
        # recorded, which every later migrate ran again and failed on. One outside a transaction
        # (`-- transactional: false`) is recorded after it, as yoyo does: it cannot be undone.
        def apply_one(self, migration: Any, force: bool = False, mark: bool = True) -> None:
            migration.load()
            if migration.use_transactions:
                self._run_and_record(migration, "apply", force, record=mark)
            else:
                super().apply_one(migration, force, mark)

        def rollback_one(self, migration: Any, force: bool = False) -> None:
            migration.load()
            if migration.use_transactions:
                self._run_and_record(migration, "rollback", force, record=True)
            else:
                super().rollback_one(migration, force)

        def _run_and_record(self, migration: Any, direction: str, force: bool, record: bool) -> None:
            """`record`: marked applied (or not, for a rollback); yoyo's post-apply hooks are
            only logged."""
            self.ensure_internal_schema_updated()
            # Made before the migration takes its locks: the log's row asks for the host's name,
            # which a slow resolver would answer while every query of a locked table waited. (Its
            # time is then the migration's start.)
            entry = self.get_log_data(migration, direction)
            with self.copy() as migration_backend:
                # Brought up to date just now, on this run's connection: not asked again in the
                # transaction, where yoyo could not upgrade it.
                migration_backend._internal_schema_updated = True
                with migration_backend.transaction():
                    migration.process_steps(migration_backend, direction, force=force)
                    # yoyo's tables are found by its search_path, as the owner: a migration's own
                    # `set local search_path` or `set local role` is not the record's.
                    migration_backend.execute("reset role")
                    migration_backend.init_connection(migration_backend.connection)
                    migration_backend.execute(migration_backend.format_sql(self.log_migration_sql), entry)
                    if record and direction == "apply":
                        migration_backend.mark_one(migration, log=False)
                    elif record:
                        migration_backend.unmark_one(migration, log=False)

        # What ran is recorded, and forgotten, in the very transaction yoyo marks the migration
        # applied, or not, in: the two records never disagree.
        def mark_one(self, migration: Any, log: bool = True) -> None:
            super().mark_one(migration, log)
            self.execute(
                f"insert into {CHECKSUMS_TABLE} (migration_id, sha256) values (:id, :sha256)"
                " on conflict (migration_id) do update set sha256 = excluded.sha256, recorded_at = now()",
                {"id": migration.id, "sha256": migration_checksum(migration)},
            )

        def unmark_one(self, migration: Any, log: bool = True) -> None:
            super().unmark_one(migration, log)
            self.execute(f"delete from {CHECKSUMS_TABLE} where migration_id = :id", {"id": migration.id})

    # yoyo connects itself, with the URL's parameters: the keepalives of every connection of ours
    # (blossom_db.settings.CONNECTION_DEFAULTS) go in it.
    url = with_connection_defaults(owner_url(admin_url)).replace("postgresql://", "postgresql+psycopg://", 1)
    backend = QuietPostgresBackend(parse_uri(url + f"&schema={META_SCHEMA}"), default_migration_table)
    backend.init_database()  # as yoyo's get_backend does
    return backend


def _yoyo_lock_holder(conn: psycopg.Connection, function: str) -> bool:
    """pg_catalog.`function` (pg_try_advisory_lock, pg_advisory_lock_shared, an unlock …) of
    YOYO_LOCK_HOLDER on a yoyo connection, whose session is the owner's, as the admin: advisory
    locks are the admin's (sql/database.sql). Whether it was had, for a try."""
    with conn.transaction():
        conn.execute("set local role none")
        row = conn.execute(
            sql.SQL("select pg_catalog.{}(pg_catalog.hashtextextended({}, 0))").format(
                sql.Identifier(function), sql.Literal(YOYO_LOCK_HOLDER)
            )
        ).fetchone()
    return row is not None and row[0] is not False  # a lock waited for returns void


def apply_migrations(admin_url: str, migrations_dir: Path | None = None) -> list[str]:
    """Apply pending yoyo migrations as the owner, each in a transaction of its own (but one that
    says `-- transactional: false`); return the ids applied. One in a transaction that could not
    have a lock within its lock_timeout is tried again (_while_tables_busy). MigrationError
    names the one that failed (rolled back, those before it kept; of one outside a transaction,
    what ran before the failing statement stays, as yoyo's rollback steps leave it)."""
    from yoyo import read_migrations
    from yoyo.exceptions import BadMigration, MigrationConflict

    backend = _yoyo_backend(admin_url)
    try:
        with backend.lock():
            try:
                pending = backend.to_apply(read_migrations(str(migrations_dir or MIGRATIONS_DIR)))
            except (BadMigration, MigrationConflict) as error:
                raise MigrationError(f"migrations: {error}") from None
            for migration in pending:
                try:
                    _retried_if_transactional(
                        migration,
                        f"migration {migration.id}",
                        partial(backend.apply_migrations_only, [migration]),
                    )
                except psycopg.Error as error:
                    undone = "rolled back" if migration.use_transactions else "outside a transaction"
                    raise MigrationError(
                        f"migration {migration.id} failed, {undone}: {_failure(migration, error)}"
                    ) from None
            backend.run_post_apply(pending)
    finally:
        backend.connection.close()
    return [migration.id for migration in pending]


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migrations' files of `folder`, in order, their rollback files left out: a migration's
    id is its file's name without `.sql`."""
    return sorted(path for path in folder.glob("*.sql") if not path.name.endswith(".rollback.sql"))


def migration_checksum(migration: Any) -> str:
    """The sha256 of a migration's file as it is on disk, its bytes unchanged (docs/sql.md says
    why): only the migration's own file, not its rollback, which has not run where it is applied
    and may be mended there."""
    return hashlib.sha256(Path(migration.path).read_bytes()).hexdigest()


def refuse_edited_or_unknown_migrations(admin_url: str, migrations_dir: Path | None = None) -> dict[str, str]:
    """MigrationError, before anything is changed (the server's roles included), when the
    database's applied migrations are not this code's:

    - one is not in `migrations_dir`: the database was migrated by a newer release (its backup
      restored, a deploy undone without its rollback). This code's stateless layer would go over
      that release's tables, and its rollbacks under that release's migrations.
    - one's file is not the text that ran here (its checksum differs from the one recorded when
      it was applied): yoyo knows a migration by its name, so the edit would be applied nowhere
      that ran it, and a rollback would undo the edited text rather than what ran. One line names
      each.

    Returns the checksums of the applied migrations that have none recorded (a database
    migrated before checksums were kept), by id, for record_baseline."""
    from yoyo import read_migrations

    with Connection.connect(admin_url) as conn:
        if not _exists(conn, f"{META_SCHEMA}._yoyo_migration"):
            return {}
        # One query on an up-to-date database: the applied migrations with what was recorded.
        query = (
            f"select m.migration_id, c.sha256 from {META_SCHEMA}._yoyo_migration m"
            f" left join {CHECKSUMS_TABLE} c using (migration_id)"
            if _exists(conn, CHECKSUMS_TABLE)
            else f"select migration_id, null::text from {META_SCHEMA}._yoyo_migration"
        )
        applied: dict[str, str | None] = {
            str(migration_id): sha256 for migration_id, sha256 in conn.execute(query.encode())
        }
    known = {migration.id: migration for migration in read_migrations(str(migrations_dir or MIGRATIONS_DIR))}
    unknown = sorted(set(applied) - set(known))
    if unknown:
        raise MigrationError(
            f"the database has migration(s) this code does not: {', '.join(unknown)}; migrate it with"
            " the code of the release that made them (or roll them back with it)"
        )
    current = {migration_id: migration_checksum(known[migration_id]) for migration_id in applied}
    edited = sorted(
        migration_id
        for migration_id, recorded in applied.items()
        if recorded is not None and recorded != current[migration_id]
    )
    if edited:
        raise MigrationError(
            "\n".join(
                f"migration {migration_id} was edited after it ran here: its file"
                f" ({_shown(Path(known[migration_id].path))}) is not the text this database applied;"
                " restore the file as it ran (git log shows it), or roll it back with the code that"
                " ran it (--rollback-to the migration before it) and migrate again"
                for migration_id in edited
            )
        )
    return {
        migration_id: current[migration_id] for migration_id, recorded in applied.items() if recorded is None
    }


def record_baseline(admin_url: str, unrecorded: dict[str, str]) -> None:
    """Records the checksums of applied migrations that have none, from their files as they are:
    a database migrated before checksums were kept (the files are taken as what ran; an edit
    made before this is not seen)."""
    with Connection.connect(admin_url) as conn:
        _make_checksums_table(conn)
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into {CHECKSUMS_TABLE} (migration_id, sha256) values (%s, %s)"
                " on conflict (migration_id) do nothing".encode(),
                sorted(unrecorded.items()),
            )


def checked_against_this_code(admin_url: str) -> int:
    """What migrate and a rollback do first: refuse_edited_or_unknown_migrations, then the
    baseline of a database migrated before checksums were kept (record_baseline; its schema and
    owner exist, since it ran migrations); how many checksums that recorded."""
    unrecorded = refuse_edited_or_unknown_migrations(admin_url)
    if unrecorded:
        record_baseline(admin_url, unrecorded)
    return len(unrecorded)


def _failure(migration: Any, error: psycopg.Error) -> str:
    """Postgres's error, and, for a lock timeout outside a transaction, why it was not retried."""
    if isinstance(error, errors.LockNotAvailable) and not migration.use_transactions:
        return (
            f"{error} (not tried again: outside a transaction, what ran before the failing statement"
            " stays; migrate again once the table is free)"
        )
    return str(error)


def rollback(admin_url: str, to: str) -> list[str]:
    """Roll back, newest first, every migration applied after the one named `to`, each with its
    rollback file; return their ids. The stateless layer goes first, since its views and
    functions use what the migrations made (a rollback that drops a column a view reads fails);
    until the next migrate applies it again (that of the code whose last migration is `to`),
    the API answers nothing. MigrationError when `to` is not applied, or a rollback fails (its
    own transaction undone, those before it kept)."""
    from yoyo import read_migrations

    with one_migrate_at_a_time(admin_url):
        checked_against_this_code(admin_url)
        backend = _yoyo_backend(admin_url)
        try:
            with backend.lock():
                applied = list(backend.to_rollback(read_migrations(str(MIGRATIONS_DIR))))
                ids = [migration.id for migration in applied]
                if not to:
                    raise MigrationError("rollback: name the last migration to keep")
                if to not in ids:
                    raise MigrationError(
                        f"rollback: {to} is not an applied migration ({', '.join(reversed(ids))})"
                    )
                undone = applied[: ids.index(to)]
                if undone:
                    _while_tables_busy(lambda: drop_stateless(admin_url))
                with every_row_visible_to_migrations(admin_url, bool(undone)):
                    for migration in undone:
                        try:
                            _retried_if_transactional(
                                migration,
                                f"rollback of {migration.id}",
                                partial(backend.rollback_one, migration),
                            )
                        except psycopg.Error as error:
                            raise MigrationError(
                                f"rollback of {migration.id} failed: {_failure(migration, error)}"
                            ) from None
        finally:
            backend.connection.close()
    return [migration.id for migration in undone]


def drop_stateless(admin_url: str) -> None:
    """Drops what the stateless layer made, and forgets that it was applied."""
    with Connection.connect(admin_url) as conn:
        _as_layer_owner(conn)
        if not _exists(conn, f"{META_SCHEMA}.stateless_objects"):
            return
        _drop_recorded(conn)
        conn.execute("delete from blossom_meta.stateless_objects")
        conn.execute("delete from blossom_meta.stateless_state")


_CATALOG_OBJECTS = """
select 'policy', format('%%I on %%I.%%I', pol.polname, n.nspname, c.relname)
  from pg_policy pol join pg_class c on c.oid = pol.polrelid join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = any(%(schemas)s)
union all
select 'trigger', format('%%I on %%I.%%I', t.tgname, n.nspname, c.relname)
  from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = any(%(schemas)s) and not t.tgisinternal
union all
select case c.relkind when 'm' then 'materialized view' else 'view' end,
       format('%%I.%%I', n.nspname, c.relname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = any(%(schemas)s) and c.relkind in ('v', 'm')
union all
select case p.prokind when 'p' then 'procedure' else 'function' end,
       format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = any(%(schemas)s)
   and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
"""

# Policies and triggers go before the views and functions they may use.
_DROP_ORDER = ("policy", "trigger", "materialized view", "view", "function", "procedure")


def _catalog_objects(conn: psycopg.Connection) -> set[tuple[str, str]]:
    rows = conn.execute(_CATALOG_OBJECTS, {"schemas": list(MANAGED_SCHEMAS)}).fetchall()
    return {(kind, identity) for kind, identity in rows}


_OTHER_OWNERS = """
select case c.relkind when 'm' then 'materialized view' else 'view' end,
       format('%%I.%%I', n.nspname, c.relname), c.relowner::regrole::text
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = any(%(schemas)s) and c.relkind in ('v', 'm') and c.relowner <> %(owner)s::regrole
union all
select case p.prokind when 'p' then 'procedure' else 'function' end,
       format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       p.proowner::regrole::text
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = any(%(schemas)s) and p.proowner <> %(owner)s::regrole
"""


def _other_owners(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    """The views and functions owned by another role than the owner role: a view whose reads
    must be checked as another role (app.my_memberships, owned by membership_reader), or a
    definer function that must act as one (app.tg_memberships__count(), owned by
    member_counter), is made as that role, and must be dropped as it."""
    rows = conn.execute(_OTHER_OWNERS, {"schemas": list(MANAGED_SCHEMAS), "owner": OWNER_ROLE}).fetchall()
    return {(kind, identity): owner for kind, identity, owner in rows}


def _drop(conn: psycopg.Connection, objects: Iterable[tuple[str, str]]) -> None:
    """Drop without cascade, retrying until dependents are gone, so nothing else goes with them."""
    pending = sorted(objects, key=lambda obj: (_DROP_ORDER.index(obj[0]), obj[1]))
    owners = _other_owners(conn)
    while pending:
        blocked: list[tuple[tuple[str, str], psycopg.Error]] = []
        for kind, identity in pending:
            try:
                with conn.transaction():
                    owner = owners.get((kind, identity))
                    if owner:  # made as another role (see _other_owners), so dropped as that role
                        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(owner)))
                    conn.execute(f"drop {kind} if exists {identity}".encode())
                    if owner:
                        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(OWNER_ROLE)))
            except errors.DependentObjectsStillExist as still_used:
                blocked.append(((kind, identity), still_used))
        if len(blocked) == len(pending):
            (kind, identity), reason = blocked[0]
            raise RuntimeError(f"cannot drop {kind} {identity}: {reason.diag.message_detail or reason}")
        pending = [obj for obj, _ in blocked]


def _revoke_grants(conn: psycopg.Connection) -> None:
    """Grants are stateless too: start from none, so a grant deleted from the files is gone.
    From PUBLIC and every role of roles.sql but the owner, whose rights come from owning."""
    grantees = [sql.Identifier(role) for role in declared_roles() if role != OWNER_ROLE]
    roles = sql.SQL(", ").join([sql.SQL("public"), *grantees])
    for schema in MANAGED_SCHEMAS:
        name = sql.Identifier(schema)
        for statement in (
            "revoke all on schema {schema} from {roles}",
            "revoke all on all tables in schema {schema} from {roles}",
            "revoke all on all sequences in schema {schema} from {roles}",
            "revoke all on all routines in schema {schema} from {roles}",
        ):
            conn.execute(sql.SQL(statement).format(schema=name, roles=roles))


# As a restore from pg_dump gives the same back: privileges as what they grant (a default left
# implicit, null, as pg_dump restores it, and the same spelled out, as the layer's revokes leave
# it, are one), and a policy's roles in the order of their names, not as they were listed.
_CATALOG_FINGERPRINT = """
select md5(coalesce(string_agg(definition, e'\\n' order by definition), ''))
  from (
    select format('%%s %%s %%s %%s', p.oid::regprocedure, p.proowner::regrole,
                  coalesce(p.proacl, acldefault('f', p.proowner)),
                  obj_description(p.oid, 'pg_proc'))
           || pg_get_functiondef(p.oid) as definition
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = any(%(schemas)s) and p.prokind in ('f', 'p')
       and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    union all
    select format('%%s %%s %%s %%s %%s %%s', c.oid::regclass, c.relkind, c.relowner::regrole,
                  coalesce(c.relacl,
                           acldefault((case c.relkind when 'S' then 's' else 'r' end)::"char", c.relowner)),
                  c.reloptions, obj_description(c.oid, 'pg_class'))
           || case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) else '' end
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'S')
    union all
    select format('%%s %%s %%s %%s %%s', pol.polname, pol.polrelid::regclass, pol.polcmd,
                  (select array_agg(r::regrole::text order by r::regrole::text) from unnest(pol.polroles) r),
                  pol.polpermissive)
           || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
      from pg_policy pol join pg_class c on c.oid = pol.polrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(%(schemas)s)
    union all
    select t.tgenabled::text || pg_get_triggerdef(t.oid)
      from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(%(schemas)s) and not t.tgisinternal
    union all
    select format('%%s.%%s %%s', a.attrelid::regclass, a.attname, a.attacl)
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any(%(schemas)s) and a.attnum > 0 and not a.attisdropped and a.attacl is not null
    union all
    select format('%%s %%s', n.nspname, coalesce(n.nspacl, acldefault('n', n.nspowner)))
      from pg_namespace n where n.nspname = any(%(schemas)s)
    union all
    -- The migrations applied: one that committed while the layer after it failed is seen.
    select 'migrations ' || coalesce(string_agg(m.migration_id, ' ' order by m.migration_id), '')
      from blossom_meta._yoyo_migration m
  ) objects
"""


def _files_fingerprint() -> str:
    """The layer's files, and what decides how it is applied: the roles (whose grants it revokes
    first), the database's own privileges, and this module."""
    digest = hashlib.sha256()
    for path in [*stateless_files(), ROLES_FILE, DATABASE_FILE, Path(__file__)]:
        digest.update(str(_shown(path)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _catalog_fingerprint(conn: psycopg.Connection) -> str:
    row = conn.execute(_CATALOG_FINGERPRINT, {"schemas": list(MANAGED_SCHEMAS)}).fetchone()
    assert row is not None
    return str(row[0])


def stateless_unchanged(admin_url: str) -> bool:
    """Whether re-applying the layer would change nothing: the files and the database's objects
    are as they were when it was last applied."""
    with Connection.connect(admin_url) as conn:
        if not _exists(conn, f"{META_SCHEMA}.stateless_state"):
            return False
        row = conn.execute("select files, catalog from blossom_meta.stateless_state").fetchone()
        # As the layer is applied: definitions print their names qualified as the path makes them.
        conn.execute("set search_path = ''")
        return row is not None and row == (_files_fingerprint(), _catalog_fingerprint(conn))


def apply_stateless(admin_url: str) -> int:
    """Re-apply the stateless layer (sql/stateless.txt) in one transaction, tried again while a
    table's lock cannot be had in LOCK_WAIT; return how many objects it made."""
    return _while_tables_busy(lambda: _apply_stateless_once(admin_url))


def _while_tables_busy(step: Callable[[], T], what: str = "the stateless layer") -> T:
    """`step`, a transaction that waits for each lock at most its lock_timeout (LOCK_WAIT: the
    stateless layer's, and a migration's as `just new-migration` writes it), tried again while it
    gives way on a lock (or is chosen to end a deadlock), rolled back whole each time, up to
    ATTEMPTS times ATTEMPT_PAUSE_SECONDS apart: the requests queued behind its lock wait that
    long at most, and a long transaction (an admin's open read, a pipeline's run) is waited out
    rather than failing the deploy. Any other error is raised at once, as it came."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return step()
        except (errors.LockNotAvailable, errors.DeadlockDetected, SqlFileError) as failed:
            busy = failed.__cause__ if isinstance(failed, SqlFileError) else failed
            if not isinstance(busy, errors.LockNotAvailable | errors.DeadlockDetected):
                raise
            reason = busy.diag.message_primary
            if attempt == ATTEMPTS:
                raise MigrationError(
                    f"{what} could not have its locks in {attempt} tries, each rolled back (the last:"
                    f" {reason}); a long transaction holds one: end it (pg_stat_activity shows it), or"
                    " migrate again later"
                ) from None
            print(
                f"migrate: {what} waited too long for a lock ({reason}); rolled back, trying again"
                f" in {ATTEMPT_PAUSE_SECONDS:g} s (try {attempt + 1} of {ATTEMPTS})",
                file=sys.stderr,
            )
            time.sleep(ATTEMPT_PAUSE_SECONDS)
    raise AssertionError("unreachable")


def _retried_if_transactional(migration: Any, what: str, step: Callable[[], None]) -> None:
    """`step`, which applies or rolls back one migration, tried again while busy (_while_tables_busy)
    when the migration runs in a transaction, which a failure rolls back whole; one outside a
    transaction leaves what ran before its failing statement, and is tried once."""
    if migration.use_transactions:
        _while_tables_busy(step, what)
    else:
        step()


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    """Whether the table named (schema-qualified) exists: the bookkeeping tables do not before
    the first migrate, nor the job queue's before its schema is made."""
    found = conn.execute("select pg_catalog.to_regclass(%s) is not null", (relation,)).fetchone()
    return bool(found and found[0])


def _as_layer_owner(conn: psycopg.Connection) -> None:
    """The transaction the layer is applied (or dropped) in: as the owner, each lock waited for
    at most LOCK_WAIT, and qualified names everywhere (identities recorded must not depend on a
    path)."""
    conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_WAIT)))
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(OWNER_ROLE)))
    conn.execute("set local search_path = ''")


def _drop_recorded(conn: psycopg.Connection) -> None:
    """Drops the objects the layer made the last time it was applied, and the policies a
    migrate or rollback killed while its migrations ran left (every_row_visible_to_migrations)."""
    previous = conn.execute("select kind, identity from blossom_meta.stateless_objects").fetchall()
    _drop(conn, {(kind, identity) for kind, identity in previous} | _migration_policies(conn))


_RLS_TABLES = """
select format('%%I.%%I', n.nspname, c.relname)
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p') and c.relrowsecurity
"""


def _migration_policies(conn: psycopg.Connection) -> set[tuple[str, str]]:
    rows = conn.execute(
        "select format('%%I on %%I.%%I', pol.polname, n.nspname, c.relname)"
        "  from pg_policy pol join pg_class c on c.oid = pol.polrelid"
        "  join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and pol.polname = %s",
        (list(MANAGED_SCHEMAS), MIGRATION_POLICY),
    ).fetchall()
    return {("policy", identity) for (identity,) in rows}


def _show_every_row_to_migrations(admin_url: str, shown: bool) -> None:
    """Drops MIGRATION_POLICY wherever it is (a killed run's too), and makes it again on every
    table of row security when `shown`."""
    with Connection.connect(admin_url) as conn:
        _as_layer_owner(conn)
        _drop(conn, _migration_policies(conn))
        if not shown:
            return
        for (table,) in conn.execute(_RLS_TABLES, {"schemas": list(MANAGED_SCHEMAS)}).fetchall():
            conn.execute(
                sql.SQL("create policy {} on {} to {} using (true) with check (true)").format(
                    sql.Identifier(MIGRATION_POLICY), sql.SQL(table), sql.Identifier(OWNER_ROLE)
                )
            )


@contextmanager
def every_row_visible_to_migrations(admin_url: str, wanted: bool = True) -> Iterator[None]:
    """While the stateless layer is dropped: the migrations or rollbacks run inside see every row
    of the tables that existed before them (MIGRATION_POLICY), as they did with the layer's
    policies; the policies are dropped after, whatever happened. Nothing else runs as the owner
    meanwhile: without the layer, the API and the workers' functions are gone."""
    if not wanted:
        yield
        return
    _while_tables_busy(partial(_show_every_row_to_migrations, admin_url, True))
    try:
        yield
    finally:
        _while_tables_busy(partial(_show_every_row_to_migrations, admin_url, False))


def stateless_applied(admin_url: str) -> bool:
    """Whether the stateless layer is in the database: not after a rollback, nor before the
    first migrate."""
    with Connection.connect(admin_url) as conn:
        if not _exists(conn, f"{META_SCHEMA}.stateless_objects"):
            return False
        return conn.execute("select from blossom_meta.stateless_objects limit 1").fetchone() is not None


def _apply_stateless_once(admin_url: str) -> int:
    with Connection.connect(admin_url) as conn:
        _as_layer_owner(conn)
        conn.execute(
            "create table if not exists blossom_meta.stateless_objects ("
            " kind text not null, identity text not null, primary key (kind, identity))"
        )
        conn.execute(
            "create table if not exists blossom_meta.stateless_state ("
            " files text not null, catalog text not null, applied_at timestamptz not null default now())"
        )
        _drop_recorded(conn)
        _revoke_grants(conn)
        before = _catalog_objects(conn)
        for path in stateless_files():
            run_file(conn, path)
            conn.execute("set local search_path = ''")
        made = _catalog_objects(conn) - before
        conn.execute("delete from blossom_meta.stateless_objects")
        with conn.cursor() as cur:
            cur.executemany(
                "insert into blossom_meta.stateless_objects (kind, identity) values (%s, %s)",
                sorted(made),
            )
        conn.execute("delete from blossom_meta.stateless_state")
        conn.execute(
            "insert into blossom_meta.stateless_state (files, catalog) values (%s, %s)",
            (_files_fingerprint(), _catalog_fingerprint(conn)),
        )
    return len(made)


def with_database(url: str, database: str) -> str:
    """The URL with another database of the same server, the name percent-encoded: as it was,
    libpq read it as part of the URL (`postgre%73` named `postgres`; `x?host=…`, another server).
    Cut as libpq cuts it (url_parts); libpq's key=value form gets its dbname set."""
    parts = url_parts(url)
    if parts is None:
        return make_conninfo(url, dbname=database)
    scheme, login, hosts, _path, query = parts
    path = "/" + quote(database, safe="")
    return f"{scheme}://{login}{hosts}{path}{without_parameters(query, frozenset({'dbname'}))}"


def reload_postgrest(admin_url: str) -> None:
    with Connection.connect(admin_url, autocommit=True) as conn:
        conn.execute("notify pgrst, 'reload schema'")


def migrate(admin_url: str, *, quiet: bool = False) -> None:
    def say(message: str) -> None:
        if not quiet:
            print(f"migrate: {message}", file=sys.stderr)

    with one_migrate_at_a_time(admin_url) as server:
        baseline = checked_against_this_code(admin_url)
        bootstrap(admin_url)
        if baseline:
            say(
                f"baseline: recorded the checksums of {baseline} migration(s) applied before"
                " migrate kept them, from their files as they are; an edit of one is refused from now on"
            )
        if server.info.dbname != psycopg.conninfo.conninfo_to_dict(admin_url).get("dbname"):
            run_role_file(server, DATABASE_FILE)  # the server's `postgres` database
        run_file(server, SERVER_FILE)
        # After a rollback (or on a database never migrated) no policy shows the migrations a row.
        with every_row_visible_to_migrations(admin_url, not stateless_applied(admin_url)):
            applied = apply_migrations(admin_url)
        say(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
        if not applied and stateless_unchanged(admin_url):
            say("stateless layer: unchanged")
        else:
            count = apply_stateless(admin_url)
            say(f"stateless layer: {count} object(s) from sql/functions and sql/policies")
        reload_postgrest(admin_url)


@contextmanager
def one_migrate_at_a_time(admin_url: str) -> Iterator[psycopg.Connection]:
    """A session advisory lock, held while migrate runs: a second migrate waits (two at once
    failed: roles updated concurrently, stateless layers deadlocked). Taken in the server's
    `postgres` database when the admin user may connect there, since advisory locks are a
    database's and roles the whole server's: migrates of two databases of one server take turns
    too; else in the database itself. Yields the connection that holds it."""
    try:
        conn = Connection.connect(with_database(admin_url, "postgres"), autocommit=True)
    except psycopg.OperationalError:
        conn = Connection.connect(admin_url, autocommit=True)
    with conn:  # closing it lets the lock go
        conn.execute(
            "select pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended(%s, 0))", (MIGRATE_LOCK,)
        )
        yield conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="admin URL: a superuser or a role with CREATEROLE (default: DATABASE_URL)"
    )
    parser.add_argument(
        "--rollback-to",
        metavar="MIGRATION",
        help="instead: roll back every migration applied after MIGRATION with its rollback file (what"
        " they made is dropped, its data too) and drop the stateless layer, which the migrate of the"
        " code whose last migration is MIGRATION applies again",
    )
    args = parser.parse_args()
    given, url = (
        ("--database-url", args.database_url)
        if args.database_url
        else ("DATABASE_URL", os.environ.get("DATABASE_URL"))
    )
    if not url:
        # The developer's local cluster is ops' business: `just migrate` starts it and comes here.
        raise SystemExit("migrate: no database: set DATABASE_URL or pass --database-url")
    try:
        # Refused unread, naming where it came from: libpq's messages on a URL it reads otherwise
        # than meant quoted a part of its password (`failed to resolve host 'ss@db.internal'`).
        check_database_url(given, url)
    except ValueError as error:
        raise SystemExit(f"migrate: {error}") from None
    try:
        if args.rollback_to is not None:  # "" too: an unset variable is no migrate forward
            report_rollback(rollback(url, args.rollback_to), args.rollback_to)
        else:
            migrate(url)
    except (SqlFileError, RuntimeError, psycopg.Error) as error:
        # A server out of reach in one line; else each line its own (one per edited migration),
        # each saying whose it is.
        unreachable = connection_failure(url, error)
        lines = [unreachable] if unreachable else str(error).splitlines()
        raise SystemExit("\n".join(f"migrate: {line}" for line in lines)) from None


def report_rollback(undone: list[str], to: str) -> None:
    print(f"rollback: {len(undone)} migration(s) rolled back" + (f": {', '.join(undone)}" if undone else ""))
    if undone:
        print(
            "rollback: the stateless layer is dropped until a migrate applies it"
            f" (of the code whose last migration is {to})"
        )


if __name__ == "__main__":
    main()
