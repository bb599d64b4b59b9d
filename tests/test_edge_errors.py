"""Every answer of the edge is ours: the JSON error shape with a stable code, a 4xx where the
client is at fault, for what used to be a plain-text 500 or a framework's plain-text refusal;
and nothing but /rpc/<name> reaches PostgREST (edge/errors.py)."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from edge.app import RpcFirst
from edge.proxy import server_error
from ops.scratch import free_port
from ops.services import Endpoints, start_edge, stop, wait_http
from tests.support.auth_client import COOKIE_NAME, PASSWORD, post, signup
from tests.support.http import Reply, loopback_address, raw_exchange, request
from tests.support.stack import Stack, make_stack

ERROR_FIELDS = {"code", "message", "details", "hint"}


@pytest.fixture(scope="module")
def answers_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("answers")) as running:
        yield running


def assert_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert (reply.header("content-type") or "").startswith("application/json")
    assert set(reply.json()) == ERROR_FIELDS
    assert reply.json()["code"] == code


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nothing/here", 404, "edge.not_found"),
        ("GET", "/", 404, "edge.not_found"),
        ("DELETE", "/auth/login", 405, "edge.method_not_allowed"),
        ("PUT", "/rpc/me", 405, "edge.method_not_allowed"),
        ("POST", "/healthz", 405, "edge.method_not_allowed"),
    ],
)
def test_unknown_paths_and_methods_are_answered_in_json(
    answers_stack: Stack, method: str, path: str, status: int, code: str
) -> None:
    assert_error(request(answers_stack.edge_url, method, path), status, code)


@pytest.mark.parametrize(
    "path",
    [
        "/rpc/..",
        "/rpc/../",
        "/rpc/%2e%2e",
        "/rpc/%2E%2e/",
        "/rpc/me/..",
        "/rpc/",
        "/rpc/me/",
        "/rpc/a/b",
        "/rpc/me%00",
    ],
)
def test_only_rpc_and_a_function_name_reach_postgrest(answers_stack: Stack, path: str) -> None:
    reply = request(answers_stack.edge_url, "GET", path)
    assert_error(reply, 404, "edge.not_found")
    body = reply.body.decode()
    # PostgREST's root is its OpenAPI document, which names its own address.
    assert "swagger" not in body
    assert str(answers_stack.endpoints.postgrest_port) not in body


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login", "/auth/password-reset"])
def test_a_lone_surrogate_in_a_field_is_refused_not_a_500(answers_stack: Stack, route: str) -> None:
    body = b'{"email": "\\ud800@example.com", "password": "x\\udfffyz0123456789", "display_name": "\\ud800"}'
    reply = request(
        answers_stack.edge_url, "POST", route, body=body, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 422, "request.invalid_field")


def test_json_nested_thirty_thousand_deep_is_refused_not_a_500(answers_stack: Stack) -> None:
    body = b"[" * 30_000 + b"]" * 30_000
    reply = request(
        answers_stack.edge_url, "POST", "/auth/login", body=body, headers={"Content-Type": "application/json"}
    )
    assert_error(reply, 400, "request.invalid_json")
    nested = b'{"email": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    reply = request(
        answers_stack.edge_url,
        "POST",
        "/auth/signup",
        body=nested,
        headers={"Content-Type": "application/json"},
    )
    assert_error(reply, 400, "request.invalid_json")


def test_a_bearer_token_is_ignored_not_a_500(answers_stack: Stack) -> None:
    headers = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"}
    assert_error(
        request(answers_stack.edge_url, "GET", "/rpc/me", headers=headers), 401, "auth.not_signed_in"
    )
    account = signup(answers_stack.edge_url)
    reply = request(answers_stack.edge_url, "GET", "/rpc/me", headers=headers | account.cookie)
    assert reply.status == 200
    assert reply.json()["id"] == account.user["id"]


def test_a_request_that_is_not_http_is_answered_in_json(answers_stack: Stack) -> None:
    answer = raw_exchange(answers_stack.edge_url, b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    assert body.startswith(b'{"code":"edge.bad_request"')


@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        (b"FOO /healthz HTTP/1.1", 501, "edge.method_not_implemented"),
        (b"get /rpc/me HTTP/1.1", 501, "edge.method_not_implemented"),
        (b"BREW /auth/session HTTP/1.1", 501, "edge.method_not_implemented"),
        (b"G(T /healthz HTTP/1.1", 400, "edge.bad_request"),
        (b"\x16\x03\x01\x02\x00\x01", 400, "edge.bad_request"),
    ],
)
def test_a_method_the_edge_does_not_know_is_not_implemented(
    answers_stack: Stack, request_line: bytes, status: int, code: str
) -> None:
    """RFC 9110, 15.6.2: a method the server does not know is 501, not the client's malformed
    request: the parser knows a fixed list of methods, and answered any other 400 "not valid
    HTTP". A request line that is not a method at all (a token) stays a 400."""
    answer = raw_exchange(answers_stack.edge_url, request_line + b"\r\nHost: edge\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["code"] == code


def test_postgrest_server_errors_lose_their_details_and_a_call_past_the_timeout_ends(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A 5xx from PostgREST keeps its code and message; its details (which may quote the
    database's address or internal errors) stay behind. A call that runs past the API's
    statement timeout (5 s, sql/roles.sql) is ended by Postgres, and answered as the edge's own
    timeout: it ran on, holding one of PostgREST's connections, for as long as it took."""
    probe = """
    create function api.fail_inside() returns void language plpgsql as $$
    begin
      raise exception 'internal at host db.internal port 5432' using errcode = 'XX000',
        detail = 'connection to server at "10.1.2.3", port 5432 failed';
    end $$;
    grant execute on function api.fail_inside() to web_anon;
    create function api.run_past_the_timeout() returns void language sql as $$ select pg_sleep(8) $$;
    grant execute on function api.run_past_the_timeout() to web_anon;
    """
    logs = tmp_path_factory.mktemp("server-errors")
    with make_stack(pg_server, template_database, logs, probe) as running:
        direct = request(running.postgrest_url, "POST", "/rpc/fail_inside", json_body={})
        assert direct.status == 500
        assert "10.1.2.3" in direct.body.decode()
        reply = request(running.edge_url, "POST", "/rpc/fail_inside", json_body={})
        assert_error(reply, 500, "XX000")
        assert reply.json()["details"] is None
        assert "10.1.2.3" not in reply.body.decode()
        started = time.monotonic()
        ended = request(running.edge_url, "POST", "/rpc/run_past_the_timeout", json_body={}, timeout=30)
        assert_error(ended, 504, "edge.upstream_timeout")
        assert time.monotonic() - started < 7.5, "Postgres ended it, not the sleep's own end"


def test_postgrest_answers_of_a_database_outage_have_the_edges_stable_codes(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """PostgREST answers 503 with its own or Postgres's code when the database is out of reach
    or out of resources (PGRST000, PGRST001: the connection lost; 57P01: shutting down; 53300: no
    connection slot left ...). Each is the edge's one retryable 503 edge.database_unavailable,
    which every RPC's error union holds: passed on as they came, the generated client answered
    them client.unexpected, as it answers a bug, and a caller could not tell an outage to wait
    out from a failure to report."""
    probe = """
    create function api.lose_the_connection() returns void language plpgsql security definer as $$
    begin perform pg_terminate_backend(pg_backend_pid()); end $$;
    create function api.out_of_slots() returns void language plpgsql as $$
    begin raise exception 'sorry, too many clients already' using errcode = '53300'; end $$;
    create function api.shutting_down() returns void language plpgsql as $$
    begin raise exception 'terminating connection' using errcode = '57P01'; end $$;
    grant execute on function api.lose_the_connection(), api.out_of_slots(), api.shutting_down() to web_anon;
    """
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("outage"), probe) as running:
        with psycopg.connect(running.database_url, autocommit=True) as admin:
            # A superuser's, to end its own backend, which is PostgREST's connection.
            admin.execute("alter function api.lose_the_connection() owner to current_user")
        for function, upstream_code in [
            ("lose_the_connection", "PGRST001"),
            ("out_of_slots", "53300"),
            ("shutting_down", "57P01"),
        ]:
            direct = request(running.postgrest_url, "POST", f"/rpc/{function}", json_body={})
            assert (direct.status, direct.json()["code"]) == (503, upstream_code)
            reply = request(running.edge_url, "POST", f"/rpc/{function}", json_body={})
            assert_error(reply, 503, "edge.database_unavailable")
            assert reply.header("retry-after") == "1"
            assert reply.json()["details"] == {"upstream_code": upstream_code}


def test_a_head_is_answered_with_the_status_and_code_of_its_get(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A HEAD of a function that reads is its GET without the body. PostgREST answers a HEAD
    with no body, errors included, so the edge could not read the code of a failure: a read
    ended by an outage, a deadlock or the statement timeout was a HEAD's 502 edge.bad_gateway
    (no Retry-After) where its GET was the 503 or 504 to wait out, and a read of a scalar was not
    run at all (200)."""
    probe = """
    create function api.probe_read_out_of_slots() returns setof api.organization
    language plpgsql stable as $$
    begin raise exception 'sorry, too many clients already' using errcode = '53300'; end $$;
    create function api.probe_read_deadlock() returns setof api.organization
    language plpgsql stable as $$
    begin raise exception 'deadlock detected' using errcode = '40P01'; end $$;
    create function api.probe_read_scalar() returns integer language plpgsql stable as $$
    begin raise exception 'sorry, too many clients already' using errcode = '53300'; end $$;
    grant execute on function api.probe_read_out_of_slots(), api.probe_read_deadlock(),
      api.probe_read_scalar() to web_anon;
    """
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("head"), probe) as running:
        for path in [
            "/rpc/probe_read_out_of_slots",
            "/rpc/probe_read_deadlock",
            "/rpc/probe_read_scalar",
            "/rpc/get_organization?org_id=org_00000000000000000000000000",
            "/rpc/me",
        ]:
            got = request(running.edge_url, "GET", path)
            head = request(running.edge_url, "HEAD", path)
            assert head.body == b""
            assert (head.status, head.header("retry-after"), head.header("content-length")) == (
                got.status,
                got.header("retry-after"),
                str(len(got.body)),
            ), path
            assert head.header("content-type") == got.header("content-type"), path


def test_an_rpc_ended_by_a_deadlock_or_a_lock_wait_is_answered_as_an_auth_call_is(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Postgres ends a call it chose to break a deadlock with (40P01) or one past its lock timeout
    (55P03): a state that passes, which an /auth call answers 503 edge.database_unavailable, to
    try again. PostgREST answers each 500 with Postgres's code, and the edge passed that on: an
    undeclared code, which the generated client answers client.unexpected, as it answers a bug.
    (A serialization failure, 40001, PostgREST tries again itself.)"""
    probe = """
    create function api.probe_deadlock() returns void language plpgsql as $$
    begin raise exception 'deadlock detected' using errcode = '40P01'; end $$;
    create function api.probe_lock_timeout() returns void language plpgsql as $$
    begin raise exception 'canceling statement due to lock timeout' using errcode = '55P03'; end $$;
    grant execute on function api.probe_deadlock(), api.probe_lock_timeout() to web_anon;
    """
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("transient"), probe) as running:
        for function, upstream_code in [
            ("probe_deadlock", "40P01"),
            ("probe_lock_timeout", "55P03"),
        ]:
            direct = request(running.postgrest_url, "POST", f"/rpc/{function}", json_body={})
            assert direct.json()["code"] == upstream_code
            reply = request(running.edge_url, "POST", f"/rpc/{function}", json_body={})
            assert_error(reply, 503, "edge.database_unavailable")
            assert reply.header("retry-after") == "1"
            assert reply.json()["details"] == {"upstream_code": upstream_code}


def test_an_auth_call_failing_in_the_database_is_told_from_an_outage_in_the_log(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An /auth call that Postgres fails with an OperationalError that is no lost connection (a
    deadlock here; a statement or lock timeout alike) is answered as an outage is, 503 to try
    again, but logged with its SQLSTATE: it was answered without a line, and an operator
    chasing 503s looked for a database that was up."""
    deadlock = """
    create function app.probe_deadlock() returns trigger language plpgsql as $$
    begin raise exception 'deadlock detected' using errcode = '40P01'; end $$;
    create trigger probe_deadlock before insert on app.sessions
      for each row when (new.user_agent = 'probe-deadlock') execute function app.probe_deadlock();
    """
    logs = tmp_path_factory.mktemp("auth-failure")
    with make_stack(pg_server, template_database, logs, deadlock) as running:
        account = signup(running.edge_url)
        reply = post(
            running.edge_url,
            "/auth/login",
            {"email": account.email, "password": PASSWORD},
            headers={"User-Agent": "probe-deadlock"},
        )
        assert_error(reply, 503, "edge.database_unavailable")
        logged = [
            json.loads(line)
            for line in (running.logs / "edge.log").read_text().splitlines()
            if "40P01" in line
        ]
        assert [entry["level"] for entry in logged] == ["error"], logged


def test_postgrest_timing_out_on_its_own_pool_is_the_edges_busy_answer() -> None:
    """PGRST003: PostgREST waited db-pool-acquisition-timeout for a connection to Postgres and
    ran nothing; the same for the client as the edge's own wait for one to PostgREST."""
    body = {"code": "PGRST003", "message": "Timed out acquiring connection from connection pool."}
    answer = server_error(504, json.dumps(body | {"details": None, "hint": None}).encode())
    assert answer.status_code == 503
    assert json.loads(bytes(answer.body))["code"] == "edge.upstream_busy"
    assert answer.headers["retry-after"] == "1"


# What PostgREST 12.0.2 answered, seen under `./dev up`, to the calls under way when Postgres
# stopped at once (`pg_ctl stop -m immediate`, a crash): libpq's own error for the lost
# connection, which carries no SQLSTATE, becomes PostgREST's 400 with an empty code.
POSTGREST_LOST_MID_CALL = b'{"code":"","details":null,"hint":null,"message":""}'


class ScriptedPostgrest(http.server.BaseHTTPRequestHandler):
    """Answers every call as PostgREST did when Postgres went away in the middle of it."""

    status = 400

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(POSTGREST_LOST_MID_CALL)))
        self.end_headers()
        self.wfile.write(POSTGREST_LOST_MID_CALL)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize("status", [400, 500])
def test_a_call_whose_database_connection_was_lost_mid_way_is_the_outage_answer(
    tmp_path: Path, status: int
) -> None:
    """PostgREST answers a call whose connection to Postgres ended under it (Postgres stopped at
    once, or crashed) with 400 and an empty code and message, which the edge passed on: a client
    was told it had sent a bad request, with no code to act on, while the database restarted.
    It is the edge's retryable 503 edge.database_unavailable, as for PostgREST's other answers
    of a database out of reach."""
    handler = type("Scripted", (ScriptedPostgrest,), {"status": status})
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    endpoints = replace(
        Endpoints.on_free_ports(f"postgresql://postgres@127.0.0.1:{free_port()}/blossom"),
        postgrest_port=fake.server_address[1],
    )
    edge = start_edge(endpoints, tmp_path / "edge.log")
    try:
        wait_http(f"{endpoints.edge_url}/healthz", edge)
        reply = request(endpoints.edge_url, "POST", "/rpc/me", json_body={})
        assert_error(reply, 503, "edge.database_unavailable")
        assert reply.header("retry-after") == "1"
    finally:
        stop(edge)
        fake.shutdown()
        fake.server_close()


def test_a_database_setting_not_of_its_type_is_a_server_error_naming_it(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An operator's `alter database … set app.settings.<name> = 'lots'` for a number is the
    server's fault, answered 500 server.invalid_setting naming the setting, by PostgREST and the
    edge's /rpc and /auth routes alike. Its cast failed with Postgres's 22P02, which PostgREST
    answered 400, blaming the caller, and which /auth answered 500 edge.internal_error: neither
    named the setting."""
    settings = {"organizations_per_user_per_day": "lots", "logins_per_account_per_hour": "lots"}
    with make_stack(
        pg_server, template_database, tmp_path_factory.mktemp("bad-setting"), database_settings=settings
    ) as running:
        account = signup(running.edge_url)
        message = "app.settings.organizations_per_user_per_day must be a whole number, not 'lots'"
        direct = request(
            running.postgrest_url,
            "POST",
            "/rpc/create_organization",
            json_body={"name": "Acme"},
            headers={"X-Blossom-Session": account.token},
        )
        assert (direct.status, direct.json()["code"], direct.json()["message"]) == (
            500,
            "server.invalid_setting",
            message,
        )
        reply = post(running.edge_url, "/rpc/create_organization", {"name": "Acme"}, headers=account.cookie)
        assert_error(reply, 500, "server.invalid_setting")
        assert reply.json()["message"] == message
        assert reply.header("retry-after") is None, "waiting does not mend a setting"
        login = post(running.edge_url, "/auth/login", {"email": account.email, "password": PASSWORD})
        assert_error(login, 500, "server.invalid_setting")
        assert login.json()["message"] == (
            "app.settings.logins_per_account_per_hour must be a whole number, not 'lots'"
        )


def test_a_503_of_our_own_keeps_its_code() -> None:
    """A function's own 503 (util.raise_error: api.delete_organization's org.busy, which its
    error union declares) is an answer of ours, not the database out of reach: it keeps its
    code and message, and says when to try again."""
    body = {"code": "org.busy", "message": "The organization is being worked on; try again in a moment."}
    answer = server_error(503, json.dumps(body | {"details": None, "hint": None}).encode())
    assert answer.status_code == 503
    assert {k: v for k, v in json.loads(bytes(answer.body)).items() if k in body} == body
    assert answer.headers["retry-after"] == "1"


def test_readyz_does_not_name_the_database_host_or_port(answers_stack: Stack, pg_server: str) -> None:
    reply = request(answers_stack.edge_url, "GET", "/readyz")
    assert reply.status == 200
    assert str(urlsplit(pg_server).port) not in reply.body.decode()


def test_login_rotates_the_session_the_browser_had(answers_stack: Stack) -> None:
    planted = signup(answers_stack.edge_url)
    victim = signup(answers_stack.edge_url)
    reply = post(
        answers_stack.edge_url, "/auth/login", {"email": victim.email, "password": PASSWORD}, planted.cookie
    )
    assert reply.status == 200
    assert_error(
        request(answers_stack.edge_url, "GET", "/auth/session", headers=planted.cookie),
        401,
        "auth.not_signed_in",
    )


def test_a_query_string_that_is_not_utf8_is_refused_not_a_502(answers_stack: Stack) -> None:
    assert_error(request(answers_stack.edge_url, "GET", "/rpc/me?a=%ff"), 400, "edge.bad_request")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/rpc/update_profile", {f"made_up_parameter_{n}": n for n in range(65)}),
        ("POST", "/rpc/update_profile", {"p" * 64: 1}),
        ("GET", "/rpc/me?" + "&".join(f"made_up_{n}=1" for n in range(65)), None),
        ("GET", "/rpc/me?" + "q" * 64 + "=1", None),
        ("GET", "/rpc/me?" + ";".join(f"made_up_{n}=1" for n in range(65)), None),
        ("GET", "/rpc/me?x=1;" + "q" * 64 + "=1", None),
    ],
)
def test_more_parameters_than_a_function_can_have_are_refused(
    answers_stack: Stack, method: str, path: str, body: object
) -> None:
    """PostgREST looks for the closest function for every made-up name: 100 of them cost it
    0.9 s, 2,000 over 30 s. No function has over 64 parameters or a name over 63 bytes."""
    started = time.monotonic()
    reply = request(answers_stack.edge_url, method, path, json_body=body)
    assert_error(reply, 400, "edge.bad_request")
    assert time.monotonic() - started < 1


COLUMNS = ",".join(f"c{n}" for n in range(3500))


@pytest.mark.parametrize(
    "query",
    [f"select={COLUMNS}", f"order={COLUMNS}", f"or=({','.join(f'c{n}.eq.1' for n in range(2000))})"],
)
def test_a_query_string_too_long_to_be_a_call_is_refused(answers_stack: Stack, query: str) -> None:
    """PostgREST's parsing of select, order and filters grows with the square of their length:
    3,500 columns in `select` (20 KB) kept it busy for 15 s before it answered 400."""
    started = time.monotonic()
    reply = request(answers_stack.edge_url, "GET", f"/rpc/me?{query}")
    assert_error(reply, 414, "edge.query_too_long")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "query",
    ["limit=0", "offset=5", "select=id", "order=id.desc", "columns=id", "on_conflict=id", "or=(id.eq.1)",
     "and=(id.eq.1)", "not.or=(id.is.null,id.not.is.null)", "actors.limit=1", "x=1;limit=0"],
)  # fmt: skip
def test_postgrest_query_options_are_no_part_of_a_call(answers_stack: Stack, query: str) -> None:
    """PostgREST takes these names for itself: GET /rpc/list_audit_events?limit=0 answered
    200 [] without the function ever seeing its `limit` (which refuses 0)."""
    reply = request(answers_stack.edge_url, "GET", f"/rpc/list_audit_events?org_id=org_x&{query}")
    assert_error(reply, 400, "edge.bad_request")
    assert query.split(";")[-1].split("=")[0] in reply.json()["message"]


@pytest.mark.parametrize("query", ["role=owner", "org_id=org_x", "flag"])
def test_a_post_takes_no_query_string(answers_stack: Stack, query: str) -> None:
    """A POST's arguments are its body: PostgREST read its query as filters on the function's
    rows, and answered a plain name and value with its own PGRST100."""
    account = signup(answers_stack.edge_url)
    headers = {"Origin": answers_stack.edge_url} | account.cookie
    reply = request(
        answers_stack.edge_url, "POST", f"/rpc/list_organizations?{query}", json_body={}, headers=headers
    )
    assert_error(reply, 400, "edge.bad_request")
    assert "query string" in reply.json()["message"]


@pytest.mark.parametrize("prefer", ["tx=rollback", "tx=rollback, handling=strict", "params=single-object"])
def test_prefer_is_no_part_of_a_call(answers_stack: Stack, prefer: str) -> None:
    """Prefer: tx=rollback asked for a dry run and got a commit (PostgREST honours it only when
    configured to); the API's calls take no preferences."""
    account = signup(answers_stack.edge_url)
    headers = {"Prefer": prefer, "Origin": answers_stack.edge_url} | account.cookie
    reply = request(
        answers_stack.edge_url,
        "POST",
        "/rpc/update_profile",
        json_body={"display_name": "Dry"},
        headers=headers,
    )
    assert_error(reply, 400, "edge.bad_request")
    me = request(answers_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert me.json()["display_name"] != "Dry"


@pytest.mark.parametrize("header", [{"Range": "0-0"}, {"Range-Unit": "items", "Range": "1-"}])
def test_range_is_no_part_of_a_call(answers_stack: Stack, header: dict[str, str]) -> None:
    """Range: 0-0 answered the first of a function's rows (PostgREST's paging), past its own
    arguments, as `limit` in the query did."""
    account = signup(answers_stack.edge_url)
    reply = request(answers_stack.edge_url, "GET", "/rpc/list_organizations", headers=header | account.cookie)
    assert_error(reply, 400, "edge.bad_request")
    assert "Range" in reply.json()["message"]


@pytest.mark.parametrize(
    ("method", "header"),
    [("GET", "Accept-Profile"), ("POST", "Content-Profile"), ("POST", "Accept-Profile")],
)
def test_a_schema_profile_is_no_part_of_a_call(answers_stack: Stack, method: str, header: str) -> None:
    """PostgREST's headers that pick another schema than `api` were answered with its own 406
    PGRST106, a code no API document lists (the generated client read client.unexpected)."""
    account = signup(answers_stack.edge_url)
    headers = {header: "app", "Origin": answers_stack.edge_url} | account.cookie
    body = {"display_name": "Profiled"} if method == "POST" else None
    path = "/rpc/update_profile" if method == "POST" else "/rpc/me"
    reply = request(answers_stack.edge_url, method, path, json_body=body, headers=headers)
    assert_error(reply, 400, "edge.bad_request")
    assert header in reply.json()["message"]
    me = request(answers_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert me.json()["display_name"] != "Profiled"


def test_an_array_body_is_no_call(answers_stack: Stack) -> None:
    """PostgREST called the function with the first element and dropped the rest, silently."""
    account = signup(answers_stack.edge_url)
    headers = {"Origin": answers_stack.edge_url} | account.cookie
    bulk = [{"name": "Bulk One"}, {"name": "Bulk Two"}]
    reply = request(
        answers_stack.edge_url, "POST", "/rpc/create_organization", json_body=bulk, headers=headers
    )
    assert_error(reply, 400, "edge.bad_request")
    mine = request(answers_stack.edge_url, "POST", "/rpc/list_organizations", json_body={}, headers=headers)
    assert mine.json() == []


def test_a_query_string_at_the_limit_still_reaches_postgrest(answers_stack: Stack) -> None:
    query = "org_id=" + "x" * (2048 - len("org_id="))
    assert len(query) == 2048
    account = signup(answers_stack.edge_url)
    reply = request(answers_stack.edge_url, "GET", f"/rpc/list_members?{query}", headers=account.cookie)
    assert not reply.json()["code"].startswith("edge."), reply.body


@pytest.mark.parametrize("header", ["User-Agent", "Accept", "Accept-Language", "X-Anything"])
def test_a_header_that_is_not_utf8_is_a_bad_request_not_a_502(answers_stack: Stack, header: str) -> None:
    """PostgREST answers a plain-text 500 to a header value that is not UTF-8."""
    reply = request(answers_stack.edge_url, "GET", "/rpc/me", headers={header: "caf\xe9"})
    assert_error(reply, 400, "edge.bad_request")


ENCODED_BODY_CASES = [
    pytest.param("gzip", gzip.compress(b'{"display_name": "Zipped"}'), id="gzip"),
    pytest.param("gzip", b'{"display_name": "Not zipped"}', id="gzip named, plain body"),
    pytest.param("br", b'{"display_name": "Not zipped"}', id="br"),
    pytest.param("identity, gzip", gzip.compress(b'{"display_name": "Zipped"}'), id="a list"),
]


@pytest.mark.parametrize(("encoding", "body"), ENCODED_BODY_CASES)
@pytest.mark.parametrize("path", ["/rpc/update_profile", "/auth/login"])
def test_a_body_in_a_content_encoding_is_refused_415(
    answers_stack: Stack, path: str, encoding: str, body: bytes
) -> None:
    """The edge reads no content coding: a gzip body was answered 400, as if it were not JSON,
    and a plain one that named gzip was read as plain. RFC 9110 (15.5.16): 415, and (RFC 7694)
    Accept-Encoding says the body may be sent in none."""
    account = signup(answers_stack.edge_url)
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding} | account.cookie
    reply = request(answers_stack.edge_url, "POST", path, body=body, headers=headers)
    assert_error(reply, 415, "edge.unsupported_encoding")
    assert reply.header("accept-encoding") == "identity"
    me = request(answers_stack.edge_url, "GET", "/rpc/me", headers=account.cookie)
    assert me.json()["display_name"] == account.user["display_name"]


@pytest.mark.parametrize("path", ["/rpc/update_profile", "/auth/login"])
def test_a_body_in_a_transfer_coding_besides_chunked_is_refused_501(answers_stack: Stack, path: str) -> None:
    """The parser takes a chunked body's framing off, and no other transfer coding: a gzip one
    was read as it came, answered 400 as if it were not JSON (RFC 9112, 6.1: 501)."""
    account = signup(answers_stack.edge_url)
    zipped = gzip.compress(b'{"display_name": "Zipped"}')
    head = (
        f"POST {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Cookie: {account.cookie['Cookie']}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    )
    answer = raw_exchange(
        answers_stack.edge_url, head.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(zipped), zipped)
    )
    status_line, _, body = answer.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 501"), answer
    assert json.loads(body)["code"] == "edge.unsupported_transfer_coding"


def test_a_body_named_identity_is_read_as_it_is(answers_stack: Stack) -> None:
    account = signup(answers_stack.edge_url)
    headers = {"Content-Encoding": "identity"} | account.cookie
    reply = post(answers_stack.edge_url, "/rpc/update_profile", {"display_name": "Identity"}, headers)
    assert reply.status == 200, reply.body
    assert reply.json()["display_name"] == "Identity"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"email": "someone@example.com"}'.encode("utf-16"), id="UTF-16"),
        pytest.param('{"email": "someone@example.com"}'.encode("utf-16-le"), id="UTF-16 without a BOM"),
        pytest.param('{"email": "someone@example.com"}'.encode("utf-32"), id="UTF-32"),
        pytest.param(b'\xef\xbb\xbf{"email": "someone@example.com"}', id="UTF-8 after a BOM"),
        pytest.param(b'{"email": "someone@example.com", "extra": NaN}', id="NaN"),
        pytest.param(b'{"email": "someone@example.com", "extra": -Infinity}', id="Infinity"),
        pytest.param(b'{"email": "first@example.com", "email": "someone@example.com"}', id="a name twice"),
    ],
)
def test_an_auth_body_is_json_in_utf8_as_a_calls_is(answers_stack: Stack, body: bytes) -> None:
    """Python's json reads UTF-16 and UTF-32, a byte order mark and NaN, and keeps the last of
    a name given twice; /rpc refused all of these (PostgREST reads none), /auth took them."""
    reply = request(
        answers_stack.edge_url,
        "POST",
        "/auth/password-reset",
        body=body,
        headers={"Content-Type": "application/json"},
        source=loopback_address(),
    )
    assert_error(reply, 400, "request.invalid_json")


@pytest.mark.parametrize("digits", [4300, 4301, 60_000])
def test_an_auth_field_that_is_a_long_number_is_a_field_that_is_no_string(
    answers_stack: Stack, digits: int
) -> None:
    """An integer of any length is JSON, which /rpc reads as such; /auth read it with Python's
    int(), which refuses one of over 4,300 digits, and answered a body PostgREST and /rpc take
    400 request.invalid_json, "not JSON", where a number of 4,300 was 422 request.invalid_field."""
    reply = request(
        answers_stack.edge_url,
        "POST",
        "/auth/password-reset",
        body=b'{"email": ' + b"9" * digits + b"}",
        headers={"Content-Type": "application/json"},
        source=loopback_address(),
    )
    assert_error(reply, 422, "request.invalid_field")
    assert reply.json()["details"] == {"field": "email"}


def _status_with_headers(base_url: str, path: str, header_lines: list[str]) -> int:
    """The status of a GET sent with exactly these header lines (two Cookie lines stay two)."""
    head = f"GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n"
    head += "".join(f"{line}\r\n" for line in header_lines)
    answer = raw_exchange(base_url, (head + "\r\n").encode())
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "cookies",
    [
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME}=", f"X-Blossom-Session: {valid}"],
        lambda valid, revoked: [f'Cookie: {COOKIE_NAME}="{valid}"'],
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME} = {valid}"],
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME}={revoked}", f"Cookie: {COOKIE_NAME}={valid}"],
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME}={valid}", f"Cookie: {COOKIE_NAME}={revoked}"],
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME}={revoked}; {COOKIE_NAME}={valid}"],
        lambda valid, revoked: [f"Cookie: {COOKIE_NAME}={valid}; {COOKIE_NAME}={revoked}"],
    ],
    ids=["empty-then-header", "quoted", "spaced", "revoked-line-first", "valid-line-first",
         "revoked-pair-first", "valid-pair-first"],
)  # fmt: skip
def test_the_edge_and_the_rpcs_take_the_same_session_from_a_request(
    answers_stack: Stack, cookies: Callable[[str, str], list[str]]
) -> None:
    """A request that the edge's routes took for one session and the RPCs for another (or none)
    was told it is signed in while every call answered 401, and its logout could end another
    session than the one its calls used."""
    edge = answers_stack.edge_url
    gone = signup(edge)
    assert post(edge, "/auth/logout", {}, gone.cookie).status == 204
    valid = signup(edge)
    lines = cookies(valid.token, gone.token)
    assert _status_with_headers(edge, "/auth/session", lines) == _status_with_headers(edge, "/rpc/me", lines)


def test_a_cookie_that_is_no_token_is_no_session_not_a_500(answers_stack: Stack) -> None:
    headers = {"Cookie": 'blossom_session="a\\000b"; blossom_session_device="a\\000b"'}
    assert_error(
        request(answers_stack.edge_url, "GET", "/auth/session", headers=headers), 401, "auth.not_signed_in"
    )
    reply = post(answers_stack.edge_url, "/auth/logout", {}, headers)
    assert reply.status == 204
    reply = post(
        answers_stack.edge_url, "/auth/login", {"email": "x@example.com", "password": "wrong!"}, headers
    )
    assert_error(reply, 401, "auth.invalid_credentials")


@pytest.mark.parametrize("path", ["/auth/login/", "/healthz/", "/readyz/"])
def test_a_trailing_slash_is_not_found_not_redirected(answers_stack: Stack, path: str) -> None:
    reply = request(answers_stack.edge_url, "GET", path, headers={"Host": "evil.example"})
    assert_error(reply, 404, "edge.not_found")
    assert reply.header("location") is None


def _drive(app: RpcFirst) -> tuple[list[dict[str, object]], BaseException | None]:
    """One GET /rpc/me through `app` in-process: the messages it sent, and what it raised."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and message.get("more_body"):
            raise ConnectionResetError("the client went away")

    scope = {"type": "http", "method": "GET", "path": "/rpc/me", "raw_path": b"/rpc/me", "headers": []}
    scope |= {"query_string": b"", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "scheme": "http"}
    try:
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - what it raised is the finding
        return sent, error
    return sent, None


def test_an_rpc_endpoint_that_fails_before_answering_gives_a_json_500() -> None:
    async def failing(_request: Request) -> Response:
        raise RuntimeError("a bug")

    sent, raised = _drive(RpcFirst(failing, routes=PlainTextResponse("unused")))
    assert raised is None
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"])["code"] == "edge.internal_error"  # type: ignore[arg-type]


def test_an_answer_that_fails_under_way_is_not_followed_by_another() -> None:
    class Streamed(Response):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"[1,", "more_body": True})

    async def streaming(_request: Request) -> Response:
        return Streamed()

    sent, raised = _drive(RpcFirst(streaming, routes=PlainTextResponse("unused")))
    assert isinstance(raised, ConnectionResetError)
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]


@pytest.mark.parametrize(
    "accept",
    [
        "application/json;q=0",
        "application/json; q=0.000",
        "text/csv",
        # The most specific range that matches a type says its weight (RFC 9110, 12.5.1): JSON
        # refused by name is refused, whatever a wildcard beside it admits.
        "application/json;q=0, */*",
        "application/json;q=0, application/*;q=0.5",
        "*/*;q=0",
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/auth/session"), ("POST", "/auth/login"), ("POST", "/ext/ai/org-summary"), ("GET", "/rpc/me")],
)
def test_an_accept_that_refuses_json_is_answered_406(
    answers_stack: Stack, accept: str, method: str, path: str
) -> None:
    """The edge answers JSON and nothing else: the /auth and /ext routes answered a client that
    refused JSON (Accept: application/json;q=0) with JSON and 200 or 401 as if it had asked for
    it, and /rpc took a wildcard beside JSON refused by name as JSON admitted. Refused before
    the request's work: a login so refused signs no one in."""
    account = signup(answers_stack.edge_url)
    headers = {"Accept": accept} | account.cookie
    body = {"email": account.email, "password": PASSWORD} if path == "/auth/login" else {}
    reply = request(
        answers_stack.edge_url, method, path, json_body=body if method == "POST" else None, headers=headers
    )
    assert_error(reply, 406, "edge.not_acceptable")
    assert reply.header("set-cookie") is None


@pytest.mark.parametrize(
    "accept",
    ["application/json", "*/*", "application/*;q=0.1", "text/html, */*;q=0.8", "*/*;q=0, application/json"],
)
@pytest.mark.parametrize("path", ["/auth/session", "/rpc/me"])
def test_an_accept_that_admits_json_is_answered(answers_stack: Stack, accept: str, path: str) -> None:
    account = signup(answers_stack.edge_url)
    reply = request(answers_stack.edge_url, "GET", path, headers={"Accept": accept} | account.cookie)
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/auth/login", "POST, OPTIONS"),
        ("/auth/session", "GET, HEAD, OPTIONS"),
        ("/ext/slack/connect", "POST, OPTIONS"),
        ("/ext/ai/org-summary", "POST, OPTIONS"),
        ("/rpc/create_organization", "POST, OPTIONS"),
        ("/rpc/me", "GET, HEAD, POST, OPTIONS"),
        ("/healthz", "GET, HEAD, OPTIONS"),
        ("/readyz", "GET, HEAD, OPTIONS"),
        ("/metrics", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_says_which_methods_a_route_takes(answers_stack: Stack, path: str, allowed: str) -> None:
    """RFC 9110, 9.3.7: OPTIONS asks what a resource takes. /rpc answered it 204 with Allow, but
    /auth and /ext answered 405, and their 405s named no OPTIONS in Allow. Each answers as /rpc
    does now, and a method it does not take names the same list. So do the operators' routes
    (/healthz, /readyz, /metrics), whose 405s named their methods in a set's order."""
    reply = request(answers_stack.edge_url, "OPTIONS", path)
    assert (reply.status, reply.header("allow"), reply.body) == (204, allowed, b"")
    other = request(answers_stack.edge_url, "PUT", path)
    assert_error(other, 405, "edge.method_not_allowed")
    assert other.header("allow") == allowed


def test_options_of_an_unknown_path_is_not_found(answers_stack: Stack) -> None:
    assert_error(request(answers_stack.edge_url, "OPTIONS", "/auth/nothing"), 404, "edge.not_found")
    assert_error(request(answers_stack.edge_url, "OPTIONS", "/nothing"), 404, "edge.not_found")
    assert_error(request(answers_stack.edge_url, "OPTIONS", "/rpc/a/b"), 404, "edge.not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/auth%2Fsession",
        "/auth%2fsession",
        "/auth/sessio%6e",
        "/%61uth/session",
        "/ext%2Fai/org-summary",
        "/healthz%2F",
        "/metric%73",
    ],
)
def test_an_escape_in_the_path_of_a_route_of_the_edge_names_nothing(answers_stack: Stack, path: str) -> None:
    """Starlette routes by the path decoded: `/auth%2Fsession` was GET /auth/session, though an
    escaped slash is no slash (RFC 3986, 2.2), and a proxy in front that routes, limits or
    refuses by the path as sent (`/auth/`, `/metrics`) was passed by one that escapes a letter of
    it. Each of the edge's own routes is its path as sent, as `/rpc/<name>` is."""
    account = signup(answers_stack.edge_url)
    method = "POST" if path.startswith("/ext") else "GET"
    reply = request(
        answers_stack.edge_url,
        method,
        path,
        json_body={} if method == "POST" else None,
        headers=account.cookie,
    )
    assert_error(reply, 404, "edge.not_found")
