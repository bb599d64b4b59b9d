"""Starting PostgREST, the edge, the worker and MailDev as child processes; shared by `just up`
and the tests."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg

from blossom_db.settings import with_connection_defaults
from edge.config import cookie_secure_from_env, parse_allowed_origins, session_cookie_name
from ops.scratch import free_port
from ops.settings import ROOT, with_user

POSTGREST_CONF = ROOT / "postgrest.conf"
POSTGREST_BIN = ROOT / ".tools" / "postgrest-12.0.2" / "postgrest"
# ./dev installs MailDev from ops/maildev/package-lock.json (npm ci) into .tools/maildev.
MAILDEV_BIN = ROOT / ".tools" / "maildev" / "node_modules" / ".bin" / "maildev"


@dataclass(frozen=True)
class Endpoints:
    """Where the stack's services listen and how they reach the database."""

    postgrest_port: int
    postgrest_admin_port: int
    edge_port: int
    authenticator_url: str
    edge_database_url: str

    @classmethod
    def on_free_ports(cls, database_url: str) -> Endpoints:
        """Services for the database at `database_url` (an admin URL), each on a free port."""
        return cls(
            postgrest_port=free_port(),
            postgrest_admin_port=free_port(),
            edge_port=free_port(),
            authenticator_url=with_user(database_url, "authenticator"),
            edge_database_url=with_user(database_url, "edge"),
        )

    @property
    def postgrest_url(self) -> str:
        return f"http://127.0.0.1:{self.postgrest_port}"

    @property
    def postgrest_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.postgrest_admin_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"


def postgrest_binary() -> str:
    if POSTGREST_BIN.exists():
        return str(POSTGREST_BIN)
    found = shutil.which("postgrest")
    if not found:
        raise SystemExit("PostgREST is not installed: run ./dev (it installs it into .tools/)")
    return found


Environment = Mapping[str, str]
# Where a child's output goes: a file (appended to), subprocess.PIPE, or None for ours.
LogTo = Path | int | None


def cookie_secure(environ: Environment) -> bool:
    """Local stacks serve plain HTTP on loopback: no Secure cookie unless asked for
    (BLOSSOM_COOKIE_INSECURE set to 0 or empty)."""
    return cookie_secure_from_env(environ, unset="1")


def auth_env(endpoints: Endpoints, environ: Environment) -> dict[str, str]:
    """Settings the edge and the database pre-request must agree on (postgrest.conf reads them
    as app.settings.*). Local defaults: the edge's own origin, a cookie without Secure (plain
    HTTP on loopback); production sets BLOSSOM_ALLOWED_ORIGINS and leaves Secure on."""
    local_origins = f"http://127.0.0.1:{endpoints.edge_port} http://localhost:{endpoints.edge_port}"
    # Checked here as the edge will (a name given with a __Host- or __Secure- prefix); both add
    # the __Host- prefix.
    session_cookie_name(environ.get("BLOSSOM_COOKIE_NAME", ""), secure=cookie_secure(environ))
    # And an origin no browser sends (a path's slash, a capital, a default port): nothing matched it.
    parse_allowed_origins(environ.get("BLOSSOM_ALLOWED_ORIGINS", ""))
    return {
        "BLOSSOM_COOKIE_NAME": environ.get("BLOSSOM_COOKIE_NAME") or "blossom_session",
        "BLOSSOM_COOKIE_INSECURE": "" if cookie_secure(environ) else "1",
        "BLOSSOM_ALLOWED_ORIGINS": environ.get("BLOSSOM_ALLOWED_ORIGINS") or local_origins,
    }


def postgrest_env(endpoints: Endpoints, environ: Environment = os.environ) -> dict[str, str]:
    """postgrest.conf holds the settings; the environment says where, as PostgREST documents."""
    return {
        # PostgREST connects with the string alone: the keepalives of every connection of ours.
        "PGRST_DB_URI": with_connection_defaults(endpoints.authenticator_url),
        "PGRST_SERVER_PORT": str(endpoints.postgrest_port),
        "PGRST_ADMIN_SERVER_PORT": str(endpoints.postgrest_admin_port),
        **auth_env(endpoints, environ),
    }


# The AI provider's settings (services/ai.py), the edge's alone: passed through as they are set.
AI_VARIABLES = (
    "OPENAI_API_KEY",
    "BLOSSOM_OPENAI_BASE_URL",
    "BLOSSOM_OPENAI_MODEL",
    "BLOSSOM_OPENAI_TIMEOUT_SECONDS",
)


def edge_env(endpoints: Endpoints, environ: Environment = os.environ) -> dict[str, str]:
    return {
        "BLOSSOM_POSTGREST_URL": endpoints.postgrest_url,
        "BLOSSOM_POSTGREST_ADMIN_URL": endpoints.postgrest_admin_url,
        "BLOSSOM_EDGE_DATABASE_URL": endpoints.edge_database_url,
        **auth_env(endpoints, environ),
        "BLOSSOM_TRUSTED_PROXIES": environ.get("BLOSSOM_TRUSTED_PROXIES", ""),
        **{name: environ.get(name, "") for name in AI_VARIABLES},
        "BLOSSOM_EDGE_STOP_DELAY": environ.get("BLOSSOM_EDGE_STOP_DELAY", ""),
        "BLOSSOM_EDGE_GRACE_SECONDS": environ.get("BLOSSOM_EDGE_GRACE_SECONDS", ""),
        "BLOSSOM_METRICS_NETWORKS": environ.get("BLOSSOM_METRICS_NETWORKS", ""),
    }


def start_postgrest(
    endpoints: Endpoints, log: LogTo = None, environ: Environment = os.environ, *, ends_with_us: bool = False
) -> subprocess.Popen[bytes]:
    return _spawn(
        [postgrest_binary(), str(POSTGREST_CONF)],
        dict(environ) | postgrest_env(endpoints, environ),
        log,
        ends_with_us=ends_with_us,
    )


def start_edge(
    endpoints: Endpoints, log: LogTo = None, environ: Environment = os.environ, *, ends_with_us: bool = False
) -> subprocess.Popen[bytes]:
    # edge/server.py sets uvicorn's limits and timeouts; the same command runs in the image.
    command = [sys.executable, "-m", "edge", "--host", "127.0.0.1", "--port", str(endpoints.edge_port)]
    return _spawn(command, dict(environ) | edge_env(endpoints, environ), log, ends_with_us=ends_with_us)


def worker_env(database_url: str, smtp_url: str, app_url: str) -> dict[str, str]:
    return {
        "BLOSSOM_WORKER_DATABASE_URL": database_url,
        "BLOSSOM_SMTP_URL": smtp_url,
        "BLOSSOM_APP_URL": app_url,
    }


def start_worker(
    settings: Environment,
    admin_url: str,
    log: LogTo = None,
    environ: Environment = os.environ,
    *,
    ends_with_us: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m worker` with these `settings` (worker_env, and any BLOSSOM_WORKER_* or
    BLOSSOM_MAIL_*) over `environ`; returned once it has registered with the job queue of the
    database at `admin_url`. RuntimeError when it cannot be (the database out of reach among the
    reasons: `up` tries again later); whatever ends the wait (Ctrl-C) stops it, else it ran on,
    in a session of its own, with no one to stop it."""
    started = None
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            since = conn.execute("select now()").fetchone()
            started = _spawn(
                [sys.executable, "-m", "worker"],
                dict(environ) | dict(settings),
                log,
                ends_with_us=ends_with_us,
            )
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                if started.poll() is not None:
                    said = _last_line(started)
                    raise RuntimeError(
                        f"the worker exited with {started.returncode} before it was ready"
                        + (f": {said}" if said else "")
                    )
                registered = conn.execute(
                    "select exists (select from jobs.procrastinate_workers where last_heartbeat >= %s)", since
                ).fetchone()
                if registered and registered[0]:
                    process, started = started, None
                    return process
                time.sleep(0.05)
        raise RuntimeError("the worker did not register with the job queue within 30 s")
    except psycopg.Error as error:
        raise RuntimeError(f"the worker's start could not be watched: {error}") from error
    finally:
        if started is not None:
            stop(started)


def _last_line(exited: subprocess.Popen[bytes]) -> str:
    """The last line a process that has exited wrote into its pipe, its reason for stopping
    (none when its output went to a log): nothing reads the pipe until the process is ready."""
    if exited.stdout is None:
        return ""
    with exited.stdout as output:
        lines = output.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def maildev_binary() -> str:
    if not MAILDEV_BIN.exists():
        raise SystemExit("MailDev is not installed: run ./dev (it installs it into .tools/)")
    return str(MAILDEV_BIN)


def start_maildev(
    smtp_port: int,
    mailbox_port: int,
    mail_directory: Path,
    log: LogTo = None,
    environ: Environment = os.environ,
    *,
    ends_with_us: bool = False,
) -> subprocess.Popen[bytes]:
    """MailDev on loopback: SMTP on `smtp_port`, its web mailbox and REST API (GET /api/email)
    on `mailbox_port`, the messages' files in `mail_directory`. It never relays mail."""
    command = [
        maildev_binary(),
        "--ip", "127.0.0.1", "--smtp", str(smtp_port),
        "--web-ip", "127.0.0.1", "--web", str(mailbox_port),
        "--mail-directory", str(mail_directory),
    ]  # fmt: skip
    return _spawn(command, dict(environ), log, ends_with_us=ends_with_us)


# prctl(2)'s option that names the signal a process gets when the thread that started it ends.
PR_SET_PDEATHSIG = 1


def _ending_with(starter: int) -> Callable[[], None]:
    """For preexec_fn: SIGTERM to the child when the thread that starts it ends, however it ends
    (SIGKILL too, which no cleanup of ours outlives): the kernel's parent-death signal, which
    exec keeps. prctl is looked up here, in the parent, so that the child only calls it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def end_with_the_starter() -> None:
        # Until exec the child has the starter's handlers: `up`'s SIGTERM handler would take the
        # signal and the program, once exec had put the default back, would run on.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        # A starter gone before the signal was set: the parent is another process by then.
        if os.getppid() != starter:
            os._exit(1)

    return end_with_the_starter


def _spawn(
    command: list[str], env: dict[str, str], log: LogTo, *, ends_with_us: bool = False
) -> subprocess.Popen[bytes]:
    """`command` in a session of its own: a terminal's Ctrl-C reaches us alone, and we stop
    children in order. `ends_with_us`: it gets SIGTERM when the thread that starts it ends,
    however that ends (`up`, which starts its processes from its main thread, killed with
    SIGKILL); without it, a child outlives the thread that started it."""
    preexec = _ending_with(os.getpid()) if ends_with_us else None

    def popen(output: int | IO[bytes] | None) -> subprocess.Popen[bytes]:
        errors = None if output is None else subprocess.STDOUT
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=errors,
            start_new_session=True, preexec_fn=preexec,
        )  # fmt: skip

    if log is None or isinstance(log, int):
        return popen(log)
    with open(log, "ab") as output:  # the child keeps its own copy of the descriptor
        return popen(output)


def wait_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    """Wait until `url` answers 200; fail early when the process serving it has exited."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{process_name(process)} exited with {process.returncode} before {url} was ready"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s: {last_error}")


def process_name(process: subprocess.Popen[bytes]) -> str:
    args = process.args
    first = args[0] if isinstance(args, list | tuple) else args
    return os.path.basename(str(first))


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class running_services:
    """PostgREST and the edge, started at once; both ready on entry (the edge answering
    `edge_ready`), both stopped on exit, the edge first. Their output goes to postgrest.log and
    edge.log in `logs`. `settings` are environment variables for both, over this process's own."""

    def __init__(
        self,
        endpoints: Endpoints,
        logs: Path,
        edge_ready: str = "/healthz",
        settings: Environment | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.logs = logs
        self.edge_ready = edge_ready
        self.environ = dict(os.environ) | dict(settings or {})

    def __enter__(self) -> running_services:
        postgrest = start_postgrest(self.endpoints, self.logs / "postgrest.log", self.environ)
        edge = None
        try:
            # Both start at once: the edge needs PostgREST only for requests, and /readyz says so.
            edge = start_edge(self.endpoints, self.logs / "edge.log", self.environ)
            wait_http(f"{self.endpoints.postgrest_admin_url}/ready", postgrest)
            wait_http(f"{self.endpoints.edge_url}{self.edge_ready}", edge)
        except BaseException:
            for started in (edge, postgrest):
                if started is not None:
                    stop(started)
            raise
        self.postgrest, self.edge = postgrest, edge
        return self

    def __exit__(self, *_exc: object) -> None:
        stop(self.edge)
        stop(self.postgrest)
