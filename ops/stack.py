"""`just up`, `just down` and the recipes that work on the local database (migrate, psql, psql-admin,
reset-db, worker, pipeline, pipeline-run).

Without DATABASE_URL the database is a project-local cluster under BLOSSOM_DATA_DIR
(default `.blossom/`), started on BLOSSOM_PG_PORT; its data survives restarts.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from subprocess import PIPE
from types import FrameType
from typing import IO, NoReturn

import psycopg
from psycopg import sql

from blossom_db.settings import connection_failure
from deploy.migrate import (
    MIGRATIONS_DIR,
    migrate,
    migration_files,
    report_rollback,
    rollback,
    stateless_applied,
    with_database,
)
from ops.cluster import PG_BIN, PROC, ClusterError, LocalCluster
from ops.services import (
    Endpoints,
    auth_env,
    start_edge,
    start_maildev,
    start_postgrest,
    start_worker,
    stop,
    wait_http,
    worker_env,
)
from ops.settings import (
    DB_NAME,
    ROOT,
    Settings,
    forget_libpq_environment,
    psql_connection,
    recipe_parser,
    redacted,
    starting_read_only,
)
from ops.supervise import Child, Output
from pipeline import settings as pipeline_settings
from pipeline.__main__ import read_arguments as read_pipeline_arguments
from pipeline.__main__ import refuse_wrong_settings as refuse_wrong_pipeline_settings
from services.secrets import KEY_VARIABLE, new_key_entry


def say(message: str) -> None:
    # OSError: the terminal is gone (EIO), between its hangup and our SIGHUP handler; no one reads.
    with suppress(OSError):
        print(f"blossom: {message}", file=sys.stderr, flush=True)


# In the data folder: a lock each recipe that uses the local cluster holds (shared) while it runs,
# a lock held (alone) while one of them makes or starts the cluster, and a file that says a
# recipe started the cluster, which the last of them to end stops.
USERS_FILE = "postgres.users"
STARTING_FILE = "postgres.starting"
STARTED_FILE = "postgres.started"


def local_cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(settings.data_dir / "postgres", settings.pg_port)


@contextmanager
def database(settings: Settings, *, create: bool = True) -> Iterator[LocalCluster | None]:
    """The database the recipes work on, made when missing unless not `create` (a restore makes
    the one it fills). A local cluster is started if needed, and stopped again
    by the last recipe using it to end, when one of them started it: `./dev psql` that started it
    ended by stopping it under a `./dev up` begun meanwhile. Each recipe holds a shared lock on
    USERS_FILE while it runs; the one that can then take it alone is the last. They start it, and
    make the database, one at a time (STARTING_FILE). On the local
    cluster a developer's libpq settings are forgotten (forget_libpq_environment)."""
    if settings.external_database_url:
        yield None
        return
    # Before any connection, and before any child (psql, the edge, the worker) copies it.
    forget_libpq_environment()
    cluster = local_cluster(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started = settings.data_dir / STARTED_FILE
    with open(settings.data_dir / USERS_FILE, "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        try:
            # One at a time: two recipes begun at once each found the cluster stopped (or the
            # database missing), and the second's initdb, pg_ctl start or create database failed
            # beside the first's.
            with open(settings.data_dir / STARTING_FILE, "a") as starting:
                fcntl.flock(starting, fcntl.LOCK_EX)
                if not (cluster.initialized() and cluster.running()):
                    say(f"starting Postgres ({cluster.pgdata}, port {cluster.port})")
                    # Marked before: a start that a signal interrupts is seen to its end, and
                    # then stopped as any other.
                    started.touch()
                    cluster.start()
                else:
                    require_same_port(cluster)
                if create:
                    cluster.create_database(DB_NAME)
            yield cluster
        finally:
            if started.exists():
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    say("Postgres keeps running: another recipe uses it, and the last to end stops it")
                else:
                    try:
                        if cluster.running():  # not after a start that failed
                            say("stopping Postgres")
                            cluster.stop_after_sessions_end()
                    finally:
                        # Kept while the cluster runs on (its stop failed): the next recipe to
                        # end stops it.
                        if not cluster.running():
                            started.unlink()


def require_same_port(cluster: LocalCluster) -> None:
    """Refuses a recipe whose BLOSSOM_PG_PORT is not the port the folder's running cluster was
    started on (by a `./dev up` given another): it failed with "cannot reach the database server
    at 127.0.0.1:54329", never saying where the cluster runs."""
    port = cluster.running_port()
    if port is not None and port != cluster.port:
        raise ClusterError(
            f"the local cluster ({cluster.pgdata}) runs on port {port}, not on BLOSSOM_PG_PORT's"
            f" {cluster.port}: set BLOSSOM_PG_PORT={port}, as the recipe that started it had it"
        )


class Shutdown(Exception):
    pass


# What stops `up`, each stopping the stack in order.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# True once the stack begins to stop (on the first stopping signal, or a failure): a signal after
# it raises nothing, so that the stop under way goes on in order. A second comes unasked: SIGTERM
# to `./dev up`'s process group reaches us twice, directly and as just passes it on to its recipe.
# A plain flag: a handler runs between any two steps of the main thread, and one that waited on a
# lock the main thread held (a threading.Event's, in its set()) waited for ever.
_stopping = False


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    global _stopping
    if signum == signal.SIGHUP:
        _write_nowhere()
    if _stopping:
        return
    _stopping = True
    raise Shutdown(signal.Signals(signum).name)


def _write_nowhere() -> None:
    """The terminal is gone, and every write to it fails (EIO): what is left to say while the stack
    stops goes to /dev/null, so that no failed write cuts the stopping short (it left every
    process but the first, and Postgres, running), nor the flush of our output at exit. Output
    to a file or a pipe is kept: a hangup sent by hand (`kill -HUP`) leaves it working."""
    nowhere = os.open(os.devnull, os.O_WRONLY)
    for descriptor in (sys.stdout.fileno(), sys.stderr.fileno()):
        if stat.S_ISCHR(os.fstat(descriptor).st_mode):  # a terminal (or /dev/null already)
            os.dup2(nowhere, descriptor)
    os.close(nowhere)


def _handle_stopping_signals() -> None:
    """Each stopping signal raises Shutdown; one ignored when we started stays ignored (SIGHUP
    under nohup, SIGINT in a script's background job)."""
    for signum in STOPPING_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise_shutdown)


def mail_settings(settings: Settings, edge_url: str) -> tuple[dict[str, str], bool]:
    """The worker's settings under `just up`, and whether MailDev is wanted: the worker sends
    through MailDev unless BLOSSOM_SMTP_URL names another server; mailed links point at
    BLOSSOM_APP_URL, or the edge when it is not set."""
    smtp_url = os.environ.get("BLOSSOM_SMTP_URL") or f"smtp://127.0.0.1:{settings.smtp_port}"
    app_url = os.environ.get("BLOSSOM_APP_URL") or edge_url
    worker = worker_env(settings.worker_database_url, smtp_url, app_url)
    worker["BLOSSOM_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port)
    return worker, not os.environ.get("BLOSSOM_SMTP_URL")


def taken_port(settings: Settings, with_maildev: bool) -> str | None:
    """Why the stack cannot start when one of its ports is in use, before anything starts: another
    program may hold one, or a process of a `./dev up` that was killed and that has not stopped
    yet (each is sent SIGTERM as `up` ends, however it ends, ops/services.py); the next `up`
    failed late, saying only that PostgREST exited."""
    ports = [
        ("BLOSSOM_EDGE_PORT", "the edge's", settings.edge_port),
        ("BLOSSOM_POSTGREST_PORT", "PostgREST's", settings.postgrest_port),
        ("BLOSSOM_POSTGREST_ADMIN_PORT", "PostgREST's admin", settings.postgrest_admin_port),
        ("BLOSSOM_WORKER_METRICS_PORT", "the worker's metrics", settings.worker_metrics_port),
    ]
    if with_maildev:
        ports += [
            ("BLOSSOM_SMTP_PORT", "MailDev's SMTP", settings.smtp_port),
            ("BLOSSOM_MAILBOX_PORT", "MailDev's mailbox", settings.mailbox_port),
        ]
    for variable, whose, port in ports:
        if not _port_free(port):
            return (
                f"port {port} ({variable}, {whose}) is in use: by another program, or by a process"
                f" of a `./dev up` that was killed, still stopping (`ss -ltnp 'sport = :{port}'` names it)"
            )
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers bind: a port left in TIME_WAIT by the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def development_key_file(settings: Settings) -> Path:
    """Where `up` keeps the development key of tenants' credentials (reseal-secrets reads it too)."""
    return settings.data_dir / "secrets.key"


def use_development_secrets_key(settings: Settings) -> None:
    """BLOSSOM_SECRETS_KEY for the edge and the worker under `just up`: the environment's, or a
    key of this checkout's own, made once and kept in the data folder (readable by us alone), so
    that what was sealed yesterday opens today. Never for production: there the key comes from
    the deployment's secret store."""
    if os.environ.get(KEY_VARIABLE, "").strip():
        return
    key_file = development_key_file(settings)
    if not key_file.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as output:
            output.write(new_key_entry("dev-1") + "\n")
        say(f"made a development key for tenants' credentials: {key_file}")
    os.environ[KEY_VARIABLE] = key_file.read_text().strip()


# How long `down` waits for `up` to stop: each process may take 30 s to stop (`up` below),
# the worker, the edge, PostgREST and MailDev one after another, then Postgres.
DOWN_TIMEOUT = 180.0


def up_pid_file(settings: Settings) -> Path:
    """Where `up` keeps its PID while it runs, for `down`."""
    return settings.data_dir / "up.pid"


def _running_up(pid_file: Path) -> int | None:
    """The PID of the `up` of this checkout that `pid_file` names, if it runs: after a SIGKILL, or
    a restart of the machine, another process may have that PID, and is none of ours."""
    try:
        pid = int(pid_file.read_text().strip())
        command = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        folder = Path(os.readlink(PROC / str(pid) / "cwd"))
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if b"ops.stack" not in command or folder != ROOT or state == "Z":
        return None
    return pid


def down(settings: Settings) -> int:
    """Stops the `up` that runs on this data folder (under nohup, or from a terminal since
    closed), as SIGTERM does, and waits until it has stopped everything."""
    pid_file = up_pid_file(settings)
    pid = _running_up(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        say(f"no `./dev up` runs on {settings.data_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    say(f"stopping the stack (up, PID {pid})")
    deadline = time.monotonic() + DOWN_TIMEOUT
    while _running_up(pid_file) == pid:
        if time.monotonic() > deadline:
            say(f"up (PID {pid}) is still stopping after {DOWN_TIMEOUT:.0f} s; its output says why")
            return 1
        time.sleep(0.2)
    say("the stack is stopped")
    return 0


def up(settings: Settings) -> int:
    """The stack, each process's lines shown with its name in front, a process that exits
    started again with back-off (ops/supervise.py), until Ctrl-C or SIGTERM."""
    global _stopping
    endpoints = Endpoints(
        postgrest_port=settings.postgrest_port,
        postgrest_admin_port=settings.postgrest_admin_port,
        edge_port=settings.edge_port,
        authenticator_url=settings.authenticator_url,
        edge_database_url=settings.edge_database_url,
    )
    output = Output()
    children: list[Child] = []
    following = threading.Event()
    # SIGHUP: the terminal closed. Our children, in sessions of their own, never hear it. From
    # here on, a stopping signal raises Shutdown: all that follows is within the try that takes it.
    _handle_stopping_signals()
    try:
        try:
            # What the edge would refuse (a cookie name given with a __Host- or __Secure- prefix),
            # before anything starts: it was a traceback, after the migrations.
            auth_env(endpoints, os.environ)
        except ValueError as error:
            say(str(error))
            return 1
        # Another `up` on this data folder holds its ports (taken for a killed one's leftovers) or,
        # on ports of its own, would lose to this one the PID file that `down` stops it by.
        running = _running_up(up_pid_file(settings))
        if running is not None:
            say(f"a `./dev up` (PID {running}) runs on {settings.data_dir} already: `./dev down` stops it")
            return 1
        worker_settings, with_maildev = mail_settings(settings, endpoints.edge_url)
        taken = taken_port(settings, with_maildev)
        if taken:
            say(taken)
            return 1
        use_development_secrets_key(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        up_pid_file(settings).write_text(f"{os.getpid()}\n")
        if not settings.external_database_url:
            output.follow("postgres", local_cluster(settings).logfile, following)
        with database(settings) as cluster:
            try:
                serve(settings, endpoints, worker_settings, with_maildev, output, children, cluster)
            except Shutdown as why:
                say(f"{why}: stopping")
                raise
            finally:
                # No signal interrupts the stop, in order: worker, edge, PostgREST, MailDev;
                # Postgres last, as `database` is left, so that each can finish its work.
                _stopping = True
                for child in reversed(children):
                    stop(child.process, timeout=30.0)
                    output.line("blossom", f"{child.name} stopped")
    except Shutdown:
        return 0
    # ClusterError and SqlFileError among them; OSError: a data folder we may not write in, say.
    except (RuntimeError, OSError, psycopg.Error) as error:
        say(connection_failure(settings.admin_url, error) or str(error))
        return 1
    finally:
        following.set()
        with suppress(OSError, ValueError):
            if int(up_pid_file(settings).read_text()) == os.getpid():
                up_pid_file(settings).unlink()


def serve(
    settings: Settings,
    endpoints: Endpoints,
    worker_settings: dict[str, str],
    with_maildev: bool,
    output: Output,
    children: list[Child],
    cluster: LocalCluster | None,
) -> NoReturn:
    """Migrates, starts the stack's processes (each added to `children` as it starts), and keeps
    them running until Shutdown, the local cluster too."""
    # Each is started as soon as what it needs is there, and waited for only when another needs
    # it: MailDev (a second of Node's start) while the database migrates; the worker (which
    # needs the database and, for its first delivery, MailDev) while PostgREST and the edge
    # start. Stopped in the reverse order: the worker first, MailDev last.
    maildev = None
    if with_maildev:
        mail_directory = settings.data_dir / "mail"
        maildev = Child(
            "maildev",
            lambda: start_maildev(
                settings.smtp_port, settings.mailbox_port, mail_directory, PIPE, ends_with_us=True
            ),
            output,
        )
        children.append(maildev)
    migrate(settings.admin_url)
    postgrest = Child("postgrest", lambda: start_postgrest(endpoints, PIPE, ends_with_us=True), output)
    children.append(postgrest)
    edge = Child("edge", lambda: start_edge(endpoints, PIPE, ends_with_us=True), output)
    children.append(edge)
    if maildev is not None:
        wait_http(f"{settings.mailbox_url}/api/email", maildev.process)
    children.append(
        Child(
            "worker",
            lambda: start_worker(worker_settings, settings.admin_url, PIPE, ends_with_us=True),
            output,
        )
    )
    # The edge is ready once PostgREST is, and says so on /readyz.
    wait_http(f"{endpoints.postgrest_admin_url}/ready", postgrest.process)
    wait_http(f"{endpoints.edge_url}/readyz", edge.process)
    say("the stack is up (Ctrl-C stops it)")
    print(f"  edge       {endpoints.edge_url}")
    print(f"  PostgREST  {endpoints.postgrest_url}")
    print(f"  worker     mail through {redacted(worker_settings['BLOSSOM_SMTP_URL'])}")
    print(
        f"  metrics    {endpoints.edge_url}/metrics, http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    )
    if with_maildev:
        print(f"  MailDev    {settings.mailbox_url} (SMTP on 127.0.0.1:{settings.smtp_port})")
    print(f"  database   {redacted(settings.admin_url)}", flush=True)
    cluster_checked = time.monotonic()
    while True:
        for child in children:
            child.keep_running()
        if cluster is not None and time.monotonic() - cluster_checked >= CLUSTER_CHECK_SECONDS:
            keep_cluster_running(cluster, output)
            cluster_checked = time.monotonic()
        time.sleep(0.1)


# How often `up` asks whether the local cluster still runs (pg_ctl status: a process each time).
CLUSTER_CHECK_SECONDS = 1.0


def keep_cluster_running(cluster: LocalCluster, output: Output) -> None:
    """Starts the local cluster again when it stopped (killed, or `pg_ctl stop`): it is no child
    of ours, and went unnoticed; the edge answered 503 until another recipe started it."""
    if cluster.running():
        return
    output.line("blossom", "postgres is not running; starting it")
    try:
        cluster.start()
    except ClusterError as error:
        output.line("blossom", f"postgres could not be started: {error}; trying again")
        return
    output.line("blossom", "postgres started")


def run_worker(settings: Settings) -> int:
    """The worker alone, in the foreground, on the local database (migrated by `just up` or
    `just migrate`); mail goes to BLOSSOM_SMTP_URL, or to MailDev's port (`just up` starts
    MailDev)."""
    worker_settings, _ = mail_settings(settings, f"http://127.0.0.1:{settings.edge_port}")
    use_development_secrets_key(settings)
    return run_in_foreground([sys.executable, "-m", "worker"], dict(os.environ) | worker_settings)


def run_in_foreground(command: list[str], env: dict[str, str], stop_with: int = signal.SIGTERM) -> int:
    """`command` in our process group, waited for: Ctrl-C reaches it directly (we ignore it
    ourselves: psql's cancels a query, and ended our wait, psql with it, in a traceback), and a
    SIGTERM of ours (just passes its own on to us alone) is passed on as `stop_with`, so that
    it stops and we then stop the Postgres we started. SIGTERM's default ended us at once: the
    worker of `./dev worker` ran on, with no one to stop it, and so did Postgres. So did SIGHUP's,
    the terminal closing, which reaches the child too: the child ignores it, and it is passed on
    as SIGTERM is (its default ended the worker amid its jobs, and dagster dev's processes amid
    their ticks), what is left to say going nowhere; ignored already (nohup), it stays so for
    both. The handlers come first, before the child starts: one that came while it started is
    passed on once it is there (installed after, a SIGTERM in between took its default, as before
    they existed)."""
    child: list[subprocess.Popen[bytes]] = []
    asked: list[int] = []

    def pass_on(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            _write_nowhere()
        if child:
            child[0].send_signal(stop_with)
        else:
            asked.append(stop_with)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, pass_on)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, pass_on)

    def as_the_child_takes_them() -> None:
        # Not our ignored SIGINT: Python then installs no KeyboardInterrupt, and dagster dev,
        # which stops itself and its children on SIGINT, would not stop. SIGHUP ignored: we pass
        # it on as the stop its program knows.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    child.append(subprocess.Popen(command, env=env, preexec_fn=as_the_child_takes_them))
    if asked:
        child[0].send_signal(stop_with)
    return child[0].wait()


def made_dagster_home(settings: Settings) -> Path:
    """The folder of the pipeline's Dagster instance (runs, schedules, sensor cursors), made when
    it is not there: under BLOSSOM_DATA_DIR unless DAGSTER_HOME names another. Made before the
    cluster starts: one that cannot be made (under a file, in a folder not ours to write) started
    it first, and was then refused without a word of DAGSTER_HOME."""
    # Absolute, as Dagster wants it, and a relative one read as BLOSSOM_DATA_DIR is (Dagster
    # refused it with a traceback, after the folder had been made).
    named = os.environ.get("DAGSTER_HOME") or str(settings.data_dir / "dagster")
    try:
        expanded = Path(named).expanduser()
    except RuntimeError:  # ~user of no such user (or ~ without HOME): expanduser's only failure
        raise SystemExit(
            f"blossom: DAGSTER_HOME cannot be made ({named}): no home folder for its ~"
        ) from None
    try:
        dagster_home = expanded.resolve()
    except RuntimeError as error:  # a loop of symbolic links
        raise SystemExit(f"blossom: DAGSTER_HOME cannot be made ({named}): {error}") from None
    try:
        dagster_home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"blossom: DAGSTER_HOME cannot be made ({dagster_home}): {error.strerror}") from None
    return dagster_home


# In DAGSTER_HOME: the lock `./dev pipeline` holds while Dagster's UI and daemon run on it.
PIPELINE_UI_LOCK = "pipeline-ui.lock"


def the_only_pipeline_ui(dagster_home: Path) -> IO[str]:
    """The lock of the instance's UI, held (alone) by the caller; refused while another `./dev
    pipeline` holds it. Two on one instance ran its daemon twice, every schedule's and sensor's
    tick twice, each daemon logging that another sent heartbeats; one on the same port as the
    other's ran on without its webserver, which failed to bind after both checked the port."""
    held = open(dagster_home / PIPELINE_UI_LOCK, "a")  # noqa: SIM115 - the caller holds it as long as it runs
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise SystemExit(
            f"blossom: another ./dev pipeline runs on this Dagster instance ({dagster_home}):"
            " stop it first, or give DAGSTER_HOME another folder"
        ) from None
    return held


def pipeline_environment(settings: Settings, dagster_home: Path) -> dict[str, str]:
    """The pipeline's environment on the local database: this one, with its login, the key the
    edge seals Slack tokens with (the weekly digest opens them), and its Dagster instance."""
    # Sets it in os.environ: copied below, after it is there.
    use_development_secrets_key(settings)
    return dict(os.environ) | {
        "BLOSSOM_PIPELINE_DATABASE_URL": os.environ.get("BLOSSOM_PIPELINE_DATABASE_URL")
        or settings.pipeline_database_url,
        "DAGSTER_HOME": str(dagster_home),
    }


def run_pipeline_ui(settings: Settings, dagster_home: Path) -> int:
    """`dagster dev` on pipeline/definitions.py, its webserver on BLOSSOM_DAGSTER_PORT (loopback)."""
    say(f"Dagster on http://127.0.0.1:{settings.dagster_port} (Ctrl-C stops it)")
    command = [sys.executable, "-m", "ops.dagster_dev", "dev", "-m", "pipeline.definitions"]
    command += ["-h", "127.0.0.1", "-p", str(settings.dagster_port)]
    # dagster dev stops itself and its children on SIGINT: a SIGTERM of ours is passed on as one.
    return run_in_foreground(command, pipeline_environment(settings, dagster_home), stop_with=signal.SIGINT)


def agreed(question: str) -> bool:
    """Whether the operator answers yes; no one to answer (stdin closed) is a no, and so is
    Ctrl-C (it ended the recipe in a traceback)."""
    try:
        return input(question).strip().lower() in {"y", "yes"}
    except EOFError:
        return False
    except KeyboardInterrupt:
        print()  # the line the question left open
        return False


def confirm_reset(settings: Settings, assume_yes: bool) -> None:
    """Asked before anything starts; only of the local cluster's database. With DATABASE_URL
    set (as `backup` and `restore` are used), `reset-db` dropped whatever database it named,
    a production one included, after a question that named no server."""
    if settings.external_database_url:
        raise SystemExit(
            f"reset-db: DATABASE_URL is set ({redacted(settings.external_database_url)}); reset-db only"
            " drops the local development database: unset DATABASE_URL, or drop that one yourself"
        )
    if assume_yes:
        return
    question = (
        f"Drop database {DB_NAME!r} of the local cluster ({settings.data_dir}) and build it again"
        " from migrations? [y/N] "
    )
    if not agreed(question):
        raise SystemExit("reset-db: nothing changed")


def require_known_migration(to: str, migrations_dir: Path = MIGRATIONS_DIR) -> None:
    """Refuses, before asking anything, a name that is no migration of this code: `rollback
    0025` asked to confirm, then failed on the name (ids are whole: 0025.slack_digest_claims)."""
    ids = [path.stem for path in migration_files(migrations_dir)]
    if to in ids:
        return
    meant = [name for name in ids if to and name.startswith(f"{to}.")]
    hint = f"; did you mean {meant[0]}?" if len(meant) == 1 else f" (the last is {ids[-1]})" if ids else ""
    raise SystemExit(f"rollback: {to!r} is no migration of this code{hint}")


def confirm_rollback(settings: Settings, to: str, assume_yes: bool) -> None:
    require_known_migration(to)
    if assume_yes:
        return
    where = (
        redacted(settings.external_database_url) if settings.external_database_url else "the local cluster"
    )
    question = (
        f"Roll back every migration after {to} on {where}? What they made is dropped, its data too,"
        " and the API is down until the next migrate. [y/N] "
    )
    if not agreed(question):
        raise SystemExit("rollback: nothing changed")


def reset_db(settings: Settings) -> None:
    url = settings.admin_url
    name = str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or DB_NAME)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    migrate(url)


# The recipes whose processes log in as the app's roles and call its functions or read its
# views. On a database never migrated (a fresh checkout's) the worker retried for ever (`role
# "worker" does not exist`), a pipeline's run failed in pages of Dagster's tracebacks, and
# psql-admin ended in psql's `role "panopticon" does not exist` (after a rollback: a prompt
# with no admin view to read).
NEEDING_THE_API = frozenset({"worker", "pipeline", "pipeline-run", "psql-admin"})


def main() -> None:
    parser = recipe_parser("just", __doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("up", help="bring the whole stack up (the default)")
    sub.add_parser("down", help="stop the stack that up runs on this data folder")
    sub.add_parser("migrate", help="apply migrations and the stateless layer")
    sub.add_parser("worker", help="run the worker alone, in the foreground")
    # Each passes every argument on to the program it runs, its -h and --help too (psql's -h is
    # a host).
    passing_on = {
        "psql": "psql on the database as the admin user",
        "psql-admin": "psql on the database as panopticon (read-only)",
        "pipeline-run": "materialize pipeline assets once",
    }
    for name, summary in passing_on.items():
        sub.add_parser(name, help=summary, add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("pipeline", help="Dagster's UI on the pipeline (dagster dev)")
    reset = sub.add_parser("reset-db", help="drop the database and migrate it from scratch")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    back = sub.add_parser("rollback", help="roll back the migrations applied after one")
    back.add_argument(
        "to", metavar="MIGRATION", help="the last migration to keep (e.g. 0020.users_last_seen)"
    )
    back.add_argument("--yes", action="store_true", help="do not ask")
    # psql's and pipeline-run's own options (-c, --day …) are not ours: they go on as they are.
    args, psql_options = parser.parse_known_args()
    if psql_options and args.command not in passing_on:
        # The recipe's own usage: the parser's own was that of every recipe here at once.
        recipe = sub.choices[args.command] if args.command else parser
        recipe.error(f"unrecognized arguments: {' '.join(psql_options)}")
    pipeline_assets: list[str] = []
    if args.command == "pipeline-run":
        # Read here, before the local cluster starts (its usage, a wrong option, day or asset):
        # read by the pipeline's process alone, they were refused only after the cluster had
        # started, or, on a database never migrated, not at all for the advice to migrate it first.
        pipeline_assets = read_pipeline_arguments([*psql_options, *args.args]).assets
    if args.command in ("pipeline", "pipeline-run"):
        # The settings the definitions refuse as they load, and those the assets named need,
        # before anything starts: `pipeline` started the cluster and Dagster, whose UI served a
        # code location that failed to load (no schedule running), and `pipeline-run` started
        # the cluster before its run refused. Read without Dagster, which only the programs
        # started below load; DAGSTER_HOME is made below (made_dagster_home).
        refuse_wrong_pipeline_settings(args.command, check_home=False, assets=pipeline_assets)
    settings = Settings.from_env()

    try:
        if args.command in (None, "up"):
            raise SystemExit(up(settings))
        if args.command == "down":
            raise SystemExit(down(settings))
        if args.command == "reset-db":
            confirm_reset(settings, args.yes)
        if args.command == "rollback":
            confirm_rollback(settings, args.to, args.yes)
        if args.command == "pipeline" and not _port_free(settings.dagster_port):
            # dagster dev ran on without its webserver, which had failed to bind: no UI, one line
            # among its others saying why.
            raise SystemExit(
                f"blossom: port {settings.dagster_port} (BLOSSOM_DAGSTER_PORT, Dagster's) is in use"
                f" (`ss -ltnp 'sport = :{settings.dagster_port}'` names what holds it)"
            )
        dagster_home = made_dagster_home(settings) if args.command in ("pipeline", "pipeline-run") else None
        if dagster_home is not None:
            with pipeline_settings.wrong_setting_refused(args.command):
                pipeline_settings.check_instance_file(dagster_home)
                pipeline_settings.made_instance_file(dagster_home)
        # Held until the recipe ends; dagster dev, a child, gets no copy of it (Popen closes our files).
        only_ui = (
            the_only_pipeline_ui(dagster_home)
            if args.command == "pipeline" and dagster_home
            else nullcontext()
        )
        with only_ui, database(settings):
            if args.command in NEEDING_THE_API and not stateless_applied(settings.admin_url):
                raise SystemExit(
                    f"blossom: {args.command}: the database has no API (never migrated, or rolled"
                    " back): run ./dev migrate first (./dev up migrates too)"
                )
            if args.command == "worker":
                raise SystemExit(run_worker(settings))
            if args.command == "pipeline":
                assert dagster_home is not None
                raise SystemExit(run_pipeline_ui(settings, dagster_home))
            if args.command == "pipeline-run":
                assert dagster_home is not None
                command = [sys.executable, "-m", "pipeline", *psql_options, *args.args]
                raise SystemExit(run_in_foreground(command, pipeline_environment(settings, dagster_home)))
            if args.command == "migrate":
                migrate(settings.admin_url)
            elif args.command == "reset-db":
                reset_db(settings)
            elif args.command == "rollback":
                report_rollback(rollback(settings.admin_url, args.to), args.to)
                print("rollback: `./dev migrate` applies them again")
            elif args.command in ("psql", "psql-admin"):
                # psql-admin's sessions start read-only whatever panopticon set for itself.
                url = (
                    settings.admin_url
                    if args.command == "psql"
                    else starting_read_only(settings.panopticon_url, os.environ)
                )
                connection, psql_env = psql_connection(url, os.environ)
                psql = [str(PG_BIN / "psql"), *connection, *psql_options, *args.args]
                raise SystemExit(run_in_foreground(psql, psql_env))
    # ClusterError and SqlFileError among them; OSError: a data folder we may not write in, say.
    except (RuntimeError, OSError, psycopg.Error) as error:
        raise SystemExit(f"blossom: {connection_failure(settings.admin_url, error) or error}") from None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        main()
    except KeyboardInterrupt:
        # A Ctrl-C before a recipe's program starts (waiting for another recipe to start
        # Postgres) ended it in a traceback; what was started is stopped on the way out
        # (database()). Once the program runs we ignore SIGINT.
        print("blossom: interrupted", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
