"""`just up` as a person runs it: up, ready, Ctrl-C leaves nothing behind, data survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ops.scratch import free_port
from ops.settings import ROOT
from tests.http import request


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


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops.stack", "up"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(process: subprocess.Popen[str], edge_url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if request(edge_url, "GET", "/readyz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the stack did not become ready")


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


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

    first = _start(env)
    _wait_ready(first, edge_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("create table public.kept (note text)")
        conn.execute("insert into public.kept values ('written before a restart')")
    output = _interrupt(first)
    assert edge_url in output
    assert f"127.0.0.1:{ports['postgrest']}" in output
    assert database_url in output
    for name, port in ports.items():
        assert not _port_open(port), f"{name} still listening on {port} after Ctrl-C"
    assert not (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists(), "Postgres stopped"

    second = _start(env)
    try:
        _wait_ready(second, edge_url)
        with psycopg.connect(database_url) as conn:
            assert conn.execute("select note from public.kept").fetchall() == [("written before a restart",)]
    finally:
        _interrupt(second)
