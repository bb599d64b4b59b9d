"""No secret in any log: passwords, session and device tokens, mailed tokens and bearer keys
are sent through every route of the edge (real ones where a real flow makes them, made-up ones
of the same shape everywhere else), the mail is delivered by the worker, and then the logs of
the edge, PostgREST, the worker and Postgres are read for any of them. And the passwords of the
processes' own settings: a database or SMTP URL that cannot be read as given (a password with
an unencoded / # ? @ %) stops the process at start, and what it printed holds no part of it."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from starlette.routing import Route

from blossom_db.generated import API_CALL_ARGUMENTS
from edge.auth import ROUTES as AUTH_ROUTES
from ops.scratch import free_port
from ops.settings import ROOT
from tests.support.auth_client import COOKIE_NAME, DEVICE_COOKIE_NAME, new_email, post, session_cookie, signup
from tests.support.http import request
from tests.support.mailbox import messages
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually, running_worker


@pytest.fixture(scope="module")
def logged(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("logged")) as running:
        yield running


def made_up_token() -> str:
    """The shape of every token Blossom makes (43 URL-safe characters), so that it gets past
    the edge's shape check and reaches the database."""
    return secrets.token_urlsafe(32)


def body_for(path: str, body: dict[str, str]) -> dict[str, str]:
    """`body` as a call of the function at `path` takes it, so that the edge lets it through to
    PostgREST (check_arguments): of its arguments, those `body` holds, the others made up."""
    arguments = API_CALL_ARGUMENTS.get(path.removeprefix("/rpc/"))
    if arguments is None:
        return body
    return {name: body.get(name, "made up") for name in (*arguments.required, *arguments.optional)}


def rpc_names(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select distinct p.proname from pg_proc p where p.pronamespace = 'api'::regnamespace order by 1"
        ).fetchall()
    return [str(name) for (name,) in rows]


def postgres_log(database_url: str) -> Path:
    """The cluster's log file: ops.cluster.LocalCluster keeps it next to the data folder."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select current_setting('data_directory')").fetchone()
    assert row is not None
    return Path(str(row[0])).parent / "postgres.log"


def test_no_secret_sent_through_any_route_reaches_any_log(logged: Stack, tmp_path: Path) -> None:
    edge, url = logged.edge_url, logged.database_url
    sent: set[str] = set()

    # Real secrets, through the flows that use them.
    password, new_password = "first secret " + made_up_token(), "second secret " + made_up_token()
    owner = signup(edge, password=password)
    guest = signup(edge, password=password)
    sent |= {password, new_password, owner.token, guest.token, str(owner.device)}
    rpc = {"Origin": edge} | owner.cookie
    org = post(edge, "/rpc/create_organization", {"name": "Secretive"}, rpc).json()
    invite = {"org_id": org["id"], "email": guest.email, "role": "member"}
    assert post(edge, "/rpc/invite_member", invite, rpc).status == 200
    (invitation,) = messages(url, guest.email, "mail.org_invitation")
    (verification, *_) = messages(url, owner.email, "mail.email_verification")
    accepted = post(
        edge, "/rpc/accept_invitation", {"token": invitation["token"]}, {"Origin": edge} | guest.cookie
    )
    assert accepted.status == 200, accepted.body
    assert post(edge, "/auth/verify-email", {"token": verification["token"]}).status == 204
    change = {"current_password": password, "new_password": new_password}
    assert post(edge, "/auth/password", change, owner.browser).status == 204
    assert post(edge, "/auth/password-reset", {"email": owner.email}).status == 202
    (reset, *_) = messages(url, owner.email, "mail.password_reset")
    assert (
        post(edge, "/auth/password-reset/confirm", {"token": reset["token"], "new_password": password}).status
        == 204
    )
    login = post(edge, "/auth/login", {"email": owner.email, "password": password})
    assert login.status == 200
    token = session_cookie(login)
    assert token
    sent |= {invitation["token"], verification["token"], reset["token"], token}

    # Made-up secrets of every kind, through every route, in every place a secret goes.
    session, device, mailed, bearer = made_up_token(), made_up_token(), made_up_token(), made_up_token()
    typed = "typed secret " + made_up_token()
    sent |= {session, device, mailed, bearer, typed}
    body = {
        "email": new_email(),
        "password": typed,
        "current_password": typed,
        "new_password": typed,
        "token": mailed,
        "display_name": "Sly",
    }
    headers = {
        "Origin": edge,
        "Cookie": f"{COOKIE_NAME}={session}; {DEVICE_COOKIE_NAME}={device}",
        "X-Blossom-Session": session,
        "Authorization": f"Bearer {bearer}",
    }
    real = {"Origin": edge, "Cookie": f"{COOKIE_NAME}={token}"}
    paths = [route.path for route in AUTH_ROUTES if isinstance(route, Route)]
    paths += [f"/rpc/{name}" for name in rpc_names(url)] + ["/healthz", "/readyz"]
    for path in paths:
        for method in ("GET", "POST"):
            for with_headers in (headers, real):
                sent_body = body_for(path, body) if method == "POST" else None
                reply = request(edge, method, path, json_body=sent_body, headers=with_headers)
                assert reply.status < 500, (method, path, reply.body)

    # The worker delivers the mail that all this queued (it reads the mailed tokens to send them).
    with SmtpServer() as smtp, running_worker(url, smtp.url, tmp_path):
        smtp.wait_for(1)
        eventually(
            lambda: not messages(url, owner.email, "mail.password_reset")[0].get("token"), what="delivered"
        )

    # Stopped, the edge and PostgREST have written out every line they had.
    logged.services.__exit__(None, None, None)
    logs = {path.name: path.read_text(errors="replace") for path in logged.services.logs.iterdir()}
    logs |= {path.name: path.read_text(errors="replace") for path in tmp_path.glob("worker-*.log")}
    logs["postgres.log"] = postgres_log(url).read_text(errors="replace")
    assert {"edge.log", "postgrest.log", "postgres.log"} <= set(logs)
    assert any(name.startswith("worker-") for name in logs)
    # The logs are not empty: the edge logged every request above, PostgREST every RPC.
    assert logs["edge.log"].count('"route": "/auth/login"') >= 3
    assert logs["postgrest.log"].count("POST /rpc/accept_invitation") >= 3
    leaks = [(name, secret) for name, text in logs.items() for secret in sent if secret in text]
    assert leaks == []


def password_halves() -> tuple[str, str]:
    """Two made-up halves of a password, to go either side of a character a URL must not hold
    unencoded: a part of the password that a misread URL put anywhere (a port, a host) is one of
    them."""
    return "ante" + secrets.token_hex(6), "post" + secrets.token_hex(6)


STARTING_PROCESS_SECONDS = 60.0


def run_until_it_stops(
    command: list[str], environment: dict[str, str], out: Path, poke: Callable[[], object] | None = None
) -> tuple[int | None, str]:
    """`command`, one of our processes, with only `environment`: its exit status (None when it was
    still running after a minute, or a second after `poke` first succeeded, and was stopped) and
    all it printed, its log among it. The minute only bounds a process that never stops: one
    that stops at start returns as soon as it has, and a bound of 8 s failed the worker's cases
    on a loaded machine, whose imports alone took longer."""
    with out.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin"} | environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTING_PROCESS_SECONDS
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if poke is not None:
                    try:
                        poke()
                    except OSError:
                        pass  # not listening yet
                    else:
                        poke, deadline = None, time.monotonic() + 1.0
                time.sleep(0.1)
            status = process.poll()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
    return status, out.read_text(errors="replace")


WORKER_URLS = [
    ("BLOSSOM_SMTP_URL", "smtp://mailer:{a}/{b}@mail.example.com:587"),
    ("BLOSSOM_SMTP_URL", "smtp://mailer:{a}#{b}@mail.example.com"),
    ("BLOSSOM_SMTP_URL", "smtp://mailer:{a}?{b}@mail.example.com"),
    ("BLOSSOM_SMTP_URL", "smtp://mailer:{a}\u2100{b}@mail.example.com"),
    ("BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker:{a}/{b}@127.0.0.1:1/blossom"),
    ("BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker:{a}@{b}@127.0.0.1:1/blossom"),
    ("BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker:{a}%zz{b}@127.0.0.1:1/blossom"),
    # A ? in the password with a parameter after it: libpq read the query from there, and the @
    # that ends the password as a value of it (the rest of the password, the host or the database).
    ("BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker:{a}@{b}?application_name=x@127.0.0.1:1/blossom"),
    ("BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker:1/{a}?application_name={b}@127.0.0.1:1/blossom"),
    ("BLOSSOM_WORKER_DATABASE_URL", "host=127.0.0.1 port=1 user=worker password={a} {b}"),
]


@pytest.mark.parametrize(("name", "url"), WORKER_URLS, ids=[f"{name}={url}" for name, url in WORKER_URLS])
def test_a_password_the_worker_cannot_read_from_its_url_is_in_nothing_it_prints(
    name: str, url: str, tmp_path: Path
) -> None:
    """The SMTP URL's error named the port Python read from it, the password's start (`Port could
    not be cast to integer value as 'ante…'`), or the whole of it (`netloc 'mailer:ante…' contains
    invalid characters`); the database URL's start-up line named the host and port libpq read
    from it (`?@worker:ante…/post…@127.0.0.1…`), and then every failed connection libpq's message
    on it, or the worker died with a traceback that quoted it."""
    a, b = password_halves()
    status, output = run_until_it_stops(
        [sys.executable, "-m", "worker"],
        {"BLOSSOM_APP_URL": "https://app.example.com", name: url.format(a=a, b=b)},
        tmp_path / "worker.log",
    )
    assert [half for half in (a, b) if half in output] == [], output
    assert status == 1, f"the worker stops at start: {output}"
    assert f"blossom-worker: {name}" in output, output
    assert "Traceback" not in output


EDGE_URLS = [
    "postgresql://edge:{a}/{b}@127.0.0.1:1/blossom",
    "postgresql://edge:{a}%zz{b}@127.0.0.1:1/blossom",
]


@pytest.mark.parametrize("url", EDGE_URLS)
def test_a_password_the_edge_cannot_read_from_its_database_url_is_in_nothing_it_prints(
    url: str, tmp_path: Path
) -> None:
    """The edge shares the worker's database settings (blossom_db): it started with such a URL,
    and its readiness check logged libpq's message on it (`invalid integer value "ante…" for
    connection option "port"`, `invalid percent-encoded token: "ante…%zzpost…"`)."""
    a, b = password_halves()
    port = free_port()
    status, output = run_until_it_stops(
        [sys.executable, "-m", "edge", "--host", "127.0.0.1", "--port", str(port)],
        {"BLOSSOM_EDGE_DATABASE_URL": url.format(a=a, b=b)},
        tmp_path / "edge.log",
        poke=lambda: request(f"http://127.0.0.1:{port}", "GET", "/readyz", timeout=5),
    )
    assert [half for half in (a, b) if half in output] == [], output
    assert status == 1, f"the edge stops at start: {output}"
    assert "blossom-edge: BLOSSOM_EDGE_DATABASE_URL" in output, output
    assert "Traceback" not in output
