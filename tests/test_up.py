"""`just up` as a person runs it: up, ready, Ctrl-C (or SIGTERM) leaves nothing behind, data survives."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_httpserver import HTTPServer

from ops.cluster import LocalCluster
from ops.scratch import free_port, throwaway_folder
from ops.settings import ROOT, Settings
from ops.stack import database, local_cluster
from tests.support.auth_client import COOKIE_NAME, post, session_cookie, signup
from tests.support.http import port_open, request
from tests.support.local_data import copy_data_folder
from tests.support.orgs_db import make_user
from tests.support.signals import ctrl_c_as_on_a_terminal
from tests.support.worker import eventually

# The worker's poll under `up` in these tests (a commit wakes it at once; the poll finds only
# what a lost wake-up left).
WORKER_POLL_SECONDS = 30.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /var/tmp: when we are root, Postgres runs as `postgres` and must reach the folder.
    with tempfile.TemporaryDirectory(prefix="blossom-up-", dir=throwaway_folder()) as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@pytest.fixture
def migrated(data_dir: Path, migrated_data_folder: Path) -> None:
    """data_dir with its cluster made and its database migrated, as after a first `up`: for the
    tests of what happens once there is one (a stop, a recipe that needs the migrated API)."""
    copy_data_folder(migrated_data_folder, data_dir)


class Up:
    """`up` in the background, its output collected as it comes: through a pipe, run by just as
    `./dev up` runs it, in a process group of its own, as a service manager starts it; or
    `python -m ops.stack up` (or `./dev up` itself, `through_dev`) on a terminal of its own (a
    pseudo-terminal, whose closing is the hangup a closed terminal window makes, and to which a
    Ctrl-C can be typed)."""

    def __init__(self, env: dict[str, str], on_terminal: bool = False, through_dev: bool = False) -> None:
        self.lines: list[str] = []
        self.terminal: int | None = None
        self.hang_up_now = threading.Event()
        command = [str(ROOT / "dev"), "up"] if through_dev else [sys.executable, "-m", "ops.stack", "up"]
        if on_terminal:
            self.terminal, device = pty.openpty()
            device_name = os.ttyname(device)

            def own_terminal() -> None:
                # A session of its own, with the pseudo-terminal as its controlling terminal.
                os.setsid()
                fcntl.ioctl(os.open(device_name, os.O_RDWR), termios.TIOCSCTTY, 0)

            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=device, stdout=device, stderr=device,
                preexec_fn=own_terminal,
            )  # fmt: skip
            os.close(device)
            self.reader = threading.Thread(target=self._read_terminal, daemon=True)
        else:
            just = [str(Path(sys.executable).with_name("just")), "--justfile", str(ROOT / "justfile")]
            self.process = subprocess.Popen(
                [*just, "--working-directory", str(ROOT), "up"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.decode("utf-8", "replace"))

    def _read_terminal(self) -> None:
        assert self.terminal is not None
        pending = b""
        while not self.hang_up_now.is_set():
            if not select.select([self.terminal], [], [], 0.1)[0]:
                continue
            try:
                pending += os.read(self.terminal, 65536)
            except OSError:  # no process has the terminal open any more
                break
            *complete, pending = pending.split(b"\n")
            self.lines += [line.decode("utf-8", "replace").rstrip("\r") + "\n" for line in complete]
        # The reader closes the terminal, so that no read of it is under way as it closes.
        os.close(self.terminal)

    def hang_up(self) -> None:
        """Closes the terminal, as closing its window does; `up` must stop the stack and exit 0."""
        self.hang_up_now.set()
        self.reader.join(timeout=10)
        self.process.wait(timeout=60)
        assert self.process.returncode == 0, self.output

    def interrupt(self) -> int:
        """Types Ctrl-C on the terminal, which sends SIGINT to its whole foreground process group
        (under `./dev up`: just, its shell and `up`); the exit status once everything stopped."""
        assert self.terminal is not None
        os.write(self.terminal, b"\x03")
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.process.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_up(self, edge_url: str, timeout: float = 90) -> None:
        """Up means: the URLs are printed (the last thing `up` does) and /readyz says 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output
            if (
                re.search(r"^  database ", self.output, re.MULTILINE)
                and request(edge_url, "GET", "/readyz", timeout=2).status == 200
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"the stack did not come up:\n{self.output}")

    def stop_group(self, signum: signal.Signals) -> str:
        """`kill -SIGNAL -- -PGID`, as a service manager stops a service: `up` stops the stack and
        exits 0, and just, stopped by the signal too, tells so by its status (128 and the signal)."""
        os.killpg(self.process.pid, signum)
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        assert self.process.returncode == 128 + signum, self.output
        return self.output


def _assert_nothing_left(ports: dict[str, int], data_dir: Path) -> None:
    for name, port in ports.items():
        assert not port_open(port), f"{name} still listening on {port} after stopping"
    assert not (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists(), "Postgres stopped"


def up_environment(data_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    """`just up`'s environment on free ports of its own; and those ports."""
    ports = {name: free_port() for name in ("edge", "postgrest", "admin", "pg", "smtp", "mailbox", "metrics")}
    env = os.environ | {
        "BLOSSOM_DATA_DIR": str(data_dir),
        "BLOSSOM_EDGE_PORT": str(ports["edge"]),
        "BLOSSOM_POSTGREST_PORT": str(ports["postgrest"]),
        "BLOSSOM_POSTGREST_ADMIN_PORT": str(ports["admin"]),
        "BLOSSOM_PG_PORT": str(ports["pg"]),
        "BLOSSOM_SMTP_PORT": str(ports["smtp"]),
        "BLOSSOM_MAILBOX_PORT": str(ports["mailbox"]),
        "BLOSSOM_WORKER_METRICS_PORT": str(ports["metrics"]),
        # Far longer than a woken worker takes, so that a mail the poll found is told apart.
        "BLOSSOM_WORKER_POLL_SECONDS": str(WORKER_POLL_SECONDS),
    }
    for name in ("DATABASE_URL", "BLOSSOM_SMTP_URL", "BLOSSOM_APP_URL"):
        env.pop(name, None)
    return env, ports


def test_up_serves_delivers_mail_stops_cleanly_and_keeps_data(data_dir: Path) -> None:
    env, ports = up_environment(data_dir)
    edge_url = f"http://127.0.0.1:{ports['edge']}"
    database_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/blossom"

    first = Up(env)
    first.wait_until_up(edge_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("create table public.kept (note text)")
        conn.execute("insert into public.kept values ('written before a restart')")
    output = first.stop_group(signal.SIGTERM)
    _assert_stopped_before_postgres(output, signal.SIGTERM)
    assert edge_url in output
    assert f"127.0.0.1:{ports['postgrest']}" in output
    assert database_url in output
    assert f"MailDev    http://127.0.0.1:{ports['mailbox']} (SMTP on 127.0.0.1:{ports['smtp']})" in output
    assert f"worker     mail through smtp://127.0.0.1:{ports['smtp']}" in output
    _assert_nothing_left(ports, data_dir)

    second = Up(env, on_terminal=True)
    try:
        second.wait_until_up(edge_url)
        with psycopg.connect(database_url) as conn:
            assert conn.execute("select note from public.kept").fetchall() == [("written before a restart",)]
        _mail_flows_through_maildev(env, ports)
        _kill_postgrest_and_see_it_back(second, edge_url)
        _kill_postgres_and_see_it_back(second, edge_url, data_dir)
    finally:
        # The terminal closed: `up` stops the stack, which never hears the hangup itself (each
        # process in a session of its own), as on Ctrl-C, though nothing can be written to the
        # terminal any more. It ran on; then the first write failed, and it left all but the
        # first process running, Postgres too; and the next `up` failed.
        second.hang_up()
    output = second.output
    _assert_nothing_left(ports, data_dir)
    # Every process's lines, each with its name in front; `up`'s own notes as `blossom`.
    for name in ("postgrest", "edge", "worker", "maildev", "postgres"):
        assert re.search(rf"^{name} *\| .", output, re.MULTILINE), f"no line of {name}:\n{output}"
    assert re.search(r'^edge +\| \{"time": ', output, re.MULTILINE), "the edge writes JSON lines"
    assert len(re.findall(r"^blossom  \| postgrest started", output, re.MULTILINE)) == 2


def _down(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`./dev down` from another terminal, with the settings `up` was started with."""
    just = [str(Path(sys.executable).with_name("just")), "--justfile", str(ROOT / "justfile")]
    return subprocess.run(
        [*just, "--working-directory", str(ROOT), "down"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.usefixtures("migrated")
def test_down_stops_the_stack_that_runs_on_in_the_background(data_dir: Path) -> None:
    """`./dev up` under nohup (or in a terminal since closed to it) runs on, and nothing but a
    signal sent by hand to a process found with ps stopped it. `./dev down` stops it as SIGTERM
    does, in order, and returns once everything has stopped."""
    env, ports = up_environment(data_dir)
    stack = Up(env)
    try:
        stack.wait_until_up(f"http://127.0.0.1:{ports['edge']}")
        stopped = _down(env)
        # Once down returns, `up` has stopped everything and exited; just, its parent, ends with it.
        status = stack.process.wait(timeout=10)
    finally:
        if stack.process.poll() is None:
            stack.stop_group(signal.SIGTERM)
    assert stopped.returncode == 0, stopped.stderr
    assert status == 0, stack.output
    stack.reader.join(timeout=10)
    assert stack.process.stdout is not None
    stack.process.stdout.close()
    _assert_stopped_before_postgres(stack.output, signal.SIGTERM)
    _assert_nothing_left(ports, data_dir)
    assert "blossom: the stack is stopped" in stopped.stderr
    again = _down(env)
    assert again.returncode == 0, again.stderr
    assert f"blossom: no `./dev up` runs on {data_dir}" in again.stderr


def test_down_leaves_a_process_that_took_the_pid_up_had_alone(data_dir: Path) -> None:
    """`up` killed with SIGKILL (or the machine restarted) leaves its PID in the data folder,
    which another process may have by then: down stops only an `up` of this checkout."""
    env, _ = up_environment(data_dir)
    other = subprocess.Popen(["sleep", "60"], cwd=ROOT)
    try:
        (data_dir / "up.pid").write_text(f"{other.pid}\n")
        said = _down(env)
        assert said.returncode == 0, said.stderr
        assert f"blossom: no `./dev up` runs on {data_dir}" in said.stderr
        assert other.poll() is None, "the other process was left alone"
        assert not (data_dir / "up.pid").exists()
    finally:
        other.kill()
        other.wait()


def _processes_started_for(data_dir: Path) -> dict[int, str]:
    """The processes whose environment names `data_dir` as BLOSSOM_DATA_DIR, by PID, with the
    name of their program: an `up` on it, whatever it started (each inherits the variable),
    wherever it was moved to on its parent's death, and the Postgres it started. Not this test's
    own process, whose environment has no such variable."""
    wanted = f"BLOSSOM_DATA_DIR={data_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found[int(entry.name)] = Path(os.readlink(entry / "exe")).name
    return found


@pytest.mark.usefixtures("migrated")
def test_up_killed_with_sigkill_leaves_none_of_its_processes_running(data_dir: Path) -> None:
    """`up` killed with SIGKILL (`kill -9`, the kernel short of memory) stops nothing itself: its
    processes, each in a session of its own so that a Ctrl-C reaches `up` alone, ran on holding
    the stack's ports, and the next `up` refused to start until they were found and stopped by
    hand. Each is now sent SIGTERM as `up` ends, and stops. Postgres runs on (pg_ctl started it,
    for every recipe of the data folder), until the next recipe on the folder ends."""
    env, ports = up_environment(data_dir)
    stack = Up(env)
    cluster = LocalCluster(data_dir / "postgres", ports["pg"])
    try:
        stack.wait_until_up(f"http://127.0.0.1:{ports['edge']}")
        os.kill(int((data_dir / "up.pid").read_text()), signal.SIGKILL)
        stack.process.wait(timeout=30)  # just, whose recipe it was, ends with it
        stack.reader.join(timeout=10)
        assert stack.process.stdout is not None
        stack.process.stdout.close()
        services = {name: port for name, port in ports.items() if name != "pg"}

        def left_running() -> list[str]:
            # Both, as an ending process lets its environment go (its memory) before its sockets:
            # a worker no longer found by its environment was seen still holding its port.
            programs = [name for name in _processes_started_for(data_dir).values() if name != "postgres"]
            return programs + [f"{name} port" for name, port in services.items() if port_open(port)]

        eventually(
            lambda: not left_running(),
            timeout=30,
            what="every process of the stack but Postgres stopped, and every port of theirs let go",
        )
        assert cluster.running()
    finally:
        cluster.stop()  # before any process is killed: a postmaster killed so leaves its memory
        for pid in _processes_started_for(data_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# How a terminal is told to colour (just's `error:` is bold red) or to mark pastes (psql's
# prompt), taken out to read the words.
TERMINAL_CONTROLS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.usefixtures("migrated")
def test_ctrl_c_of_dev_up_on_a_terminal_stops_it_cleanly(data_dir: Path) -> None:
    """Ctrl-C of `./dev up` reaches just too (the whole foreground process group gets it), which
    recorded it and, once `up` had stopped the stack and exited 0, exited 130 itself, saying
    `error: interrupted by SIGINT`: a clean stop looked like a failure, to a person and to a
    script. The recipe is marked [continue]: just trusts `up`'s own status."""
    env, ports = up_environment(data_dir)
    stack = Up(env, on_terminal=True, through_dev=True)
    try:
        stack.wait_until_up(f"http://127.0.0.1:{ports['edge']}")
        status = stack.interrupt()
    finally:
        if stack.process.poll() is None:
            stack.hang_up()
    # The terminal echoes the Ctrl-C as `^C`, in front of what `up` says next.
    output = TERMINAL_CONTROLS.sub("", stack.output).replace("^C", "")
    assert not re.search(r"^error", output, re.MULTILINE), output
    assert status == 0, output
    _assert_stopped_before_postgres(output, signal.SIGINT)
    _assert_nothing_left(ports, data_dir)


def test_sigterm_while_postgres_starts_leaves_no_postgres_running(data_dir: Path) -> None:
    """A SIGTERM to `up`'s process group (a service manager's stop; a closed terminal's SIGHUP
    likewise) while `up` started the local cluster ended pg_ctl's wait, not the server it had
    started in a session of its own; and since nothing had marked the cluster as started by a
    recipe yet, no one stopped it: it ran on after `up` had exited, and every recipe after took
    it for another's and left it running. (A Ctrl-C pg_ctl passes on to the server itself.) The
    start is waited out, then stopped with the rest."""
    env, ports = up_environment(data_dir)
    cluster = LocalCluster(data_dir / "postgres", ports["pg"])
    cluster.init()  # made already: what remains to start is pg_ctl's alone
    stack = Up(env)
    try:
        deadline = time.monotonic() + 60
        while not cluster.pid_file.exists():
            assert stack.process.poll() is None, stack.output
            assert time.monotonic() < deadline, stack.output
            time.sleep(0.01)
        stack.stop_group(signal.SIGTERM)
    finally:
        running = cluster.running()
        cluster.stop()
    assert not running, f"Postgres ran on after up had stopped:\n{stack.output}"


def test_dev_up_that_fails_still_fails_with_its_message(data_dir: Path) -> None:
    """What makes a clean Ctrl-C exit 0 leaves a failure one: `./dev up` with a port of the stack
    taken exits non-zero, saying why."""
    env, ports = up_environment(data_dir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["edge"]))
        taken.listen()
        ran = subprocess.run(
            [str(ROOT / "dev"), "up"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert ran.returncode == 1, ran.stderr
    assert f"blossom: port {ports['edge']} (BLOSSOM_EDGE_PORT, the edge's) is in use" in ran.stderr
    assert "error: recipe `up` failed" in ran.stderr, ran.stderr


def _assert_stopped_before_postgres(output: str, signum: signal.Signals) -> None:
    """Every process is stopped, in order, while Postgres still serves them: a worker whose
    database went first could not put back what it had under way."""
    order = [
        re.search(pattern, output, re.MULTILINE)
        for pattern in (
            rf"^blossom: {signum.name}: stopping$",
            r"^blossom  \| worker stopped$",
            r"^blossom  \| edge stopped$",
            r"^blossom  \| postgrest stopped$",
            r"^blossom  \| maildev stopped$",
            r"^blossom: stopping Postgres$",
        )
    ]
    assert all(order), output
    positions = [found.start() for found in order if found]
    assert positions == sorted(positions), output


def _kill_postgrest_and_see_it_back(stack: Up, edge_url: str) -> None:
    """SIGKILL to PostgREST under `up`: /readyz is 200 again within 5 s, and requests are served."""
    (pid,) = re.findall(r"^blossom  \| postgrest started \(pid (\d+)\)$", stack.output, re.MULTILINE)
    os.kill(int(pid), signal.SIGKILL)
    killed = time.monotonic()
    while request(edge_url, "GET", "/readyz", timeout=2).status == 200:
        assert time.monotonic() - killed < 2, "the edge never saw PostgREST go"
        time.sleep(0.02)
    while request(edge_url, "GET", "/readyz", timeout=2).status != 200:
        assert time.monotonic() - killed < 5, f"/readyz not 200 within 5 s:\n{stack.output}"
        time.sleep(0.05)
    assert f"postgrest exited with status -{int(signal.SIGKILL)}; restarting in 0.5 s" in stack.output
    account = signup(edge_url)
    assert request(edge_url, "POST", "/rpc/me", json_body={}, headers=account.cookie).status == 200


def _kill_postgres_and_see_it_back(stack: Up, edge_url: str, data_dir: Path) -> None:
    """SIGKILL to Postgres under `up`: it went unnoticed (Postgres is no child of `up`), and
    /readyz answered 503 until a recipe that uses the cluster happened to start it again."""
    pid = int((data_dir / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    while "blossom  | postgres is not running; starting it" not in stack.output:
        assert time.monotonic() - killed < 10, f"up never saw Postgres go:\n{stack.output}"
        time.sleep(0.05)
    while request(edge_url, "GET", "/readyz", timeout=2).status != 200:
        assert time.monotonic() - killed < 30, f"/readyz not 200 within 30 s:\n{stack.output}"
        time.sleep(0.1)
    account = signup(edge_url)
    assert request(edge_url, "POST", "/rpc/me", json_body={}, headers=account.cookie).status == 200


class MailDev:
    """MailDev's REST API, as `just mail` reads it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.seen: set[str] = set()

    def link(self, to: str, page: str, timeout: float = 10.0) -> tuple[str, float]:
        """The token of the newest mail to `to` whose link opens `page`, and when it was seen."""
        pattern = re.compile(re.escape(page) + r"\?token=([A-Za-z0-9_-]{43})")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(request(self.url, "GET", "/api/email").json()):
                if to in [entry["address"] for entry in message["to"]]:
                    found = pattern.search(message["text"])
                    if found and found.group(1) not in self.seen:
                        self.seen.add(found.group(1))
                        return found.group(1), time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"no mail to {to} with a {page} link within {timeout:.0f} s")


def _mail_flows_through_maildev(env: dict[str, str], ports: dict[str, int]) -> None:
    """Sign-up, reset and invitation mail under `up`, each in MailDev and its link working; then
    no token left in the outbox, and `just mail` shows them."""
    edge_url = f"http://127.0.0.1:{ports['edge']}"
    database_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/blossom"
    mailbox = MailDev(ports["mailbox"])
    # Sign-up: the verification mail is in MailDev well before the worker's poll would have
    # found it (the commit wakes the worker), and its link verifies.
    owner = signup(edge_url, "owner@example.com")
    signed_up = time.monotonic()
    token, seen = mailbox.link("owner@example.com", "/verify-email", timeout=WORKER_POLL_SECONDS)
    assert seen - signed_up < WORKER_POLL_SECONDS / 3, f"the verification mail took {seen - signed_up:.2f} s"
    assert post(edge_url, "/auth/verify-email", {"token": token}).status == 204
    me = request(edge_url, "GET", "/auth/session", headers=owner.cookie).json()
    assert me["user"]["email_verified"] is True

    # Reset: the mailed link's token is what /auth/password-reset/confirm accepts.
    assert post(edge_url, "/auth/password-reset", {"email": "owner@example.com"}).status == 202
    token, _ = mailbox.link("owner@example.com", "/reset-password")
    body = {"token": token, "new_password": "a brand new secret"}
    assert post(edge_url, "/auth/password-reset/confirm", body).status == 204
    signed_in = post(
        edge_url, "/auth/login", {"email": "owner@example.com", "password": "a brand new secret"}
    )
    assert signed_in.status == 200

    # Invitation: the mailed token is what accept_invitation accepts.
    rpc = {"Origin": edge_url, "Cookie": f"{COOKIE_NAME}={session_cookie(signed_in)}"}
    org = request(edge_url, "POST", "/rpc/create_organization", json_body={"name": "Acme"}, headers=rpc)
    assert org.status == 200, org.body
    invited = request(
        edge_url, "POST", "/rpc/invite_member", headers=rpc,
        json_body={"org_id": org.json()["id"], "email": "guest@example.com", "role": "member"},
    )  # fmt: skip
    assert invited.status == 200, invited.body
    guest = signup(edge_url, "guest@example.com")
    # Its verification mail in first: the acceptance verifies the address, spending that mail's
    # link, and a mail not yet sent then is withdrawn, not delivered.
    mailbox.link("guest@example.com", "/verify-email")
    token, _ = mailbox.link("guest@example.com", "/invitations/accept")
    accepted = request(
        edge_url, "POST", "/rpc/accept_invitation", json_body={"token": token},
        headers={"Origin": edge_url} | guest.cookie,
    )  # fmt: skip
    assert accepted.status == 200, accepted.body
    assert accepted.json()["name"] == "Acme"

    # Once every mail is delivered, no token is left in the outbox.
    def undelivered_and_tokens() -> tuple[int, int]:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "select count(*) filter (where delivered_at is null),"
                " count(*) filter (where payload ? 'token') from app.outbox where topic like 'mail.%'"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    deadline = time.monotonic() + 5
    while undelivered_and_tokens() != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert undelivered_and_tokens() == (0, 0)

    # `just mail` shows them.
    shown = subprocess.run(
        [sys.executable, "-m", "ops.mailbox", "--to", "guest@example.com"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    # Newest first (the guest signed up after the invitation was sent), each with when it came.
    assert shown.index("Confirm your email address") < shown.index("You are invited to join Acme on Blossom")
    assert re.search(r"^   to guest@example\.com  ·  20\d\d-\d\d-\d\dT", shown, re.MULTILINE), shown
    # An address none was sent to is said to be so; the mailbox is not empty.
    none = subprocess.run(
        [sys.executable, "-m", "ops.mailbox", "--to", "nobody@example.com"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert none.startswith("mail: none of the "), none
    assert none.rstrip().endswith(" to nobody@example.com"), none


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_mail_limit_that_is_no_count_is_refused(limit: str) -> None:
    """`./dev mail --limit -1` showed every message but the oldest (a slice from the end)."""
    ran = subprocess.run(
        [sys.executable, "-m", "ops.mailbox", "--limit", limit],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "--limit" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_mail_shown_for_an_address_is_the_mail_sent_to_it(fake_http_server: HTTPServer) -> None:
    """`./dev mail --to ann@example.com` showed every message whose recipients held that text:
    Joann's reset link too, as if it had been sent to Ann."""
    fake_http_server.clear()
    fake_http_server.expect_request("/api/email").respond_with_json(
        [
            {"subject": "Reset your Blossom password", "to": [{"address": "joann@example.com"}],
             "time": "2026-01-01T00:00:01Z", "text": "Joann's link"},
            {"subject": "Reset your Blossom password", "to": [{"address": "Ann@Example.com"}],
             "time": "2026-01-01T00:00:00Z", "text": "Ann's link"},
        ]
    )  # fmt: skip
    env = os.environ | {"BLOSSOM_MAILBOX_PORT": str(fake_http_server.port)}
    shown = subprocess.run(
        [sys.executable, "-m", "ops.mailbox", "--to", "ann@example.com"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    fake_http_server.clear()
    assert "Ann's link" in shown
    assert "Joann's link" not in shown, shown


def test_the_last_recipe_to_end_stops_the_postgres_one_of_them_started(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`./dev psql` started Postgres and `./dev up` began meanwhile: psql's end stopped Postgres
    under the stack. Now the recipe that ends last stops it."""
    monkeypatch.setenv("BLOSSOM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BLOSSOM_PG_PORT", str(free_port()))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings.from_env()
    cluster = local_cluster(settings)
    psql, up = database(settings), database(settings)
    try:
        psql.__enter__()
        assert cluster.running()
        up.__enter__()
        psql.__exit__(None, None, None)
        assert cluster.running(), "stopped under the recipe still using it"
        up.__exit__(None, None, None)
        assert not cluster.running(), "left running by the last recipe to end"
    finally:
        if cluster.running():
            cluster.stop()


def test_a_setting_the_edge_would_refuse_stops_up_before_anything_starts(data_dir: Path) -> None:
    """A cookie name given with the __Host- prefix: a traceback, after Postgres had started and
    migrated."""
    env, _ports = up_environment(data_dir)
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "up"],
        cwd=ROOT, env=env | {"BLOSSOM_COOKIE_NAME": "__Host-session"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1
    assert "blossom: BLOSSOM_COOKIE_NAME: give the name without a __Host- or __Secure- prefix" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (data_dir / "postgres").exists(), "nothing started"


def test_a_hangup_leaves_output_to_a_file_alone(tmp_path: Path) -> None:
    """`./dev up > up.log` and then `kill -HUP`: what `up` says while it stops is kept. Only a
    terminal, which a hangup leaves unwritable, is swapped for /dev/null."""
    log = tmp_path / "up.log"
    with open(log, "w") as output:
        hang_up = "from ops.stack import _write_nowhere, say; _write_nowhere(); say('stopped')"
        subprocess.run(
            [sys.executable, "-c", hang_up], cwd=ROOT, stdout=output, stderr=output, check=True, timeout=30
        )
    assert log.read_text() == "blossom: stopped\n"


def test_a_second_stopping_signal_leaves_the_stop_under_way_alone(tmp_path: Path) -> None:
    """`kill -TERM -- -PGID` on `./dev up`: we hear SIGTERM, and then again as just passes it on.
    The second raised Shutdown in the middle of the first's stop, which then left every process
    but Postgres running. Here the second comes while the first is being handled."""
    twice = """
import os, signal, time
from ops.stack import Shutdown, _handle_stopping_signals
_handle_stopping_signals()
try:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
except Shutdown:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    print("stopped in order")
"""
    ran = subprocess.run(
        [sys.executable, "-c", twice], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert (ran.returncode, ran.stdout) == (0, "stopped in order\n"), ran.stderr


def test_a_stopping_signal_before_anything_started_stops_up_quietly(data_dir: Path) -> None:
    """A signal that came while `up` made its development key, before its first try: a
    traceback. The key's making stands in for any step there; the signal is the real one."""
    env, _ports = up_environment(data_dir)
    early = """
import os, signal
import ops.stack
ops.stack.use_development_secrets_key = lambda _settings: os.kill(os.getpid(), signal.SIGTERM)
print(ops.stack.up(ops.stack.Settings.from_env()))
"""
    ran = subprocess.run(
        [sys.executable, "-c", early],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (0, "0\n"), ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (data_dir / "postgres").exists(), "nothing started"


FLOODED = """
import sys, time
from ops.stack import Shutdown, _handle_stopping_signals
_handle_stopping_signals()
try:
    print("ready", flush=True)  # in the try: the first signal may come at once
    while True:
        time.sleep(0.001)
except Shutdown:
    time.sleep(0.3)
print("stopped in order", flush=True)
"""


def test_a_flood_of_stopping_signals_never_hangs_the_stop() -> None:
    """The first fix kept the stop's start in a threading.Event: a signal handled while the main
    thread was inside its set(), holding its lock, waited on that lock for ever, and `up` hung
    with every process running (2 runs in 20 under a flood). Each run here gets 2,000 SIGTERMs."""
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", FLOODED],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        for _ in range(2000):
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                break
        try:
            output, _ = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise AssertionError("the stop hung under a flood of signals") from None
        assert (child.returncode, output) == (0, "stopped in order\n")


def test_reset_db_leaves_a_database_named_by_database_url_alone(database_url: str, tmp_path: Path) -> None:
    """With DATABASE_URL exported (as for `backup` and `restore`), `reset-db --yes` dropped the
    database it named, on whatever server, and migrated it empty."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_user(conn, "Kept")
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "reset-db", "--yes"],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": database_url, "BLOSSOM_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "reset-db: DATABASE_URL is set" in ran.stderr
    assert "Traceback" not in ran.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select count(*) from app.users").fetchone() == (1,)


def test_reset_db_with_no_one_to_answer_changes_nothing(tmp_path: Path) -> None:
    """`./dev reset-db < /dev/null`: a traceback (EOFError). No answer is a no, and nothing,
    not even the local cluster, is started."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    ran = subprocess.run(
        [sys.executable, "-m", "ops.stack", "reset-db"],
        cwd=ROOT, env=environment | {"BLOSSOM_DATA_DIR": str(tmp_path)},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (ran.returncode, ran.stderr.splitlines()[-1]) == (1, "reset-db: nothing changed"), ran.stderr
    assert "Traceback" not in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_at_the_question_is_a_no(tmp_path: Path) -> None:
    """Ctrl-C at reset-db's `[y/N]` ended it in a KeyboardInterrupt traceback; it is a no."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    asking = subprocess.Popen(
        [sys.executable, "-m", "ops.stack", "reset-db"],
        cwd=ROOT, env=environment | {"BLOSSOM_DATA_DIR": str(tmp_path)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert asking.stdout is not None
    asked = b""
    while not asked.endswith(b"[y/N] "):
        byte = asking.stdout.read(1)
        assert byte, f"no question: {asked!r}"
        asked += byte
    asking.send_signal(signal.SIGINT)
    _, stderr = asking.communicate(timeout=30)
    assert (asking.returncode, stderr.decode().splitlines()[-1]) == (1, "reset-db: nothing changed")
    assert b"Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def _waits_for_a_flock(pid: int) -> bool:
    """Whether the process waits for a flock (a `->` line of /proc/locks names the waiter)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1:3] == ["->", "FLOCK"] and fields[5] == str(pid):
            return True
    return False


def test_ctrl_c_before_the_pipeline_run_starts_is_one_line_and_status_130(data_dir: Path) -> None:
    """Ctrl-C while `./dev pipeline-run` waits for another recipe to start the local Postgres
    (the folder's start lock, here held by the test), before its run's process exists: a
    KeyboardInterrupt's traceback, a page of frames. One line now, and 130, a shell's status for
    an interrupt; nothing started."""
    env, _ports = up_environment(data_dir)
    with open(data_dir / "postgres.starting", "a") as starting:
        fcntl.flock(starting, fcntl.LOCK_EX)
        recipe = subprocess.Popen(
            [sys.executable, "-m", "ops.stack", "pipeline-run"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=ctrl_c_as_on_a_terminal,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not _waits_for_a_flock(recipe.pid):
                assert recipe.poll() is None, recipe.communicate()
                assert time.monotonic() < deadline, "the recipe never came to wait for the start lock"
                time.sleep(0.05)
            os.killpg(recipe.pid, signal.SIGINT)  # as the terminal's Ctrl-C reaches its foreground group
            _output, errors = recipe.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(recipe.pid, signal.SIGKILL)
    assert "Traceback" not in errors, errors
    assert errors.strip().splitlines() == ["blossom: interrupted"], errors
    assert recipe.returncode == 130
    assert not (data_dir / "postgres").exists(), "nothing started"


def _up_with_the_edges_port_taken(
    env: dict[str, str], ports: dict[str, int]
) -> subprocess.CompletedProcess[str]:
    """`up` while something listens on the edge's port, as an edge left running would."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["edge"]))
        taken.listen()
        return subprocess.run(
            [sys.executable, "-m", "ops.stack", "up"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


def test_a_port_of_the_stack_already_taken_stops_up_before_anything_starts(data_dir: Path) -> None:
    """Another program on a port of the stack (an edge that a `./dev up` killed with SIGKILL left
    running, before its processes ended with it): the next `up` started Postgres, migrated, and
    then said only that PostgREST exited before it was ready, while the old edge went on serving
    on the edge's port."""
    env, ports = up_environment(data_dir)
    ran = _up_with_the_edges_port_taken(env, ports)
    assert ran.returncode == 1
    assert f"blossom: port {ports['edge']} (BLOSSOM_EDGE_PORT, the edge's) is in use" in ran.stderr, (
        ran.stderr
    )
    assert "Traceback" not in ran.stderr
    assert not (data_dir / "postgres").exists(), "nothing started"


def test_a_second_up_on_a_data_folder_whose_up_runs_names_it_and_down(data_dir: Path) -> None:
    """`./dev up` again while the first runs on under nohup (or in another terminal) found the
    edge's port taken and said it was held by another program, or by what a killed `up` left
    running, pointing at `ss` and the edge it would name: not at the `up` still running, nor at
    `./dev down`. On ports of its own it started a second stack on the same data folder, taking
    over the PID file that `down` stops by. It stops before anything starts, naming that `up`."""
    env, ports = up_environment(data_dir)
    # This checkout's `up` as /proc shows it (its command, its folder), holding the edge's port.
    running = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "ops.stack", "up"], cwd=ROOT
    )
    try:
        (data_dir / "up.pid").write_text(f"{running.pid}\n")
        ran = _up_with_the_edges_port_taken(env, ports)
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.strip().splitlines()[-1] == (
            f"blossom: a `./dev up` (PID {running.pid}) runs on {data_dir} already: `./dev down` stops it"
        ), ran.stderr
        assert (data_dir / "up.pid").read_text() == f"{running.pid}\n", "its PID file is left alone"
        assert not (data_dir / "postgres").exists(), "nothing started"
        assert running.poll() is None, "the running one is left alone"
    finally:
        running.kill()
        running.wait()


@pytest.mark.usefixtures("migrated")
def test_sigterm_stops_the_worker_recipe_its_worker_and_the_postgres_it_started(data_dir: Path) -> None:
    """`kill` of `./dev worker` (just passes the SIGTERM on to its recipe alone): the recipe ended
    at once, and the worker it ran, and the Postgres it had started, ran on with no one to stop
    them."""
    env, ports = up_environment(data_dir)  # migrated: the recipe stops at once on a database never so
    with tempfile.TemporaryFile() as said:
        recipe = subprocess.Popen(
            [sys.executable, "-m", "ops.stack", "worker"],
            cwd=ROOT, env=env, stdout=said, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not port_open(ports["metrics"]):  # the worker serves its metrics once it runs
                if recipe.poll() is not None:
                    said.seek(0)
                    raise AssertionError(f"the recipe ended: {said.read().decode(errors='replace')}")
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.1)
            recipe.send_signal(signal.SIGTERM)
            recipe.wait(timeout=60)
            _assert_nothing_left({"the worker's metrics": ports["metrics"]}, data_dir)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(recipe.pid, signal.SIGKILL)  # the worker is in the recipe's process group
            LocalCluster(data_dir / "postgres", ports["pg"]).stop()


def test_a_port_taken_stops_the_pipeline_recipe_before_anything_starts(data_dir: Path) -> None:
    """`./dev pipeline` with BLOSSOM_DAGSTER_PORT in use: dagster dev ran on for ever, its
    webserver gone after failing to bind, one line among many saying so, and no UI anywhere."""
    env, _ports = up_environment(data_dir)
    dagster_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", dagster_port))
        taken.listen()
        recipe = subprocess.Popen(
            [sys.executable, "-m", "ops.stack", "pipeline"],
            cwd=ROOT, env=env | {"BLOSSOM_DAGSTER_PORT": str(dagster_port)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            _output, errors = recipe.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(recipe.pid, signal.SIGTERM)  # the recipe passes it on to dagster dev
            recipe.communicate(timeout=60)
            raise AssertionError("the recipe ran on with its port taken") from None
        finally:
            LocalCluster(data_dir / "postgres", int(env["BLOSSOM_PG_PORT"])).stop()
    assert recipe.returncode == 1
    assert f"blossom: port {dagster_port} (BLOSSOM_DAGSTER_PORT, Dagster's) is in use" in errors, errors
    assert "Traceback" not in errors
    assert not (data_dir / "postgres").exists(), "nothing started"


def test_ctrl_c_in_the_psql_recipe_cancels_the_query_not_the_recipe(data_dir: Path) -> None:
    """Ctrl-C in `./dev psql`, to cancel a slow query as in psql: the recipe, in the same process
    group, took it too, killed psql (the whole session gone) and ended in a KeyboardInterrupt's
    traceback. Here psql runs one query, so it ends once the query is cancelled."""
    env, ports = up_environment(data_dir)
    recipe = subprocess.Popen(
        [sys.executable, "-m", "ops.stack", "psql", "-c", "select pg_catalog.pg_sleep(60)"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert recipe.poll() is None, "the recipe ended"
            assert time.monotonic() < deadline, "the query did not start"
            with contextlib.suppress(psycopg.OperationalError):
                server = f"postgresql://postgres@127.0.0.1:{ports['pg']}/postgres"
                with psycopg.connect(server, connect_timeout=2) as conn:
                    asleep = "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%'"
                    row = conn.execute(asleep + " and pid <> pg_backend_pid()").fetchone()
                    if row is not None and row[0] > 0:
                        break
            time.sleep(0.1)
        os.killpg(recipe.pid, signal.SIGINT)  # as the terminal's Ctrl-C reaches its foreground group
        _output, errors = recipe.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(recipe.pid, signal.SIGKILL)
        LocalCluster(data_dir / "postgres", ports["pg"]).stop()
    assert "canceling statement due to user request" in errors, errors
    assert "Traceback" not in errors
    assert recipe.returncode != 0


def test_ctrl_c_in_dev_psql_on_a_terminal_then_quit_is_a_clean_end(data_dir: Path) -> None:
    """Ctrl-C in `./dev psql` cancels the query, psql goes on, and `\\q` ends it with status 0:
    just, which got the Ctrl-C's SIGINT too, then exited 130, saying `error: interrupted by
    SIGINT`. psql and psql-admin are [continue] recipes, as up is."""
    env, ports = up_environment(data_dir)
    terminal, device = pty.openpty()
    device_name = os.ttyname(device)

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(os.open(device_name, os.O_RDWR), termios.TIOCSCTTY, 0)

    recipe = subprocess.Popen(
        [str(ROOT / "dev"), "psql"], cwd=ROOT, env=env, stdin=device, stdout=device, stderr=device,
        preexec_fn=own_terminal,
    )  # fmt: skip
    os.close(device)
    shown = b""

    def wait_for(text: bytes) -> None:
        nonlocal shown
        deadline = time.monotonic() + 60
        while text not in shown:
            assert time.monotonic() < deadline, f"no {text!r} in {shown!r}"
            if select.select([terminal], [], [], 0.1)[0]:
                shown += os.read(terminal, 65536)

    try:
        wait_for(b"blossom=# ")
        os.write(terminal, b"select pg_catalog.pg_sleep(60);\r")
        server = f"postgresql://postgres@127.0.0.1:{ports['pg']}/postgres"
        asleep = (
            "select count(*) from pg_stat_activity"
            " where query like '%pg_sleep(60)%' and pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + 30
        with psycopg.connect(server, autocommit=True) as conn:
            while conn.execute(asleep).fetchone() != (1,):
                assert time.monotonic() < deadline, "the query did not start"
                time.sleep(0.1)
        os.write(terminal, b"\x03")
        wait_for(b"canceling statement due to user request")
        os.write(terminal, b"\\q\r")
        recipe.wait(timeout=60)
        with contextlib.suppress(OSError):  # EIO once no process has the terminal open
            while select.select([terminal], [], [], 1)[0] and (more := os.read(terminal, 65536)):
                shown += more
    finally:
        os.close(terminal)
        if recipe.poll() is None:
            recipe.kill()
            recipe.wait()
        LocalCluster(data_dir / "postgres", ports["pg"]).stop()
    output = TERMINAL_CONTROLS.sub("", shown.decode("utf-8", "replace")).replace("^C", "")
    assert not re.search(r"^error", output, re.MULTILINE), output
    assert recipe.returncode == 0, output


FOREGROUND_SIGTERM_AT_START = """
import os, signal, subprocess, sys
from ops import stack

class Started(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # the kill arrives as the child has just started

stack.subprocess.Popen = Started
print(stack.run_in_foreground([sys.executable, "-c", "import time; time.sleep(10)"], dict(os.environ)))
"""


def test_a_sigterm_as_the_foreground_child_starts_is_passed_on_too() -> None:
    """run_in_foreground installed its SIGTERM handler only after starting the child: a SIGTERM in
    between (a `kill` of `./dev worker` as it starts) took SIGTERM's default, ended the recipe at
    once, and left the child running with no one to stop it, as before the handler existed."""
    ran = subprocess.run(
        [sys.executable, "-c", FOREGROUND_SIGTERM_AT_START],
        cwd=ROOT, capture_output=True, text=True, timeout=30, start_new_session=True,
    )  # fmt: skip
    assert (ran.returncode, ran.stdout.strip()) == (0, str(-signal.SIGTERM)), (ran.returncode, ran.stderr)
