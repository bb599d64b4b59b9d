"""One request id from the edge to the row: the edge's log line, PostgREST's, the audit event,
the outbox row, its delivery job and the worker's log line all name it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.types import Message, Receive, Scope, Send

from blossom_db.logs import REQUEST_ID_SHAPE
from edge.config import EdgeConfig, parse_networks
from edge.metrics import EdgeMetrics
from edge.tracing import RequestIds, request_id_of
from tests.support.auth_client import post, signup
from tests.support.http import request
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually, running_worker


@pytest.fixture(scope="module")
def traced(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack of this module's own: its logs hold only these tests' requests."""
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("traced")) as running:
        yield running


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log (any other line, such as a traceback's, is skipped)."""
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def edge_line(stack: Stack, request_id: str) -> dict[str, Any]:
    """The edge's line for the request, once written (the edge writes its log out every 0.2 s)."""

    def found() -> list[dict[str, Any]]:
        return [x for x in json_lines(stack.services.logs / "edge.log") if x.get("request_id") == request_id]

    (line,) = eventually(found, 5, f"the edge's line for {request_id}")
    return line


def one(database_url: str, query: str, *params: object) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def test_an_invitations_request_id_reaches_every_log_the_audit_event_the_outbox_and_the_job(
    traced: Stack, tmp_path: Path
) -> None:
    owner = signup(traced.edge_url)
    rpc = {"Origin": traced.edge_url} | owner.cookie
    org = post(traced.edge_url, "/rpc/create_organization", {"name": "Traced"}, rpc).json()
    invited = post(
        traced.edge_url,
        "/rpc/invite_member",
        {"org_id": org["id"], "email": "traced-guest@example.com", "role": "member"},
        rpc,
    )
    assert invited.status == 200, invited.body
    request_id = invited.header("x-request-id")
    assert request_id
    assert REQUEST_ID_SHAPE.fullmatch(request_id)

    # The edge's line for it, as JSON, with what the issue asks of a request's line.
    line = edge_line(traced, request_id)
    assert line["route"] == "/rpc/invite_member"
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert {"time", "level", "event", "duration_ms"} <= set(line)
    # PostgREST's access line (its referer field; edge/proxy.py).
    postgrest_log = (traced.services.logs / "postgrest.log").read_text()
    assert f'"urn:blossom:request:{request_id}"' in postgrest_log
    assert "POST /rpc/invite_member" in postgrest_log

    url = traced.database_url
    audited = "select request_id from app.audit_events where org_id = %s and action = 'org.member_invited'"
    assert one(url, audited, org["id"]) == request_id
    event = one(url, "select id from app.outbox where payload->>'to' = 'traced-guest@example.com'")
    assert one(url, "select request_id from app.outbox where id = %s", event) == request_id
    assert one(url, "select args->>'request_id' from jobs.procrastinate_jobs where args->>'event_id' = %s",
               event) == request_id  # fmt: skip

    # The worker that delivers it logs the request id with the delivery.
    with SmtpServer() as smtp, running_worker(url, smtp.url, tmp_path):
        smtp.wait_for(1)
        eventually(
            lambda: any(
                x.get("request_id") == request_id and event in x["event"]
                for log in tmp_path.glob("worker-*.log")
                for x in json_lines(log)
            ),
            what="the worker's line for the delivery",
        )


def test_an_auth_routes_request_id_reaches_its_audit_event(traced: Stack) -> None:
    account = signup(traced.edge_url)
    reply = post(traced.edge_url, "/auth/login", {"email": account.email, "password": account.password})
    assert reply.status == 200
    request_id = reply.header("x-request-id")
    found = one(
        traced.database_url,
        "select request_id from app.audit_events where actor_id = %s and action = 'auth.login' ",
        account.user["id"],
    )
    assert found == request_id
    assert request_id
    assert edge_line(traced, request_id)["user_id"] == account.user["id"], "a sign-in's line names the user"


def test_a_clients_own_request_id_is_not_taken_and_every_answer_has_one(traced: Stack) -> None:
    made_up = {"X-Request-Id": "my-own-request-id", "Content-Type": "application/json"}
    for method, path in (("GET", "/healthz"), ("GET", "/no/such/path"), ("POST", "/rpc/me")):
        given = request(traced.edge_url, method, path, headers=made_up).header("x-request-id")
        assert given, path
        assert given != "my-own-request-id", path
        assert REQUEST_ID_SHAPE.fullmatch(given), (path, given)


def scope(peer: str, *request_ids: bytes) -> dict[str, Any]:
    """A request from `peer` with an X-Request-Id header for each of `request_ids`, in order."""
    return {
        "type": "http",
        "client": (peer, 5000),
        "headers": [(b"x-request-id", given) for given in request_ids],
    }


def test_a_trusted_proxys_request_id_is_taken_when_it_has_the_shape_of_one() -> None:
    config = EdgeConfig(
        "http://p", "http://a", "postgresql://x", trusted_proxies=parse_networks("10.0.0.0/8")
    )
    assert request_id_of(scope("10.1.2.3", b"lb-7f3a:42"), config) == "lb-7f3a:42"
    for refused in (b"", b"has space", b"x" * 64, b"new\nline", "caf\u00e9".encode()):
        assert request_id_of(scope("10.1.2.3", refused), config) != refused.decode("latin-1")
    # The same header from any other peer is the client's own, and not taken.
    assert request_id_of(scope("192.0.2.1", b"lb-7f3a:42"), config) != "lb-7f3a:42"
    assert REQUEST_ID_SHAPE.fullmatch(request_id_of(scope("192.0.2.1"), config))


def test_of_two_request_ids_through_a_trusted_proxy_the_proxys_is_taken() -> None:
    """A proxy that adds its X-Request-Id as a header of its own (HAProxy's unique-id-header) sends
    it after the client's: the first was taken, an id the client chose (another request's too),
    which then named the audit events, the outbox rows and the log lines of this one."""
    config = EdgeConfig(
        "http://p", "http://a", "postgresql://x", trusted_proxies=parse_networks("10.0.0.0/8")
    )
    assert request_id_of(scope("10.1.2.3", b"chosen-by-client", b"lb-7f3a:42"), config) == "lb-7f3a:42"
    made = request_id_of(scope("10.1.2.3", b"chosen-by-client", b"has space"), config)
    assert made not in ("chosen-by-client", "has space")


def test_an_answer_cancelled_before_its_start_was_sent_is_still_ours() -> None:
    """uvicorn sends an answer's start once the answers before it on the connection (pipelined)
    are taken by the client; an answer cancelled in that wait (the edge stopping) had sent
    nothing, yet was taken for started, and uvicorn wrote its own plain-text 500."""
    sent: list[Message] = []
    waiting = asyncio.Event()

    async def send(message: Message) -> None:
        if not waiting.is_set():  # the first start waits for a client that does not read
            waiting.set()
            await asyncio.Event().wait()
        sent.append(message)

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def cut_short_while_it_waits() -> None:
        config = EdgeConfig("http://p", "http://a", "postgresql://x")
        a_get = scope("192.0.2.1") | {"method": "GET", "path": "/healthz"}
        task = asyncio.create_task(RequestIds(app, config, EdgeMetrics())(a_get, receive, send))
        await waiting.wait()
        task.cancel()
        await task

    asyncio.run(cut_short_while_it_waits())
    start, body = sent
    assert start["status"] == 503
    assert json.loads(body["body"])["code"] == "edge.shutting_down"


# What a terminal or a log viewer acts on rather than shows: a C1 control (U+009B is CSI, which
# starts the same sequences ESC [ does: clear the screen, colour, move the cursor), a bidi
# override that turns what follows around, a line separator.
TERMINAL_TRICKS = ("\u009b", "\u202e", "\u2028")


def test_a_clients_path_is_logged_with_no_character_a_terminal_would_act_on(traced: Stack) -> None:
    """The edge's line names the path the client asked for, as uvicorn decoded it: a C1 CSI
    written as `%C2%9B` reached the log, and `./dev up`'s terminal, raw."""
    reply = request(traced.edge_url, "GET", "/no/such/%C2%9B2J%E2%80%AEgnp.exe%E2%80%A8x")
    assert reply.status == 404
    request_id = reply.header("x-request-id")
    assert request_id

    # Split at line feeds alone: str.splitlines also breaks at U+2028, as some readers of a log
    # do, and took this line for two.
    def lines() -> list[str]:
        return [x for x in (traced.services.logs / "edge.log").read_text().split("\n") if request_id in x]

    (raw,) = eventually(lines, 5, f"the edge's line for {request_id}")
    for trick in TERMINAL_TRICKS:
        assert trick not in raw
    # Still the path as asked, once the line is read as the JSON it is.
    assert json.loads(raw)["route"] == "/no/such/\u009b2J\u202egnp.exe\u2028x"


def test_a_clients_user_agent_reaches_postgrests_log_without_terminal_controls(traced: Stack) -> None:
    """PostgREST writes the User-Agent into its access line as it gets it."""
    user_agent = "probe\u009b2J\u202egnp.exe\u2028x"
    sent = user_agent.encode().decode("latin-1")  # http.client sends a str's characters as bytes
    reply = request(traced.edge_url, "GET", "/rpc/list_organizations", headers={"User-Agent": sent})
    assert reply.status == 401
    request_id = reply.header("x-request-id")

    def line() -> list[str]:
        log = (traced.services.logs / "postgrest.log").read_text(errors="replace")
        return [x for x in log.split("\n") if f"urn:blossom:request:{request_id}" in x]

    (logged,) = eventually(line, 5, "PostgREST's line for the request")
    assert '"probe2Jgnp.exex"' in logged
    for trick in TERMINAL_TRICKS:
        assert trick not in logged


@pytest.mark.parametrize(
    ("path", "user_agent"),
    [
        ("/rpc/list_organizations", 'probe" "urn:blossom:request:{planted}" "Mozilla/5.0'),
        ('/rpc/get_organization?org_id=org_1"_"urn:blossom:request:{planted}', "probe"),
    ],
    ids=["user agent", "query"],
)
def test_a_client_cannot_write_another_request_id_into_postgrests_log(
    traced: Stack, path: str, user_agent: str
) -> None:
    """PostgREST writes the request line and the User-Agent into its access line between double
    quotes, as they came: a `"` in either closed its field, and the client wrote fields of its
    own after it, another request's id in the referer's place, where a reader of the log (or a
    parser that reads the fields from the end of the line) takes the request's id from."""
    planted = "6c3fd93774965aad3a6320bd9dded60d"
    reply = request(
        traced.edge_url,
        "GET",
        path.format(planted=planted),
        headers={"User-Agent": user_agent.format(planted=planted)},
    )
    assert reply.status in (400, 401), reply.body
    request_id = reply.header("x-request-id")

    def line() -> list[str]:
        log = (traced.services.logs / "postgrest.log").read_text(errors="replace")
        return [x for x in log.split("\n") if f"urn:blossom:request:{request_id}" in x]

    (logged,) = eventually(line, 5, "PostgREST's line for the request")
    fields = re.findall(r'"([^"]*)"', logged)
    assert len(fields) == 3, logged  # the request line, the referer (the request's id), the user agent
    assert fields[1] == f"urn:blossom:request:{request_id}", logged


def test_a_log_line_escapes_what_it_does_not_show_and_reads_back_the_same() -> None:
    from blossom_db.logs import encoded

    fields = {"route": "/x\u009b2J\u202e\u2028\u00a0\U000e0001\ud800é✓", "status": 404}
    line = encoded(fields)
    assert line.isprintable(), line
    assert "é✓" in line  # what shows as itself stays as it is
    assert json.loads(line) == fields
