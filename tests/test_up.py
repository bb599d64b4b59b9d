"""`just up` as a person runs it: up, ready, Ctrl-C (or SIGTERM) leaves nothing behind, data survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ops.scratch import free_port
from ops.settings import ROOT
from tests.support.http import request


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /var/tmp: when we are root, Postgres runs as `postgres` and must reach the folder.
    with tempfile.TemporaryDirectory(prefix="blossom-up-", dir="/var/tmp") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Up:
    """`python -m ops.stack up` in the background, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops.stack", "up"],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_up(self, edge_url: str, timeout: float = 90) -> None:
        """Up means: the URLs are printed (the last thing `up` does) and /readyz says 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output
            if "  database " in self.output and request(edge_url, "GET", "/readyz", timeout=2).status == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"the stack did not come up:\n{self.output}")

    def interrupt(self, signum: signal.Signals = signal.SIGINT) -> str:
        self.process.send_signal(signum)
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        assert self.process.returncode == 0, self.output
        return self.output


def _assert_nothing_left(ports: dict[str, int], data_dir: Path) -> None:
    for name, port in ports.items():
        assert not _port_open(port), f"{name} still listening on {port} after stopping"
    assert not (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists(), "Postgres stopped"


def test_up_serves_stops_cleanly_and_keeps_data(data_dir: Path) -> None:
    ports = {name: free_port() for name in ("edge", "postgrest", "admin", "pg")}
    env = os.environ | {
        "BLOSSOM_DATA_DIR": str(data_dir),
        "BLOSSOM_EDGE_PORT": str(ports["edge"]),
        "BLOSSOM_POSTGREST_PORT": str(ports["postgrest"]),
        "BLOSSOM_POSTGREST_ADMIN_PORT": str(ports["admin"]),
        "BLOSSOM_PG_PORT": str(ports["pg"]),
    }
    env.pop("DATABASE_URL", None)
    edge_url = f"http://127.0.0.1:{ports['edge']}"
    database_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/blossom"

    first = Up(env)
    first.wait_until_up(edge_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("create table public.kept (note text)")
        conn.execute("insert into public.kept values ('written before a restart')")
    output = first.interrupt()
    assert edge_url in output
    assert f"127.0.0.1:{ports['postgrest']}" in output
    assert database_url in output
    _assert_nothing_left(ports, data_dir)

    second = Up(env)
    try:
        second.wait_until_up(edge_url)
        with psycopg.connect(database_url) as conn:
            assert conn.execute("select note from public.kept").fetchall() == [("written before a restart",)]
    finally:
        second.interrupt(signal.SIGTERM)
    _assert_nothing_left(ports, data_dir)
