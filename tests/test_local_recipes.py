"""The database recipes that read the local database start its cluster when it is not running,
as `./dev psql` does, and stop it again when they are done: `./dev backup`, `./dev top-queries`
and `./dev reseal-secrets` run with the stack down failed to connect ("Connection refused")."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from subprocess import PIPE

import psycopg
import pytest

from deploy.migrate import stateless_unchanged
from ops.backup import dump
from ops.cluster import LocalCluster
from ops.scratch import free_port
from ops.settings import DB_NAME, ROOT
from ops.stack import PIPELINE_UI_LOCK, STARTED_FILE
from pipeline.settings import SHEETS_SETTINGS
from services.secrets import KeyRing, new_key_entry
from services.slack import bot_token_context
from tests.support.http import port_open
from tests.support.imports import ran_and_loaded
from tests.support.local_data import LocalStack, copy_data_folder, local_stack
from tests.support.orgs_db import make_org, make_user
from tests.support.worker import eventually


@pytest.mark.parametrize(
    ("module", "arguments"),
    [("ops.backup", ["backup", "{folder}/local.dump"]), ("ops.top_queries", ["--limit", "5"])],
    ids=["backup", "top-queries"],
)
def test_a_recipe_starts_the_local_cluster_and_stops_it_when_done(module: str, arguments: list[str]) -> None:
    with local_stack() as local:
        ran = local.run(module, *(argument.format(folder=local.folder) for argument in arguments))
        assert ran.returncode == 0, ran.stderr
        assert not local.cluster.running(), "the cluster it started is stopped again"
        if module == "ops.backup":
            assert (local.folder / "local.dump").stat().st_size > 0


def test_resealing_secrets_on_the_local_database_uses_the_development_key() -> None:
    """`./dev up` seals tenants' credentials with the development key it keeps in the data folder
    (docs/services.md) when BLOSSOM_SECRETS_KEY is unset, but `./dev reseal-secrets` on the same
    database ignored it: with no variable it refused (`BLOSSOM_SECRETS_KEY is not set`), and with
    a key of the developer's own it could not open what `up` had sealed, and failed naming every
    organization. On the local database the development key is in the ring, as under `up`:
    the current key without the variable, an older one beside it. And with the stack down it said
    "connection failed", where the other recipes on the local database start its cluster, and
    stop it again (README, Recipes)."""
    development = new_key_entry("dev-1")
    with local_stack() as local:
        local.env.pop("BLOSSOM_SECRETS_KEY", None)
        local.env.pop("BLOSSOM_SECRETS_PREVIOUS_KEYS", None)
        (local.folder / "secrets.key").write_text(development + "\n")
        migrated = local.run("ops.stack", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        local.cluster.start()
        with psycopg.connect(local.cluster.url(DB_NAME)) as conn:
            owner = make_user(conn, "Owner")
            org_id = make_org(conn, "Acme", {owner: "owner"})
            sealed = KeyRing.from_entries(development).seal("xoxb-dev", bot_token_context(org_id))
            conn.execute(
                "insert into app.slack_connections (org_id, team_id, team_name, channel, bot_token_key_id,"
                " bot_token_sealed) values (%s, 'T1', 'Team', 'C1', %s, %s)",
                (org_id, sealed.key_id, sealed.ciphertext),
            )
        local.cluster.stop()
        ran = local.run("ops.secrets", "reseal")
        assert ran.returncode == 0, ran.stderr
        assert "secrets: 0 credential(s) sealed again with key 'dev-1'" in ran.stdout
        assert not local.cluster.running(), "the cluster it started is stopped again"
        local.env["BLOSSOM_SECRETS_KEY"] = new_key_entry("mine")
        ran = local.run("ops.secrets", "reseal")
        assert ran.returncode == 0, ran.stderr
        assert "secrets: 1 credential(s) sealed again with key 'mine'" in ran.stdout
        assert not local.cluster.running(), "the cluster it started is stopped again"


def test_a_backup_restores_into_a_new_local_cluster_as_the_database_up_serves(
    database_url: str, tmp_path: Path
) -> None:
    """On a new machine, `./dev restore FILE blossom` is how yesterday's data comes back under
    `./dev up`. It failed both ways: the recipe made an empty `blossom` for itself before
    restoring (as the recipes that read it do), and then refused it as existing; and any other
    name failed in pg_restore, the roles that own the dump's objects missing on the new cluster
    (`role "blossom_owner" does not exist`), while `./dev migrate`, which makes them, takes
    `blossom`. The restore makes the roles, as migrate does, and the database it is given."""
    with psycopg.connect(database_url) as conn:
        user_id = make_user(conn, "Restored")
    backup = tmp_path / "nightly.dump"
    dump(database_url, backup)
    with local_stack() as local:
        ran = local.run("ops.backup", "restore", str(backup), DB_NAME)
        assert ran.returncode == 0, ran.stderr
        assert not local.cluster.running(), "the cluster it started is stopped again"
        local.cluster.start()
        restored = local.cluster.url(DB_NAME)
        with psycopg.connect(restored) as conn:
            assert conn.execute("select from app.users where id = %s", (user_id,)).fetchone() is not None
        assert stateless_unchanged(restored), "up's migrate finds nothing to do"


def test_a_restore_into_the_database_up_made_says_what_to_do_and_keeps_it(
    database_url: str, tmp_path: Path
) -> None:
    """Once any recipe on the local database has run (`./dev up`, `migrate`, `psql` …), it holds
    `blossom`, and `./dev restore FILE blossom` (README's way to bring data back under `up`) said
    only Postgres's `database "blossom" already exists`. It says that a restore makes a new
    database and how to go on, and leaves the one there as it was."""
    backup = tmp_path / "nightly.dump"
    dump(database_url, backup)
    with local_stack() as local:
        assert local.run("ops.stack", "migrate").returncode == 0
        ran = local.run("ops.backup", "restore", str(backup), DB_NAME)
        assert ran.returncode == 1
        assert f"database '{DB_NAME}' exists already, and a restore makes a new one" in ran.stderr
        assert "drop it first" in ran.stderr
        assert not local.cluster.running(), "the cluster it started is stopped again"
        local.cluster.start()
        assert stateless_unchanged(local.cluster.url(DB_NAME)), "the database there is kept, migrated"


def test_psql_given_another_database_stays_on_the_local_cluster() -> None:
    """`./dev psql -d postgres` (the server's own database, where `top-queries` keeps its
    extension), or `-d` a database `./dev restore` made, went to libpq's default server, a
    system Postgres on 5432 if there is one: psql's `-d` took the place of the whole connection
    string the recipe gave it. The recipe gives the local cluster as libpq's environment, which
    psql's options override one by one."""
    with local_stack() as local:
        ran = local.run(
            "ops.stack",
            "psql",
            "-d",
            "postgres",
            "-At",
            "-c",
            "select current_database(), current_setting('port')",
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == f"postgres|{local.cluster.port}"


def test_psql_stays_on_the_local_cluster_whatever_service_the_user_chose(tmp_path: Path) -> None:
    """A developer's own PGSERVICE (a service file's server, production's say) took the place of
    the local cluster: libpq fills what its connection string leaves out from the service before
    the environment, and the recipe gives the cluster as the environment. psql went to the
    service's server, thought the local database."""
    services = tmp_path / "pg_service.conf"
    services.write_text("[elsewhere]\nhost=127.0.0.1\nport=1\ndbname=elsewhere\n")
    with local_stack(PGSERVICEFILE=str(services), PGSERVICE="elsewhere") as local:
        ran = local.run(
            "ops.stack", "psql", "-At", "-c", "select current_database(), current_setting('port')"
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == f"{DB_NAME}|{local.cluster.port}"


def _problems(log: str) -> list[str]:
    """The server log's lines of a severity an operator reads as a fault (`up` shows them all)."""
    severities = (" ERROR: ", " WARNING: ", " FATAL: ", " PANIC: ")
    return [line for line in log.splitlines() if any(severity in line for severity in severities)]


def test_a_healthy_migrate_leaves_no_error_in_what_up_shows() -> None:
    """`./dev up` shows the local cluster's log, and a healthy migrate wrote ERRORs and WARNINGs
    into it, every one yoyo's own and expected: `relation "yoyo_lock" already exists` (it creates
    its lock table every time), `table "yoyo_tmp_…" does not exist` (its test of transactional
    DDL, which Postgres has), and `there is no transaction in progress` (a ROLLBACK before each
    migration outside a transaction). A first migrate and a second, with nothing to do."""
    with local_stack() as local:
        for _ in range(2):
            ran = local.run("ops.stack", "migrate")
            assert ran.returncode == 0, ran.stderr
            assert "ERROR" not in ran.stdout + ran.stderr
            assert "Traceback" not in ran.stdout + ran.stderr
        assert _problems(local.cluster.logfile.read_text()) == []


def _logged(cluster: LocalCluster, after: int, text: str, what: str) -> None:
    """Waits until the server's log, past its first `after` bytes, says `text`."""
    log = cluster.logfile
    eventually(lambda: text in log.read_bytes()[after:].decode(), timeout=30, what=what)


def _stop_meeting_a_closing_session(cluster: LocalCluster, stop: Callable[[], None]) -> str:
    """`stop` run just as a session is closed, its backend held (SIGSTOP) until the stop is under
    way: the goodbye its client sent is still unread. The server's log of it."""
    cluster.start()
    logged_before = cluster.logfile.stat().st_size
    conn = psycopg.connect(cluster.url("postgres"))
    backend = conn.info.backend_pid
    os.kill(backend, signal.SIGSTOP)
    try:
        conn.close()
        stopping = threading.Thread(target=stop)
        stopping.start()
        _logged(cluster, logged_before, "shutdown request", "the stop under way")
    finally:
        os.kill(backend, signal.SIGCONT)
    stopping.join()
    assert not cluster.running()
    return cluster.logfile.read_text()


def test_a_recipe_stops_the_local_cluster_without_cutting_a_session_that_is_ending() -> None:
    """The recipe that started the local cluster stops it once its own connections are closed,
    and a fast stop cut the backend of one whose client's goodbye it had not read yet, on a busy
    machine: `FATAL: terminating connection due to administrator command` in the log `./dev up`
    shows, now and then, after a `./dev migrate` that did nothing wrong. The stop now waits for
    such sessions to end; one that does not end (a developer's own psql) is cut after a short
    wait."""
    closing = "terminating connection due to administrator command"
    with local_stack() as local:
        assert closing in _stop_meeting_a_closing_session(local.cluster, local.cluster.stop)
        local.cluster.logfile.unlink()
        log = _stop_meeting_a_closing_session(local.cluster, local.cluster.stop_after_sessions_end)
        assert _problems(log) == [], log
        local.cluster.start()
        with psycopg.connect(local.cluster.url("postgres")) as left_open:
            local.cluster.stop_after_sessions_end(grace_seconds=1)
            assert not local.cluster.running()
            with pytest.raises(psycopg.OperationalError):
                left_open.execute("select 1")


def test_ctrl_c_while_a_recipe_waits_for_the_sessions_to_end_stops_the_cluster_at_once(
    migrated_data_folder: Path, tmp_path: Path
) -> None:
    """Ctrl-C during the stop's wait for sessions to end (a developer's own psql open) ended the
    wait, not the stop it had asked for: Postgres waited for that psql for good, refusing every
    new connection (`the database system is shutting down`), and its recipe's mark that it
    started the cluster stayed. The cluster is stopped at once instead, the session cut."""
    with local_stack() as local:
        copy_data_folder(migrated_data_folder, local.folder)
        local.cluster.start()
        # As a recipe that started it and ended before this one leaves it: the last to end stops it.
        (local.folder / STARTED_FILE).touch()
        logged_before = local.cluster.logfile.stat().st_size  # the copied folder's tells of its stops
        output = tmp_path / "migrate.out"
        with psycopg.connect(local.cluster.url(DB_NAME)) as developers_psql, open(output, "w") as written:
            recipe = subprocess.Popen(
                [sys.executable, "-m", "ops.stack", "migrate"],
                cwd=ROOT, env=local.env, stdout=written, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                _logged(local.cluster, logged_before, "received smart shutdown request", "the recipe's stop")
                os.killpg(recipe.pid, signal.SIGINT)  # the terminal's Ctrl-C, to its process group
                assert recipe.wait(30) == 128 + signal.SIGINT, output.read_text()
            finally:
                with suppress(ProcessLookupError):
                    os.killpg(recipe.pid, signal.SIGKILL)
            assert not local.cluster.running(), local.cluster.logfile.read_text()
            assert not (local.folder / STARTED_FILE).exists()
            with pytest.raises(psycopg.OperationalError):
                developers_psql.execute("select 1")
        ran = local.run("ops.stack", "migrate")
        assert ran.returncode == 0, ran.stderr


def test_a_terminal_that_closes_under_a_recipe_stops_its_program_then_the_cluster(
    migrated_data_folder: Path, tmp_path: Path
) -> None:
    """A closed terminal sends its process group SIGHUP: the recipe (psql, pipeline, worker …)
    ended at once, by the signal's default, and the Postgres it had started ran on, with no one
    to stop it, until another recipe happened to end. So did its program, which stops on SIGTERM
    as it should (the worker finishing the jobs under way): the recipe's program ignores the
    hangup, and the recipe passes it on as SIGTERM, then stops the cluster."""
    metrics_port = free_port()
    with local_stack(BLOSSOM_WORKER_METRICS_PORT=str(metrics_port)) as local:
        copy_data_folder(migrated_data_folder, local.folder)
        output = tmp_path / "worker.out"
        with open(output, "w") as written:
            recipe = subprocess.Popen(
                [sys.executable, "-m", "ops.stack", "worker"],
                cwd=ROOT, env=local.env, stdout=written, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                eventually(lambda: port_open(metrics_port), 60, f"the worker: {output.read_text()}")
                os.killpg(recipe.pid, signal.SIGHUP)
                recipe.wait(30)
            finally:
                with suppress(ProcessLookupError):
                    os.killpg(recipe.pid, signal.SIGKILL)
        said = output.read_text()
        assert "stopping: finishing the jobs under way" in said, said
        assert not local.cluster.running(), said
        assert not (local.folder / STARTED_FILE).exists()


def test_a_stop_that_finds_the_server_ended_meanwhile_is_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smart stop whose wait ran out just as its last session ended (or its shutdown checkpoint
    took the wait's 2 s) went on to a fast stop, which checked that the server ran, then found it
    gone: pg_ctl's "PID file does not exist" failed the recipe, and left its mark."""
    with local_stack() as local:
        local.cluster.start()
        local.cluster.stop()
        running_as_checked = iter([True])
        real = local.cluster.running
        monkeypatch.setattr(local.cluster, "running", lambda: next(running_as_checked, None) or real())
        local.cluster.stop("fast")
        assert not local.cluster.running()


# A developer's own libpq settings, each harmless elsewhere and wrong for the local cluster: an
# address that is not the cluster's, TLS it does not offer, a session that writes nothing, a
# standby it is not, another time zone.
DEVELOPERS_LIBPQ_ENVIRONMENT = {
    "PGHOSTADDR": "127.0.0.2",
    "PGSSLMODE": "require",
    "PGOPTIONS": "-c default_transaction_read_only=on",
    "PGTARGETSESSIONATTRS": "standby",
    "PGTZ": "Pacific/Chatham",
    "PGCONNECT_TIMEOUT": "1",
}


def test_a_developers_libpq_environment_leaves_the_recipes_on_the_local_cluster() -> None:
    """libpq reads PGHOSTADDR, PGSSLMODE, PGOPTIONS … for every parameter a connection string
    leaves out, and the recipes' URLs name only the host, port, user and database: a developer's
    own settings sent `./dev migrate` and `./dev psql` (and up's edge and worker) to another
    address, asked the cluster for TLS, or made their sessions read-only. The recipes on the
    local cluster drop them."""
    with local_stack(**DEVELOPERS_LIBPQ_ENVIRONMENT) as local:
        migrated = local.run("ops.stack", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        query = "select current_setting('port'), current_setting('TimeZone') <> 'Pacific/Chatham'"
        ran = local.run("ops.stack", "psql", "-At", "-c", query)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == f"{local.cluster.port}|t"


def test_a_developers_libpq_environment_leaves_the_tests_on_their_throwaway_cluster() -> None:
    """`./dev test`, `check` and `pgtap` work on a cluster of their own, which the same settings
    sent every connection away from (`./dev pgtap` here, its cluster, migrate and pg_prove)."""
    env = {key: value for key, value in os.environ.items() if key != "BLOSSOM_SCRATCH_URL"}
    ran = subprocess.run(
        [sys.executable, "-m", "ops.run_tests", "--pgtap", str(ROOT), "sql/tests/tokens.sql"],
        cwd=ROOT, env=env | DEVELOPERS_LIBPQ_ENVIRONMENT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize(
    ("arguments", "status", "says"),
    [
        (["sql/tests/no_such_file.sql"], 1, "pgtap: no pgTAP file sql/tests/no_such_file.sql"),
        (["--help"], 0, "usage: just pgtap [FILE…]"),
        # An option it does not know, as every recipe of ours answers one: its usage, status 2
        # (it was taken for a missing file, status 1).
        (["--verbose"], 2, "pgtap: unrecognized arguments: --verbose"),
    ],
    ids=["missing", "help", "unknown-option"],
)
def test_pgtap_answers_a_file_that_is_not_there_before_it_makes_a_cluster(
    arguments: list[str], status: int, says: str
) -> None:
    """`./dev pgtap` of a misspelt file (or `--help`) made a cluster, migrated it, and then ended
    in pg_prove's Perl stack trace, "Cannot detect source of '…'"."""
    ran = subprocess.run(
        [sys.executable, "-m", "ops.run_tests", "--pgtap", str(ROOT), *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    said = ran.stdout + ran.stderr
    assert ran.returncode == status, said
    assert says in said
    assert "--- pgTAP" not in said, "no stage ran"


def test_each_pgtap_file_begins_on_a_database_no_earlier_file_touched(tmp_path: Path) -> None:
    """A file's rolled-back rows leave their pages in the tables (no vacuum runs between files),
    and orgs_deletion.sql, run after orgs_member_pages.sql, read 1,582 pages of memberships no
    one had: its rule of at most 300 held only in the order the files' names gave."""
    (tmp_path / "leaves_pages.sql").write_text(
        "begin; select plan(1);\n"
        "select tap.make_users(array(select 'u' || n from generate_series(1, 2000) n));\n"
        "select pass('2,000 users, rolled back'); select * from finish(); rollback;\n"
    )
    (tmp_path / "finds_none.sql").write_text(
        "begin; select plan(1);\n"
        "select is(pg_relation_size('app.users'), 0::bigint, 'no page of users');\n"
        "select * from finish(); rollback;\n"
    )
    pgtap = [sys.executable, "-m", "ops.run_tests", "--pgtap", str(tmp_path)]
    ran = subprocess.run(
        [*pgtap, "leaves_pages.sql", "finds_none.sql"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Files=2, Tests=2" in ran.stdout


def test_test_help_shows_the_usage_and_runs_nothing() -> None:
    """`./dev test --help` started every check (lint, the SQL checks, pgTAP …) on a throwaway
    cluster, printed pytest's help among them and waited minutes for the checks to end."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "ops.run_tests", "--help"],
        cwd=ROOT, stdout=PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        said, _ = runner.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    assert runner.returncode == 0, said
    assert said.startswith("usage: just test [PYTEST_ARGS…]"), said
    assert "-k EXPRESSION" in said, "pytest's own options follow"
    assert "--- " not in said, "no stage ran"


@pytest.mark.parametrize("recipe", ["worker", "pipeline-run", "psql-admin"])
def test_a_recipe_that_needs_the_migrated_database_says_so_on_a_fresh_checkout(recipe: str) -> None:
    """On a fresh checkout (a local database never migrated), `./dev worker` retried for ever,
    logging `role "worker" does not exist` every few seconds, `./dev pipeline-run` printed
    some 170 lines of Dagster's tracebacks before its one line of cause, and `./dev psql-admin`
    ended in psql's `FATAL: role "panopticon" does not exist` (after a rollback, in a prompt with
    no admin view to read). Each now stops at once, saying what to run."""
    with local_stack() as local:
        ran = subprocess.run(
            [sys.executable, "-m", "ops.stack", recipe],
            cwd=ROOT, env=local.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert "Traceback" not in ran.stdout + ran.stderr
        assert "./dev migrate" in ran.stderr.strip().splitlines()[-1]
        assert not local.cluster.running(), "the cluster it started is stopped again"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--day", "2026-13-01"], "'2026-13-01' is no day: YYYY-MM-DD"),
        (["org_daily_metrics", "--day"], "argument --day: expected one argument"),
        # Refused by the run, once the cluster had started (and, on a new checkout, been made).
        (
            ["org_daily_metrics", "--day", "2026-01-10", "weekly_digest"],
            "no asset weekly_digest (there are: auth_housekeeping, org_daily_metrics, org_metrics_sheet,"
            " weekly_slack_digest)",
        ),
    ],
    ids=["unknown-option", "malformed-day", "day-without-value", "unknown-asset"],
)
def test_pipeline_run_refuses_a_wrong_argument_before_it_starts_the_cluster(
    arguments: list[str], says: str
) -> None:
    """`./dev pipeline-run --bogus` started the local cluster (made it, on a fresh checkout), and
    then said the database had no API, or, migrated, refused the option with status 2 from
    inside the run: its arguments were read by the pipeline's process only. They are read before
    anything starts, as every other recipe reads its own."""
    with local_stack() as local:
        ran = local.run("ops.stack", "pipeline-run", *arguments)
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert ran.stderr.startswith("usage: just pipeline-run"), ran.stderr
        assert says in ran.stderr
        assert "starting Postgres" not in ran.stderr
        assert not (local.folder / "postgres").exists(), "no cluster made"


def _refused_before_anything_starts(local: LocalStack, recipe: str, says: str, *arguments: str) -> None:
    """`./dev RECIPE ARGUMENTS` ends in the one line `says`, status 1, and made no cluster."""
    ran = local.run("ops.stack", recipe, *arguments)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stderr.splitlines() == [says], ran.stderr
    assert not (local.folder / "postgres").exists(), "no cluster made"


@pytest.mark.parametrize("recipe", ["pipeline-run", "pipeline"])
def test_a_dagster_home_that_cannot_be_made_is_refused_before_the_cluster_starts(
    recipe: str, tmp_path: Path
) -> None:
    """A DAGSTER_HOME whose folder cannot be made (here under a file, which root is refused too)
    started the cluster, and then ended in `blossom: [Errno 20] Not a directory: …`, naming no
    setting. It is refused in one line naming it, before anything starts."""
    (tmp_path / "file").touch()
    with local_stack(DAGSTER_HOME=str(tmp_path / "file" / "dagster")) as local:
        says = f"blossom: DAGSTER_HOME cannot be made ({tmp_path / 'file' / 'dagster'}): Not a directory"
        _refused_before_anything_starts(local, recipe, says)


@pytest.mark.parametrize("recipe", ["pipeline-run", "pipeline"])
def test_a_dagster_yaml_that_is_no_yaml_is_refused_in_one_line(recipe: str, tmp_path: Path) -> None:
    """A dagster.yaml in DAGSTER_HOME that is no YAML ended both recipes in Dagster's traceback of
    some 80 lines (`pipeline` in dagster dev's), the cluster started first. One line names it."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_storage: [oops\n")
    with local_stack(DAGSTER_HOME=str(home)) as local:
        says = (
            f"{recipe}: DAGSTER_HOME's {home / 'dagster.yaml'} cannot be read as YAML (line 2):"
            " expected ',' or ']', but got '<stream end>'"
        )
        _refused_before_anything_starts(local, recipe, says)


def test_a_second_pipeline_ui_on_one_dagster_instance_is_refused(tmp_path: Path) -> None:
    """Two `./dev pipeline` on one DAGSTER_HOME ran Dagster's daemon twice (each schedule's and the
    sensor's tick twice); on one port, the second ran on without its webserver. The first holds
    the instance's lock (held here as it holds it) and the second is refused before it starts."""
    home = tmp_path / "dagster"
    home.mkdir()
    with open(home / PIPELINE_UI_LOCK, "a") as first, local_stack(DAGSTER_HOME=str(home)) as local:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        says = (
            f"blossom: another ./dev pipeline runs on this Dagster instance ({home}):"
            " stop it first, or give DAGSTER_HOME another folder"
        )
        _refused_before_anything_starts(local, "pipeline", says)
        assert local.run("ops.stack", "pipeline-run", "--help").returncode == 0, "a run is no UI"


def test_ctrl_c_while_dagster_loads_ends_the_pipeline_ui_in_silence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the second or so `./dev pipeline`'s dagster dev spends importing Dagster, before
    it takes Ctrl-C as its stop: Python's traceback of the import, and just's exit code 254."""
    from ops import dagster_dev

    def loading(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("runpy.run_module", loading)
    monkeypatch.setattr(sys, "argv", ["ops/dagster_dev.py", "dev", "-m", "pipeline.definitions"])
    with pytest.raises(SystemExit) as ended:
        dagster_dev.main()
    assert ended.value.code == 130
    assert capsys.readouterr() == ("", "")


def test_the_pipeline_ui_starts_without_dagsters_advice_to_run_another_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `./dev pipeline` began with Dagster's FutureWarning that `dagster dev` is superseded,
    "Use 'dg dev' instead.": a command this project does not install, for a project layout it
    does not have. dagster dev itself (its webserver and daemon) is stood in for here."""
    from dagster._cli import dev

    from ops import dagster_dev

    started: list[tuple[object, ...]] = []
    monkeypatch.setattr(dev, "dev_command_impl", lambda *args, **_options: started.append(args))
    monkeypatch.setattr(sys, "argv", ["ops/dagster_dev.py", "dev", "-m", "pipeline.definitions"])
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit) as ended:
            dagster_dev.main()
    assert ended.value.code == 0
    assert len(started) == 1, "dagster dev ran"
    assert [str(warning.message) for warning in warned] == []
    assert capsys.readouterr().err == ""


def test_a_dagster_home_under_the_home_of_no_user_or_in_a_loop_is_refused_naming_it(tmp_path: Path) -> None:
    """`~nosuchuser/x` ended in `blossom: Could not determine home directory.`, no setting named;
    a folder in a loop of symbolic links is told as such, not as a `~` of no user."""
    with local_stack(DAGSTER_HOME="~nosuchuser/x") as local:
        says = "blossom: DAGSTER_HOME cannot be made (~nosuchuser/x): no home folder for its ~"
        _refused_before_anything_starts(local, "pipeline-run", says)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    looped = tmp_path / "a" / "dagster"
    with local_stack(DAGSTER_HOME=str(looped)) as local:
        says = f"blossom: DAGSTER_HOME cannot be made ({looped}): Symlink loop from '{looped}'"
        _refused_before_anything_starts(local, "pipeline-run", says)


@pytest.mark.parametrize("recipe", ["pipeline", "pipeline-run"])
def test_a_wrong_pipeline_setting_is_refused_before_the_cluster_starts(recipe: str) -> None:
    """A setting the pipeline's definitions refuse as they load: `./dev pipeline` started the
    cluster and Dagster, whose UI then served a code location that failed to load, no schedule
    running, the reason among the lines of its log; `./dev pipeline-run` started the cluster
    before the run refused it. Both refuse it in one line, and start nothing. And they refused it
    by loading the definitions, whose resources read it: Dagster's some 1.6 s of CPU before the
    one line. It is read without Dagster."""
    with local_stack(BLOSSOM_PIPELINE_RETRIES="11", BLOSSOM_DAGSTER_PORT=str(free_port())) as local:
        ran, loaded = ran_and_loaded("ops.stack", ["dagster"], recipe, env=local.env)
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert ran.stderr.splitlines() == [f"{recipe}: BLOSSOM_PIPELINE_RETRIES must be at most 10, got 11"]
        assert loaded == []
        assert not (local.folder / "postgres").exists(), "no cluster made"


def test_pipeline_run_of_the_export_without_its_google_settings_starts_nothing() -> None:
    """`./dev pipeline-run org_metrics_sheet` without Google's settings started the cluster and
    Dagster, whose run failed in a traceback naming the setting on its last line."""
    with local_stack() as local:
        for name in SHEETS_SETTINGS:
            local.env.pop(name, None)
        says = "pipeline-run: BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE is not set: the metrics export needs it"
        _refused_before_anything_starts(local, "pipeline-run", says, "org_metrics_sheet")


def test_the_hint_to_drop_an_existing_database_works_as_printed(database_url: str, tmp_path: Path) -> None:
    """The refusal of a restore into an existing database prints how to drop it:
    `./dev psql -d postgres -c 'drop database "NAME"'`, the name pasted in as it was. A name with
    a quote ended the shell's string, one with a double quote the SQL identifier: the command as
    printed failed, or dropped another. Run here as printed, by a shell, it drops that database."""
    backup = tmp_path / "nightly.dump"
    dump(database_url, backup)
    name = """it's "odd" $HOME `x`"""
    with local_stack() as local:
        assert local.run("ops.backup", "restore", str(backup), name).returncode == 0
        ran = local.run("ops.backup", "restore", str(backup), name)
        assert ran.returncode == 1, ran.stderr
        hint = ran.stderr.strip().rsplit("(with the stack stopped: ", 1)[1].removesuffix(")")
        assert hint.startswith("./dev psql -d postgres -c "), hint
        dropped = subprocess.run(
            hint,
            shell=True,
            cwd=ROOT,
            env=local.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert dropped.returncode == 0, dropped.stderr
        assert "DROP DATABASE" in dropped.stdout, dropped.stdout
        assert local.run("ops.backup", "restore", str(backup), name).returncode == 0, "the name is free again"


def test_a_recipe_starts_a_cluster_whose_pid_file_names_another_process() -> None:
    """A cluster that was not shut down (the machine restarted, a container stopped) leaves its
    postmaster.pid, and after a restart that PID is another process's, often one of the server
    account's own (in a container, where PIDs are handed out again in the same order, even the
    recipe's). `pg_ctl status` asks only whether the PID lives: the cluster was taken for
    running, never started, and `./dev psql`, `migrate` and `up` failed with "Connection
    refused" for good; `pg_ctl stop` would have signalled that process."""
    with local_stack() as local:
        local.cluster.start()
        pid_file = local.cluster.pgdata / "postmaster.pid"
        left = pid_file.read_text().split("\n")
        local.cluster.stop()
        account = local.cluster.account
        with subprocess.Popen(["sleep", "120"], user=account.pw_uid if account else None) as other:
            try:
                pid_file.write_text("\n".join([str(other.pid), *left[1:]]))
                ran = local.run("ops.stack", "psql", "-At", "-c", "select current_setting('port')")
                assert ran.returncode == 0, ran.stderr
                assert ran.stdout.strip() == str(local.cluster.port)
                assert other.poll() is None, "the process that has the PID now is left alone"
                assert not local.cluster.running(), "the cluster it started is stopped again"
            finally:
                other.kill()


def test_a_cluster_that_will_not_start_says_why() -> None:
    """When the local cluster would not start, a recipe printed pg_ctl's command line and
    "Examine the log output.", naming neither the log nor what it said: its port taken by
    another program (BLOSSOM_PG_PORT), or a data folder made by another major version of
    Postgres (a checkout's .blossom from before an upgrade). What the server logged is shown."""
    with local_stack() as local:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", local.cluster.port))
            holder.listen()
            ran = local.run("ops.stack", "psql", "-c", "select 1")
        assert ran.returncode == 1
        assert 'could not bind IPv4 address "127.0.0.1": Address already in use' in ran.stderr, ran.stderr
        assert str(local.cluster.logfile) in ran.stderr
        (local.cluster.pgdata / "PG_VERSION").write_text("14\n")
        local.env["BLOSSOM_SECRETS_KEY"] = new_key_entry("current")
        for recipe in (["ops.stack", "migrate"], ["ops.secrets", "reseal"], ["ops.top_queries"]):
            ran = local.run(*recipe)
            assert ran.returncode == 1, recipe
            assert "initialized by PostgreSQL version 14" in ran.stderr, ran.stderr


def test_the_local_cluster_starts_in_a_folder_whose_name_a_shell_would_read() -> None:
    """pg_ctl starts the server through a shell, the data folder and the log file in double
    quotes: a checkout (or BLOSSOM_DATA_DIR) whose path held a `$`, a backquote, a double quote
    or a backslash had it read by that shell (`/bin/sh: cannot create /work/a/.blossom/…`), and
    the cluster never started. They are given to pg_ctl relative to the cluster's folder."""
    with local_stack() as local:
        data_dir = local.folder / 'it\'s "odd" $HOME `x` \\n'
        data_dir.mkdir()
        local.env["BLOSSOM_DATA_DIR"] = str(data_dir)
        try:
            ran = local.run("ops.stack", "psql", "-At", "-c", "select current_setting('data_directory')")
            assert ran.returncode == 0, ran.stderr
            assert ran.stdout.strip() == str(data_dir / "postgres" / "pgdata")
        finally:
            LocalCluster(data_dir / "postgres", local.cluster.port).stop()


def test_recipes_begun_at_once_on_a_stopped_cluster_all_reach_it() -> None:
    """Each recipe on the local database starts its cluster when it is not running: two begun at
    once (`./dev up` and `./dev psql` in two terminals, a script's `migrate &` and `worker`) each
    found it stopped and started it, and the second failed (`lock file "postmaster.pid" already
    exists`, or initdb's "directory exists but is not empty" on a new checkout). They take turns
    to start it; each then finds it running, and the last to end stops it."""
    with local_stack() as local:
        command = [sys.executable, "-m", "ops.stack", "psql", "-At", "-c", "select 1"]
        recipes = [
            subprocess.Popen(command, cwd=ROOT, env=local.env, stdout=PIPE, stderr=PIPE, text=True)
            for _ in range(3)
        ]
        for recipe in recipes:
            output, errors = recipe.communicate(timeout=120)
            assert (recipe.returncode, output.strip()) == (0, "1"), errors
        assert not local.cluster.running(), "the last to end stops it"


def test_a_recipe_on_another_port_than_the_running_cluster_says_which_port_it_runs_on() -> None:
    """`./dev up` with BLOSSOM_PG_PORT=N starts the data folder's cluster on port N; `./dev psql`
    (or migrate, top-queries …) run without that setting found the cluster running, left it, and
    failed with "cannot reach the database server at 127.0.0.1:54329", never saying where the
    cluster runs. It names the port, and the setting that reaches it."""
    with local_stack() as local:
        elsewhere = LocalCluster(local.cluster.data_dir, free_port())
        elsewhere.start()
        for recipe in (
            ["ops.stack", "psql", "-c", "select 1"],
            ["ops.stack", "migrate"],
            ["ops.top_queries"],
        ):
            ran = local.run(*recipe)
            assert ran.returncode == 1, ran.stderr
            said = ran.stderr.strip().splitlines()[-1]
            assert f"runs on port {elsewhere.port}" in said, ran.stderr
            assert f"BLOSSOM_PG_PORT={elsewhere.port}" in said, ran.stderr
        assert elsewhere.running(), "the cluster it did not start is left running"


# Recipes that read BLOSSOM_DATA_DIR, each as ./dev runs it (`backup`'s FILE beside the folder):
# one of ops/stack.py's (up, migrate, psql … read it alike, through Settings.from_env), and the
# operators' tools that read it so too, top-queries's once a traceback.
READING_THE_DATA_FOLDER = [
    ["ops.stack", "up"],
    ["ops.top_queries"],
    ["ops.backup", "backup", "{folder}/local.dump"],
]


@pytest.mark.parametrize("recipe", READING_THE_DATA_FOLDER, ids=lambda recipe: " ".join(recipe[:2]))
def test_a_data_folder_that_is_a_file_is_refused_naming_the_setting(recipe: list[str]) -> None:
    """A BLOSSOM_DATA_DIR naming a file ended `./dev up`, `migrate`, `psql` … in
    `blossom: [Errno 17] File exists: '…'` (`top-queries` in its traceback), and one under a file
    in `[Errno 20] Not a directory`, neither saying which setting named it. Each is refused in one
    line naming BLOSSOM_DATA_DIR, and nothing is made."""
    with local_stack() as local:
        file = local.folder / "data"
        file.write_text("not a folder\n")
        arguments = [argument.format(folder=local.folder) for argument in recipe]
        for data_dir, says in (
            (file, f"BLOSSOM_DATA_DIR is a file, not a folder: {file}"),
            (
                file / "blossom",
                f"BLOSSOM_DATA_DIR ({file / 'blossom'}) is under a file, not a folder: {file}",
            ),
        ):
            local.env["BLOSSOM_DATA_DIR"] = str(data_dir)
            ran = local.run(*arguments)
            assert (ran.returncode, ran.stderr.splitlines()) == (1, [says]), ran.stdout + ran.stderr
        assert sorted(path.name for path in local.folder.iterdir()) == ["data"], "nothing made"


@pytest.mark.parametrize("recipe", READING_THE_DATA_FOLDER, ids=lambda recipe: " ".join(recipe[:2]))
def test_a_data_folder_whose_path_is_not_utf8_is_refused_naming_the_setting(recipe: list[str]) -> None:
    """A BLOSSOM_DATA_DIR with a byte that is not UTF-8 in its path: initdb made the cluster, its
    output (which names the folder) ended the recipe in a UnicodeDecodeError's traceback before
    the cluster's settings were written, and every later recipe used that cluster as it was. It
    is refused in one line naming the setting, before anything is made."""
    with local_stack() as local:
        local.env["BLOSSOM_DATA_DIR"] = os.fsdecode(os.fsencode(local.folder) + b"/data\xff")
        ran = local.run(*(argument.format(folder=local.folder) for argument in recipe))
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert ran.stderr.splitlines() == [
            "BLOSSOM_DATA_DIR must be a path of UTF-8 text, and has a byte that is not:"
            f" {local.folder}/data\\xff"
        ]
        assert list(local.folder.iterdir()) == [], "nothing made"


@pytest.mark.parametrize("kind", ["a link to itself", "the home of no user"])
def test_a_data_folder_path_that_cannot_be_resolved_is_refused_naming_the_setting(
    kind: str, tmp_path: Path
) -> None:
    """A link to itself, or `~someone` for no such user: each was Python's RuntimeError, a
    traceback naming no setting."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    data_dir = str(loop) if kind == "a link to itself" else "~no-such-user-of-blossom/data"
    with local_stack(BLOSSOM_DATA_DIR=data_dir) as local:
        ran = local.run("ops.stack", "psql", "-c", "select 1")
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith(f"BLOSSOM_DATA_DIR cannot be read as a folder's path: {data_dir} ("), (
        ran.stderr
    )
    assert len(ran.stderr.splitlines()) == 1, ran.stderr
