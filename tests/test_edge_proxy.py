"""The edge in front of real PostgREST: forwarding, streaming, limits and upstream failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy.migrate import apply_stateless, drop_stateless
from ops.services import stop
from tests.support.http import request
from tests.support.stack import Stack, make_stack

# The edge takes request bodies up to 64 KiB: every RPC's arguments are names, ids and addresses,
# and a larger body only made each call dearer for the database (a 1 MiB name: 36 ms a call).
BODY_LIMIT = 64 * 1024

# RPCs that exist only in this module's database, to exercise the proxy.
PROBE_SQL = """
create function api.echo(payload jsonb) returns jsonb language sql immutable as $$ select payload $$;
create function api.request_info() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'headers', current_setting('request.headers', true)::jsonb,
    'method', current_setting('request.method', true))
$$;
create function api.two_cookies() returns void language sql volatile as $$
  select set_config('response.headers',
    '[{"Set-Cookie": "a=1; Path=/"}, {"Set-Cookie": "b=2; Path=/"}, {"X-Probe": "yes"}]', true)
$$;
create function api.numbers(n int) returns setof int language sql immutable as $$
  select generate_series(1, n)
$$;
create function api.hold(seconds float8) returns int language plpgsql stable as $$
begin
  perform pg_sleep(seconds);
  return 1;
end $$;
grant execute on function api.echo(jsonb), api.request_info(), api.two_cookies(), api.numbers(int),
  api.hold(float8) to web_anon;
"""


@pytest.fixture(scope="module")
def probe_stack(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("probe"), PROBE_SQL) as running:
        yield running


def test_healthz_answers_while_the_process_runs(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "GET", "/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}


def test_readyz_reports_postgres_and_postgrest_reachable(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "GET", "/readyz")
    assert reply.status == 200
    assert reply.json() == {"status": "ready", "checks": {"postgres": "ok", "postgrest": "ok"}}


def test_readyz_is_not_ready_while_the_stateless_layer_is_dropped(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    """Between a rollback (which drops the stateless layer first) and the next migrate, every
    call failed while /readyz answered 200, so a load balancer kept sending to a stack that
    answered nothing."""
    with make_stack(pg_server, template_database, tmp_path) as running:
        drop_stateless(running.database_url)
        reply = request(running.edge_url, "GET", "/readyz")
        assert reply.status == 503
        assert reply.json()["code"] == "edge.not_ready"
        assert reply.json()["details"] == {"postgres": "not migrated", "postgrest": "ok"}
        apply_stateless(running.database_url)
        assert request(running.edge_url, "GET", "/readyz").status == 200


def test_rpc_post_is_forwarded_with_its_json_body(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "POST", "/rpc/echo", json_body={"payload": {"a": [1, 2]}})
    assert reply.status == 200
    assert reply.json() == {"a": [1, 2]}
    assert (reply.header("content-type") or "").startswith("application/json")


def test_rpc_get_keeps_the_query_string(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "GET", "/rpc/numbers?n=3")
    assert reply.status == 200
    assert reply.json() == [1, 2, 3]


def test_upstream_errors_keep_their_status_and_body(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "POST", "/rpc/no_such_function", json_body={})
    assert reply.status == 404
    assert reply.json()["code"] == "PGRST202"


def test_repeated_response_headers_stay_repeated(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "POST", "/rpc/two_cookies", json_body={})
    assert reply.status in (200, 204)
    if reply.status == 204:
        assert reply.header("content-length") is None, "a 204 has no Content-Length (RFC 9110 8.6)"
    assert reply.all("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert reply.header("x-probe") == "yes"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/rpc/numbers?n=3"),
        ("POST", "/rpc/no_such_function"),
        ("GET", "/nowhere"),
        ("GET", "/healthz"),
    ],
)
def test_no_answer_is_stored_by_caches_or_sniffed_by_browsers(
    probe_stack: Stack, method: str, path: str
) -> None:
    """A call's answer is one user's data (its session is a cookie): no shared cache or the
    browser's own may keep it, and no browser may read it as anything but what it says it is."""
    reply = request(probe_stack.edge_url, method, path, json_body={} if method == "POST" else None)
    assert reply.header("cache-control") == "no-store"
    assert reply.header("x-content-type-options") == "nosniff"


CLIENTS_FORWARDING_HEADERS = {
    "Forwarded": "for=6.6.6.6;proto=https;host=evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Server": "evil.example",
    "X-Real-IP": "7.7.7.7",
    "X-Client-IP": "5.5.5.5",
    "True-Client-IP": "4.4.4.4",
    "CF-Connecting-IP": "3.3.3.3",
}


def test_client_sent_forwarding_headers_are_replaced_by_the_peer_address(probe_stack: Stack) -> None:
    """The edge names the client to PostgREST, in X-Forwarded-For; the other headers by which a
    proxy names a client, its host or its scheme, sent by the client itself, reached PostgREST and
    the database's request.headers as the client wrote them."""
    reply = request(
        probe_stack.edge_url,
        "POST",
        "/rpc/request_info",
        json_body={},
        headers={"X-Forwarded-For": "203.0.113.9", "X-Probe": "kept"} | CLIENTS_FORWARDING_HEADERS,
    )
    seen = reply.json()["headers"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-probe"] == "kept"
    assert sorted(set(seen) & {name.lower() for name in CLIENTS_FORWARDING_HEADERS}) == []


def test_a_large_response_streams_through_whole(probe_stack: Stack) -> None:
    reply = request(probe_stack.edge_url, "GET", "/rpc/numbers?n=200000", timeout=30)
    assert reply.status == 200
    numbers = reply.json()
    assert len(numbers) == 200000
    assert numbers[-1] == 200000


def test_a_head_of_an_answer_too_large_to_buffer_gives_its_turn_back(probe_stack: Stack) -> None:
    """A HEAD is asked of PostgREST as its GET, whose answer over the edge's buffer is streamed:
    the edge sends none of it, drops that connection to PostgREST, and gives the client's turn at
    PostgREST back, so that more HEADs than its share (4) are each answered at once."""
    for _ in range(6):
        reply = request(probe_stack.edge_url, "HEAD", "/rpc/numbers?n=200000", timeout=30, source="127.0.0.5")
        assert (reply.status, reply.body) == (200, b"")
    after = request(probe_stack.edge_url, "GET", "/rpc/numbers?n=3", source="127.0.0.5")
    assert after.json() == [1, 2, 3]


def test_a_body_just_under_the_limit_is_accepted(probe_stack: Stack) -> None:
    text = "x" * (BODY_LIMIT - 100)
    reply = request(probe_stack.edge_url, "POST", "/rpc/echo", json_body={"payload": text})
    assert reply.status == 200
    assert reply.json() == text


def test_a_declared_body_over_the_limit_is_refused_with_413(probe_stack: Stack) -> None:
    body = b'{"payload": "' + b"x" * BODY_LIMIT + b'"}'
    reply = request(
        probe_stack.edge_url, "POST", "/rpc/echo", body=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 413
    assert reply.json()["code"] == "edge.body_too_large"


def test_a_chunked_body_over_the_limit_is_refused_with_413(probe_stack: Stack) -> None:
    chunks = [b'{"payload": "'] + [b"x" * 8192] * 9 + [b'"}']
    reply = request(
        probe_stack.edge_url,
        "POST",
        "/rpc/echo",
        body=iter(chunks),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 413
    assert reply.json()["code"] == "edge.body_too_large"


def test_a_malformed_content_length_is_refused(probe_stack: Stack) -> None:
    reply = request(
        probe_stack.edge_url,
        "POST",
        "/rpc/echo",
        body=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "-2"},
    )
    assert reply.status == 400


def test_postgrest_down_gives_503_json_and_postgres_still_reported_up(
    pg_server: str, template_database: str, tmp_path: Path
) -> None:
    with make_stack(pg_server, template_database, tmp_path, PROBE_SQL) as running:
        stop(running.services.postgrest)
        reply = request(running.edge_url, "POST", "/rpc/echo", json_body={"payload": 1})
        assert reply.status == 503
        assert reply.json()["code"] == "edge.upstream_unavailable"
        assert reply.header("retry-after") == "1"
        ready = request(running.edge_url, "GET", "/readyz")
        assert ready.status == 503
        assert ready.json()["code"] == "edge.not_ready"
        assert ready.json()["details"]["postgres"] == "ok"
        assert ready.json()["details"]["postgrest"] != "ok"


def test_one_client_has_at_most_its_share_of_calls_at_postgrest(probe_stack: Stack) -> None:
    """One client's calls beyond its share (4) wait their turn at the edge instead of taking
    PostgREST's few database connections (10) from everyone else; they are all answered, and
    another client's call goes through meanwhile. (32 lock-bound writes at once from one client
    held 8 of the 10, and others' calls queued behind them.)"""
    replies: list[int] = []

    def hold() -> None:
        replies.append(request(probe_stack.edge_url, "GET", "/rpc/hold?seconds=1", source="127.0.0.3").status)

    holders = [threading.Thread(target=hold) for _ in range(8)]
    for thread in holders:
        thread.start()
    # How many of the client's calls PostgREST runs, looked at until all are answered.
    at_postgrest: list[int] = []
    other = None
    with psycopg.connect(probe_stack.database_url, autocommit=True) as conn:
        while any(thread.is_alive() for thread in holders):
            row = conn.execute(
                "select count(*)::int from pg_stat_activity"
                " where wait_event = 'PgSleep' and datname = current_database()"
            ).fetchone()
            assert row is not None
            at_postgrest.append(row[0])
            if other is None and row[0] > 0:
                other = request(
                    probe_stack.edge_url, "POST", "/rpc/echo", json_body={"payload": 1}, source="127.0.0.4"
                )
            time.sleep(0.05)
    assert 1 <= max(at_postgrest) <= 4, f"{max(at_postgrest)} of the client's calls at PostgREST at once"
    assert other is not None
    assert other.status == 200
    assert sorted(replies) == [200] * 8
