"""The restore drill: data made through the edge, dumped (ops/backup.py, as `just backup`),
restored into a new database on the same cluster, and served from there by a new PostgREST and
edge: the same rows, the same password signs in, the same session cookie still works."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from blossom_db.settings import CONNECTION_DEFAULTS
from deploy.migrate import migrate, stateless_unchanged, with_database
from ops import backup
from ops.backup import dump, restore
from ops.scratch import free_port
from ops.services import Endpoints, running_services
from ops.settings import ROOT
from tests.support.auth_client import PASSWORD, post, signup
from tests.support.databases import create_database, drop_database, run_behind_migrates_lock
from tests.support.stack import make_stack

COUNTED = ("app.users", "app.sessions", "app.organizations", "app.memberships", "app.invitations",
           "app.audit_events", "app.outbox", "jobs.procrastinate_jobs")  # fmt: skip


def backup_tool(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m ops.backup ARGUMENTS` (as `./dev backup`/`restore` run it) with DATABASE_URL."""
    return subprocess.run(
        [sys.executable, "-m", "ops.backup", *arguments],
        env=os.environ | {"DATABASE_URL": database_url}, capture_output=True, text=True, check=False,
    )  # fmt: skip


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = {table: conn.execute(f"select count(*) from {table}").fetchone() for table in COUNTED}
    return {table: int(row[0]) for table, row in rows.items() if row is not None}


def test_a_backup_restores_into_a_database_that_serves_the_same_accounts(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    (tmp_path / "before").mkdir()
    with make_stack(pg_server, template_database, tmp_path / "before") as stack:
        owner = signup(stack.edge_url)
        rpc = {"Origin": stack.edge_url} | owner.cookie
        org = post(stack.edge_url, "/rpc/create_organization", {"name": "Kept"}, rpc).json()
        invite = {"org_id": org["id"], "email": "kept-guest@example.com", "role": "member"}
        assert post(stack.edge_url, "/rpc/invite_member", invite, rpc).status == 200
        before = counts(stack.database_url)
        backup = tmp_path / "blossom.dump"
        dump(stack.database_url, backup)

    name = f"restored_{secrets.token_hex(4)}"
    (tmp_path / "after").mkdir()
    url = create_database(pg_server, name, "template0")
    try:
        restore(backup, url)
        assert counts(url) == before
        with psycopg.connect(url) as conn:
            owner_may = (
                "select has_database_privilege('blossom_owner', current_database(), 'create, temporary')"
            )
            assert conn.execute(owner_may).fetchone() == (True,), (
                "the database's own grants, which no dump holds"
            )
        assert before["app.users"] == 1
        # Nothing to do, the stateless layer included: its fingerprint read a table's ACL, which
        # pg_dump leaves out when it is the default, and the first deploy after a restore took
        # the layer's locks again.
        assert stateless_unchanged(url)
        migrate(url, quiet=True)  # nothing pending: the restored database is at the same migration
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, tmp_path / "after", "/readyz"):
            edge = endpoints.edge_url
            assert post(edge, "/rpc/me", {}, owner.cookie).json()["id"] == owner.user["id"]
            listed = post(edge, "/rpc/list_organizations", {}, owner.cookie).json()
            assert [o["name"] for o in listed] == ["Kept"]
            login = post(edge, "/auth/login", {"email": owner.email, "password": PASSWORD})
            assert login.status == 200
    finally:
        drop_database(pg_server, name)


def test_an_admin_that_cannot_read_past_row_level_security_is_told_so(
    pg_server: str, database_url: str, tmp_path: Path
) -> None:
    """The docs allow migrate a role with CREATEROLE; a backup needs one that reads every row
    (a superuser, or BYPASSRLS: pg_dump refused with a policy's name), a restore a superuser (it
    makes objects owned by the roles of sql/roles.sql). Each says so before it does anything:
    no file written, no empty database left."""
    role = f"clerk_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"create role {role} login createrole createdb".encode())
    try:
        url = database_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
        backup = tmp_path / "refused.dump"
        made = backup_tool(url, "backup", str(backup))
        assert made.returncode != 0
        assert "a superuser or a role with BYPASSRLS" in made.stderr
        assert not backup.exists()
        name = f"restored_{secrets.token_hex(4)}"
        restored = backup_tool(url, "restore", str(backup), name)
        assert restored.returncode != 0
        assert "a superuser" in restored.stderr
        with psycopg.connect(pg_server) as conn:
            assert conn.execute("select from pg_database where datname = %s", (name,)).fetchone() is None
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"drop role {role}".encode())


def test_a_backup_that_fails_keeps_the_last_one_and_quotes_no_password(
    pg_server: str, database_url: str, tmp_path: Path
) -> None:
    """A role that passes the check (BYPASSRLS) but may read no table: pg_dump fails. The file
    there (last night's backup) was truncated to nothing, and the message quoted pg_dump's
    command line, the URL's password in it. A backup that works is its owner's alone."""
    role = f"reader_{secrets.token_hex(3)}"
    dbname = str(psycopg.conninfo.conninfo_to_dict(database_url)["dbname"])
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"create role {role} login bypassrls password 'Hunter2-secret'".encode())
        conn.execute(f'grant connect on database "{dbname}" to {role}'.encode())
    backup = tmp_path / "nightly.dump"
    backup.write_bytes(b"last night's backup")
    try:
        url = database_url.replace("postgresql://postgres@", f"postgresql://{role}:Hunter2-secret@", 1)
        made = backup_tool(url, "backup", str(backup))
        assert made.returncode != 0
        assert "backup: pg_dump failed" in made.stderr
        assert "Hunter2-secret" not in made.stdout + made.stderr
        assert backup.read_bytes() == b"last night's backup"
        assert sorted(path.name for path in tmp_path.iterdir()) == ["nightly.dump"]
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'revoke connect on database "{dbname}" from {role}'.encode())
            conn.execute(f"drop role {role}".encode())
    dump(database_url, backup)
    assert backup.stat().st_mode & 0o777 == 0o600


def test_a_restore_that_fails_leaves_no_database_behind(
    database_url: str, pg_server: str, tmp_path: Path
) -> None:
    """A cut-off dump: pg_restore fails, and the database it was to fill is dropped (it was left
    empty, and the next try of that name was refused as existing)."""
    whole = tmp_path / "whole.dump"
    dump(database_url, whole)
    cut = tmp_path / "cut.dump"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    name = f"restored_{secrets.token_hex(4)}"
    restored = backup_tool(database_url, "restore", str(cut), name)
    assert restored.returncode != 0
    assert "restore: pg_restore failed" in restored.stderr
    with psycopg.connect(pg_server) as conn:
        assert conn.execute("select from pg_database where datname = %s", (name,)).fetchone() is None


def test_a_relative_file_is_the_callers(tmp_path: Path) -> None:
    """`./dev` runs its recipes in the repository: `dev backup nightly.dump` from another folder
    wrote into the repository, where `git add .` takes it."""
    shown = subprocess.run(
        [str(ROOT / "dev"), "--dry-run", "backup", "nightly.dump"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"ops.backup backup '{tmp_path / 'nightly.dump'}'" in shown.stderr


@pytest.mark.parametrize(
    "arguments", [["backup", "--help"], ["restore", "-h", "blossom_copy"]], ids=["backup", "restore"]
)
def test_help_is_asked_for_not_taken_for_a_file(arguments: list[str], tmp_path: Path) -> None:
    """`./dev backup --help` wrote a dump into a file named `--help` in the repository (the
    recipe made every FILE a path before the program saw it), and `./dev restore -h NAME` restored
    one into a new database: each started the local cluster for it. They show their usage."""
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {"BLOSSOM_DATA_DIR": str(data_dir), "BLOSSOM_PG_PORT": str(free_port())}
    shown = subprocess.run(
        [str(ROOT / "dev"), *arguments], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage:"), shown.stdout
    assert not list(tmp_path.glob("-*"))
    assert not (ROOT / arguments[1]).exists()
    assert not data_dir.exists(), "no cluster was made or started for it"


def test_a_restore_goes_into_the_database_it_names_whatever_the_name(
    pg_server: str, database_url: str, tmp_path: Path
) -> None:
    """The name went into a URL as it was: `restore FILE postgre%73` made a database of that
    name, left it empty, and restored the whole application, password hashes and all, into the
    server's `postgres` database, which every role may connect to."""
    backup = tmp_path / "blossom.dump"
    dump(database_url, backup)
    name = f"restored%5f{secrets.token_hex(3)}?dbname=postgres"
    try:
        restored = backup_tool(database_url, "restore", str(backup), name)
        assert restored.returncode == 0, restored.stderr
        with psycopg.connect(with_database(pg_server, name)) as conn:
            assert conn.execute(
                "select current_database(), to_regclass('app.users') is not null"
            ).fetchone() == (
                name,
                True,
            )
        with psycopg.connect(with_database(pg_server, "postgres")) as conn:
            assert conn.execute("select to_regnamespace('app')").fetchone() == (None,)
    finally:
        drop_database(pg_server, name)

    too_long = "r" * 64
    refused = backup_tool(database_url, "restore", str(backup), too_long)
    assert refused.returncode != 0
    assert "restore: a database name is at most 63 bytes" in refused.stderr
    with psycopg.connect(pg_server) as conn:
        assert (
            conn.execute("select from pg_database where datname = left(%s, 63)", (too_long,)).fetchone()
            is None
        )


def test_a_backup_into_no_folder_or_onto_one_is_told_so(database_url: str, tmp_path: Path) -> None:
    """Each was a traceback (FileNotFoundError, IsADirectoryError)."""
    for target in (tmp_path / "missing" / "x.dump", tmp_path):
        made = backup_tool(database_url, "backup", str(target))
        assert made.returncode != 0
        assert made.stderr.startswith("backup: "), made.stderr
        assert "Traceback" not in made.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("database", ["local", "DATABASE_URL"])
@pytest.mark.parametrize("where", ["a folder", "under no folder"])
def test_a_backup_into_a_folder_or_under_no_folder_is_refused_before_anything_is_dumped(
    tmp_path: Path, database: str, where: str
) -> None:
    """A FILE that is a folder was refused only once the whole dump was taken (a cluster started
    for it first, on the local database), as it was put in the folder's place; one in a folder
    that does not exist, once the server was asked, in a message naming the dump's partial file.
    Each is refused first, naming the path: no cluster is started, and no server asked (the
    DATABASE_URL here reaches none)."""
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {"BLOSSOM_DATA_DIR": str(data_dir), "BLOSSOM_PG_PORT": str(free_port())}
    if database == "DATABASE_URL":
        env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/blossom"
    folder = tmp_path / "backups"
    folder.mkdir()
    target, says = {
        "a folder": (folder, f"backup: {folder} is a folder, not a file to write the backup into"),
        "under no folder": (
            folder / "missing" / "x.dump",
            f"backup: there is no folder {folder / 'missing'} to write x.dump into",
        ),
    }[where]
    ran = subprocess.run(
        [sys.executable, "-m", "ops.backup", "backup", str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (ran.returncode, ran.stderr) == (1, says + "\n"), ran.stderr
    assert list(folder.iterdir()) == []
    assert not data_dir.exists(), "no cluster made or started for it"


def test_a_server_out_of_reach_is_one_line_naming_where(tmp_path: Path) -> None:
    """A server that is down was libpq's two lines (`connection failed: connection to server at
    "127.0.0.1", port N failed: Connection refused` and a tab-indented hint under it): one line
    now, naming the host and port, and no part of the password."""
    port = free_port()
    ran = backup_tool(
        f"postgresql://admin:ante-zulu@127.0.0.1:{port}/blossom", "backup", str(tmp_path / "x.dump")
    )
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.startswith(f"backup: cannot reach the database server at 127.0.0.1:{port}: "), (
        ran.stderr
    )
    assert "Connection refused" in ran.stderr
    assert "ante" not in ran.stderr


def test_pg_dump_and_pg_restore_connect_with_the_keepalives_of_every_connection_of_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dump of hours on a connection cut without a word (a failover) waited the OS's minutes:
    the tools connect with the string they are given, which now carries the keepalives, the
    password still apart from the command line."""
    ran: list[list[str]] = []

    def run(command: list[str], **_kwargs: object) -> subprocess.CompletedProcess[bytes]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    backup._run("pg_dump", ["--format=custom"], "postgresql://admin:ante-zulu@db.example:5433/blossom")
    given = conninfo_to_dict(ran[0][ran[0].index("--dbname") + 1])
    assert {name: given.get(name) for name in CONNECTION_DEFAULTS} == CONNECTION_DEFAULTS
    assert "ante-zulu" not in " ".join(ran[0])


def test_a_restore_makes_the_roles_in_its_turn_with_migrate(
    database_url: str, pg_server: str, tmp_path: Path
) -> None:
    """A restore makes the roles of sql/roles.sql, as migrate does, and two sessions altering one
    role at once fail (`tuple concurrently updated`): a restore beside a deploy's migrate on the
    same server, or beside another restore, failed half the time. It waits for migrate's lock,
    held here, as a second migrate does."""
    backup = tmp_path / "blossom.dump"
    dump(database_url, backup)
    name = f"restored_{secrets.token_hex(4)}"
    waited, status, printed = run_behind_migrates_lock(
        pg_server,
        [sys.executable, "-m", "ops.backup", "restore", str(backup), name],
        os.environ | {"DATABASE_URL": database_url},
    )
    try:
        assert waited, f"the restore went on beside migrate: {printed}"
        assert status == 0, printed
    finally:
        drop_database(pg_server, name)


def test_no_role_but_the_admin_reaches_a_database_being_restored(
    database_url: str, pg_server: str, tmp_path: Path
) -> None:
    """A restore makes its database from template0, whose privileges are Postgres's defaults,
    and told them otherwise (sql/database.sql) only after pg_restore, minutes on a real dump:
    meanwhile any login connected, read every session's locks (pg_locks) and left a large object
    that the restored database kept. Until its privileges are set, only the admin connects."""
    backup = tmp_path / "blossom.dump"
    dump(database_url, backup)
    name = f"restored_{secrets.token_hex(4)}"
    visitor = f"visitor_{secrets.token_hex(3)}"
    visitor_url = with_database(pg_server, name).replace(
        "postgresql://postgres@", f"postgresql://{visitor}@", 1
    )
    meanwhile: list[str] = []

    def visit() -> None:
        """As the restore waits (behind migrate's lock, its database made), a login tries it."""
        try:
            with psycopg.connect(visitor_url) as conn:
                conn.execute("select lo_from_bytea(0, 'left behind')")
                meanwhile.append("connected and made a large object")
        except psycopg.OperationalError as refused:
            meanwhile.append(f"refused: {refused}")

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"create role {visitor} login".encode())
    try:
        waited, status, printed = run_behind_migrates_lock(
            pg_server,
            [sys.executable, "-m", "ops.backup", "restore", str(backup), name],
            os.environ | {"DATABASE_URL": database_url},
            while_waiting=visit,
        )
        assert waited, printed
        assert status == 0, printed
        assert len(meanwhile) == 1, meanwhile
        assert meanwhile[0].startswith("refused: "), meanwhile
        assert "too many connections" in meanwhile[0], meanwhile
        with psycopg.connect(visitor_url) as conn:  # every role's again once restored
            assert conn.execute("select count(*) from pg_largeobject_metadata").fetchone() == (0,)
    finally:
        drop_database(pg_server, name)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"drop role {visitor}".encode())
