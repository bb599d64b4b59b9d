"""SIGTERM during a burst of writes: /readyz turns 503 at once, every request sent gets an answer,
every write acknowledged is committed, and the edge exits (edge/lifecycle.py)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from edge.config import EdgeConfig
from ops.scratch import free_port
from ops.services import wait_http
from ops.settings import ROOT
from tests.support.http import Reply, loopback_address, request
from tests.support.stack import make_stack

# A write that takes a while: many are under way when the edge is told to stop.
SLOW_WRITE = """
create table app.drain_notes (note text primary key);
create function api.slow_note(note text, seconds float) returns text
language sql volatile security definer set search_path = '' as $$
  insert into app.drain_notes (note) values (slow_note.note);
  select pg_catalog.pg_sleep(slow_note.seconds);
  select slow_note.note;
$$;
grant execute on function api.slow_note(text, float) to web_anon;
"""


def test_sigterm_drains_every_write_under_way_and_readyz_turns_503(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    # Each write takes longer than the stop delay: writes are under way when the edge stops
    # accepting, and must be finished, not dropped.
    settings = {"BLOSSOM_EDGE_STOP_DELAY": "0.3"}
    with make_stack(pg_server, template_database, tmp_path, SLOW_WRITE, settings) as stack:
        edge = stack.edge_url
        answers: list[tuple[str, Reply | Exception]] = []
        stop_sending = threading.Event()

        def client() -> None:
            source = loopback_address()
            while not stop_sending.is_set():
                note = secrets.token_hex(8)
                try:
                    reply: Reply | Exception = request(
                        edge, "POST", "/rpc/slow_note", json_body={"note": note, "seconds": 1.0},
                        source=source, timeout=20,
                    )  # fmt: skip
                except OSError as error:
                    reply = error
                answers.append((note, reply))

        clients = [threading.Thread(target=client) for _ in range(12)]
        for thread in clients:
            thread.start()
        time.sleep(1.5)
        stack.services.edge.send_signal(signal.SIGTERM)

        # Draining: /readyz says so at once; a load balancer would stop sending, as we do.
        ready = request(edge, "GET", "/readyz")
        stop_sending.set()
        assert ready.status == 503, ready.body
        assert ready.json()["code"] == "edge.draining"
        for thread in clients:
            thread.join(timeout=30)
        stack.services.edge.wait(timeout=20)

        failed = [(note, reply) for note, reply in answers if not isinstance(reply, Reply)]
        assert failed == [], "every request sent got an answer"
        acknowledged = {note for note, reply in answers if isinstance(reply, Reply) and reply.status == 200}
        assert len(acknowledged) == len(answers), [r.body for _, r in answers if isinstance(r, Reply)][:3]
        assert len(acknowledged) >= 12
        with psycopg.connect(stack.database_url) as conn:
            committed = {note for (note,) in conn.execute("select note from app.drain_notes").fetchall()}
        assert acknowledged <= committed, "every acknowledged write is committed"


def test_without_a_stop_delay_sigterm_stops_at_once(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    with make_stack(pg_server, template_database, tmp_path) as stack:
        started = time.monotonic()
        stack.services.edge.send_signal(signal.SIGTERM)
        stack.services.edge.wait(timeout=10)
        assert time.monotonic() - started < 3


def test_ctrl_c_stops_the_edge_as_sigterm_does_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C of `python -m edge` drained and stopped it, and then ended in a KeyboardInterrupt's
    traceback: uvicorn, once stopped, raises again the signal it stopped for, and Python makes
    SIGINT's an exception. It ends by that signal, as on SIGTERM, in silence."""
    port = free_port()
    edge = subprocess.Popen(
        [sys.executable, "-m", "edge", "--port", str(port)],
        cwd=ROOT, env=os.environ | {"BLOSSOM_EDGE_STOP_DELAY": "0"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # As a terminal's foreground process has it, whatever this process's was.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        edge.send_signal(signal.SIGINT)
        said = edge.communicate(timeout=30)[0]
    finally:
        edge.kill()
        edge.wait()
    assert "Traceback" not in said, said
    assert "KeyboardInterrupt" not in said, said
    assert edge.returncode == -signal.SIGINT, said


def cut_short_answer(
    pg_server: str, template_database: str, tmp_path: Path, *, cross_origin: bool = False
) -> tuple[str, dict[str, str], bytes, str]:
    """What the edge answers a request still under way when its grace period for stopping ends:
    a POST whose body never arrives (the edge waits for a body longer than the grace period), sent
    from a page of an allowed origin when `cross_origin`. Its status, headers (names in lower
    case) and body, and the origin. uvicorn cancels what is left when the grace period ends and,
    for a request not yet answered, wrote its own plain-text 500."""
    settings = {"BLOSSOM_EDGE_GRACE_SECONDS": "0.5"}
    with make_stack(pg_server, template_database, tmp_path, settings=settings) as stack:
        parts = urlsplit(stack.edge_url)
        origin = f"http://localhost:{parts.port}"  # allowed by the local stack (ops/services.py)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(
                b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                + (b"Origin: " + origin.encode() + b"\r\n" if cross_origin else b"")
                + b"Content-Length: 100\r\n\r\n{"
            )
            time.sleep(0.5)
            stack.services.edge.send_signal(signal.SIGTERM)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        stack.services.edge.wait(timeout=20)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return status_line.split()[1], headers, body, origin


def test_a_request_still_under_way_when_the_grace_period_ends_is_answered_in_json(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    status, headers, body, _ = cut_short_answer(pg_server, template_database, tmp_path)
    assert status == "503", (headers, body)
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == "edge.shutting_down"
    assert headers["retry-after"] == "1"
    assert headers["x-request-id"]


def test_a_cross_origin_request_cut_short_is_answered_with_its_cors_headers(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    # A page of an allowed origin reads an answer only with Access-Control-Allow-Origin: without
    # it, the browser hides the 503 and its Retry-After, and the page sees a network error
    # instead of an answer that says to send the request again.
    status, headers, body, origin = cut_short_answer(
        pg_server, template_database, tmp_path, cross_origin=True
    )
    assert status == "503", (headers, body)
    assert json.loads(body)["code"] == "edge.shutting_down"
    assert headers.get("access-control-allow-origin") == origin, headers
    assert headers.get("access-control-allow-credentials") == "true"
    assert "retry-after" in headers.get("access-control-expose-headers", "").lower()


def test_a_stop_delay_of_zero_is_no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """README gives its default as "none: 0", and 0 is what turns it off: `BLOSSOM_EDGE_STOP_DELAY=0`
    stopped the edge at start (must be a positive number), and a compose service so set never
    came up."""
    monkeypatch.setenv("BLOSSOM_EDGE_STOP_DELAY", "0")
    assert EdgeConfig.from_env().stop_delay_seconds == 0
    monkeypatch.setenv("BLOSSOM_EDGE_STOP_DELAY", "-1")
    with pytest.raises(ValueError, match="BLOSSOM_EDGE_STOP_DELAY"):
        EdgeConfig.from_env()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        # uvicorn took the port modulo 65536, and the edge listened on 4464 without a word.
        (["--port", "70000"], "--port"),
        (["--port", "0"], "--port"),  # a port of the kernel's choosing, which no one was told
        (["--port", "-1"], "--port"),
        (["--log-level", "nonsense"], "--log-level"),  # a KeyError's traceback
        # A host no name lookup can take (a label over 63 letters, a byte that is no letter): a
        # UnicodeError's traceback from the event loop, once the app was made.
        (["--host", "x" * 64], "--host"),
        (["--host", "bad\udcffhost"], "--host"),
    ],
)
def test_a_bad_command_line_stops_the_edge_at_start_naming_the_option(
    arguments: list[str], named: str
) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "edge", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert started.returncode == 2, started.stderr
    assert named in started.stderr
    assert "Traceback" not in started.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BLOSSOM_POSTGREST_URL", "nonsense"),
        ("BLOSSOM_POSTGREST_URL", "http://127.0.0.1:99999"),
        ("BLOSSOM_POSTGREST_URL", "http://127.0.0.1:0"),
        ("BLOSSOM_POSTGREST_ADMIN_URL", "https://127.0.0.1:3001"),
        ("BLOSSOM_OPENAI_TIMEOUT_SECONDS", "500"),
        ("BLOSSOM_OPENAI_BASE_URL", "api.openai.com/v1"),
        ("BLOSSOM_OPENAI_BASE_URL", "https://"),
        ("OPENAI_BASE_URL", "api.openai.com/v1"),
        ("BLOSSOM_SLACK_TIMEOUT_SECONDS", "500"),
    ],
)
def test_a_bad_setting_read_as_the_app_is_made_stops_the_edge_naming_it(name: str, value: str) -> None:
    """The settings of the edge's parts (its upstream, its outside services) were read after its
    own were checked, as its app was made: a traceback, and one that named no setting."""
    # OPENAI_BASE_URL is read when ours is unset.
    inherited = {key: value for key, value in os.environ.items() if key != "BLOSSOM_OPENAI_BASE_URL"}
    environment = inherited | {name: value, "OPENAI_API_KEY": "sk-test"}
    started = subprocess.run(
        [sys.executable, "-m", "edge", "--port", "18999"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert started.returncode == 1, started.stderr
    assert started.stderr.strip().splitlines()[-1].startswith(f"blossom-edge: {name}"), started.stderr
    assert "Traceback" not in started.stderr


def test_a_stop_delay_past_five_minutes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """1e20 s was taken: on SIGTERM the edge logged `stopping in 1e+20 s`, and never stopped."""
    monkeypatch.setenv("BLOSSOM_EDGE_STOP_DELAY", "99999999999999999999")
    with pytest.raises(ValueError, match="BLOSSOM_EDGE_STOP_DELAY must be at most 300"):
        EdgeConfig.from_env()
    monkeypatch.setenv("BLOSSOM_EDGE_STOP_DELAY", "300")
    assert EdgeConfig.from_env().stop_delay_seconds == 300
