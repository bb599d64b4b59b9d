"""Clients that send slowly, or too much at once, hold nothing that other clients need: the
server's deadlines and connection limit (edge/server.py), and the requests at once per client
and in all (edge/limits.py).

Each test opens raw sockets from its own loopback address (127.0.0.x): the edge counts requests
per client address, and a different source is a different client.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import pytest

from edge.server import ChunkedFraming
from tests.support.auth_client import signup
from tests.support.http import Reply, loopback_address, request
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually

SLOW_RPC = """
create function api.slow(seconds float) returns integer language sql volatile as $$
  select 1 from pg_sleep(seconds)
$$;
create function api.big(bytes int) returns text language sql immutable as $$ select repeat('x', bytes) $$;
grant execute on function api.slow(float), api.big(int) to web_anon;
"""


@contextmanager
def connected(base_url: str, source: str) -> Iterator[socket.socket]:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10, source_address=(source, 0))
    try:
        yield sock
    finally:
        sock.close()


def start_slow_post(sock: socket.socket, path: str = "/rpc/update_profile") -> None:
    """The head of a chunked POST and the first byte of its body; the rest never comes."""
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n".encode()
    )


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the body of the answer on a socket (read to the end of its body)."""
    status, _headers, body = whole_answer_of(sock)
    return status, body


def whole_answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, the headers (names in lower case) and the body of the answer on a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return int(status_line.split(" ", 2)[1]), headers, body


def answers_until_closed(sock: socket.socket) -> list[tuple[int, bytes | str]]:
    """Every answer on a socket until it closes, in order: each one's status, and its body, or
    the code of an error."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    answers: list[tuple[int, bytes | str]] = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head)[1])  # type: ignore[index]
        body, data = rest[:length], rest[length:]
        status = int(head.split(b" ", 2)[1])
        answers.append((status, json.loads(body)["code"] if status >= 400 else body))
    return answers


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False


def test_three_hundred_trickling_bodies_leave_rpc_answering_within_a_second(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with make_stack(pg_server, template_database, tmp_path_factory.mktemp("slowloris")) as stack:
        account = signup(stack.edge_url)
        with ExitStack() as sockets:
            for _ in range(300):
                sock = sockets.enter_context(connected(stack.edge_url, "127.0.0.2"))
                start_slow_post(sock)
            time.sleep(0.5)  # every one of them is in the edge by now
            started = time.monotonic()
            reply = request(stack.edge_url, "GET", "/rpc/me", headers=account.cookie, timeout=5)
            elapsed = time.monotonic() - started
            assert reply.status == 200, reply.body
            assert reply.json()["id"] == account.user["id"]
            assert elapsed < 1.0, f"GET /rpc/me took {elapsed:.2f} s beside 300 slow clients"
            anonymous = request(
                stack.edge_url, "POST", "/rpc/update_profile", json_body={"display_name": "x"}
            )
            assert (anonymous.status, anonymous.json()["code"]) == (401, "auth.not_signed_in")


def test_answers_streamed_to_a_slow_reader_hold_no_more_than_its_share_of_postgrest(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An answer over the edge's buffer (1 MiB) is read from PostgREST no faster than its client
    takes it, on one of the edge's connections to PostgREST. One client that asked for two and
    read neither held both connections, and everyone else was answered 503 edge.upstream_busy;
    its second waits for its share now (429 past the wait), and another client is answered."""
    settings = {
        "BLOSSOM_EDGE_UPSTREAM_CONNECTIONS": "2",
        "BLOSSOM_EDGE_CLIENT_UPSTREAM_SHARE": "1",
        # Longer than PostgREST takes to begin such an answer, so that the second is not refused
        # only because the first's had not begun.
        "BLOSSOM_EDGE_UPSTREAM_WAIT": "5",
    }
    logs = tmp_path_factory.mktemp("slow_reader")
    with (
        make_stack(pg_server, template_database, logs, SLOW_RPC, settings=settings) as stack,
        ExitStack() as held,
    ):
        parts = urlsplit(stack.edge_url)
        readers = []
        for _ in range(2):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            # A small window, so that the answer stays in the edge rather than in this socket.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind(("127.0.0.42", 0))
            sock.settimeout(10)
            sock.connect((parts.hostname, parts.port))
            sock.sendall(b"GET /rpc/big?bytes=5000000 HTTP/1.1\r\nHost: edge\r\n\r\n")
            readers.append(sock)
            time.sleep(1)  # in the edge by now, and the answer begun
        other = request(stack.edge_url, "GET", "/rpc/slow?seconds=0", source="127.0.0.43")
        assert other.status == 200, other.body
        statuses = [int(sock.recv(64).split(b" ", 2)[1]) for sock in readers]
        assert statuses == [200, 429]


TIGHT = {
    "BLOSSOM_EDGE_HEADER_TIMEOUT": "1",
    "BLOSSOM_EDGE_BODY_TIMEOUT": "1",
    "BLOSSOM_EDGE_CLIENT_CONCURRENCY": "2",
    "BLOSSOM_EDGE_UPSTREAM_CONNECTIONS": "1",
    "BLOSSOM_EDGE_UPSTREAM_WAIT": "0.3",
    "BLOSSOM_EDGE_UPSTREAM_TIMEOUT": "2",
    "BLOSSOM_EDGE_MAX_CONNECTIONS": "40",
    "BLOSSOM_EDGE_CLIENT_CONNECTIONS": "4",
    "BLOSSOM_EDGE_DRAIN_TIMEOUT": "1",
}


@pytest.fixture(scope="module")
def tight_services(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """An edge with small limits and short deadlines, so that tests reach them quickly."""
    logs = tmp_path_factory.mktemp("tight")
    with make_stack(pg_server, template_database, logs, SLOW_RPC, settings=TIGHT) as running:
        yield running


@pytest.fixture
def tight_stack(tight_services: Stack) -> Stack:
    """The tight stack, once its one upstream connection is free: a call whose client an earlier
    test dropped (its pipelined requests past the bound, say) holds it until PostgREST answers,
    and a call of the next test was answered 503 edge.upstream_busy."""
    eventually(
        lambda: (
            request(tight_services.edge_url, "GET", "/rpc/slow?seconds=0", source=loopback_address()).status
            == 200
        ),
        10,
        "the upstream connection free",
    )
    return tight_services


def test_a_body_slower_than_its_deadline_is_answered_408(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.3") as sock:
        start_slow_post(sock)
        sock.settimeout(5)
        status, body = answer_of(sock)
    assert status == 408
    assert b'"edge.request_timeout"' in body


def test_headers_slower_than_their_deadline_are_answered_408(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.4") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ed")
        sock.settimeout(5)
        status, body = answer_of(sock)
        assert closed_within(sock, 2)
    assert status == 408
    assert b'"edge.request_timeout"' in body


def test_a_connection_that_sends_nothing_is_closed(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.5") as sock:
        assert closed_within(sock, 3)


def test_a_kept_alive_connection_must_send_its_next_request_in_time(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.5") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
        sock.settimeout(5)
        assert answer_of(sock)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        status, body = answer_of(sock)
    assert status == 408
    assert b'"edge.request_timeout"' in body


def test_a_client_over_its_share_of_requests_at_once_is_answered_429(tight_stack: Stack) -> None:
    with (
        connected(tight_stack.edge_url, "127.0.0.6") as first,
        connected(tight_stack.edge_url, "127.0.0.6") as second,
    ):
        start_slow_post(first)
        start_slow_post(second)
        time.sleep(0.2)
        reply = request(tight_stack.edge_url, "GET", "/rpc/me", source="127.0.0.6")
        assert (reply.status, reply.json()["code"]) == (429, "edge.too_many_requests")
        assert reply.header("retry-after") == "1"
        other = request(tight_stack.edge_url, "GET", "/rpc/me", source="127.0.0.7")
        assert (other.status, other.json()["code"]) == (401, "auth.not_signed_in")


def test_waiting_for_a_busy_upstream_is_bounded_and_answered_503(tight_stack: Stack) -> None:
    held: list[Reply] = []
    holder = threading.Thread(
        target=lambda: held.append(
            request(tight_stack.edge_url, "GET", "/rpc/slow?seconds=1.5", source="127.0.0.8")
        )
    )
    holder.start()
    time.sleep(0.5)
    started = time.monotonic()
    reply = request(tight_stack.edge_url, "GET", "/rpc/slow?seconds=0", source="127.0.0.9")
    waited = time.monotonic() - started
    holder.join()
    assert (reply.status, reply.json()["code"]) == (503, "edge.upstream_busy")
    assert reply.header("retry-after") == "1"
    assert waited < 1.5
    assert held[0].status == 200


def test_an_upstream_slower_than_its_timeout_is_answered_504_and_frees_its_connection(
    tight_stack: Stack,
) -> None:
    started = time.monotonic()
    reply = request(tight_stack.edge_url, "GET", "/rpc/slow?seconds=4", source="127.0.0.12")
    waited = time.monotonic() - started
    assert (reply.status, reply.json()["code"]) == (504, "edge.upstream_timeout")
    # After the 2 s timeout, and before the function's 4 s are up: room for a loaded machine.
    assert 1.9 < waited < 3.9
    # The one upstream connection was closed and given back: the next call gets a new one.
    assert request(tight_stack.edge_url, "GET", "/rpc/slow?seconds=0", source="127.0.0.12").status == 200


def test_connections_past_the_maximum_are_answered_503(tight_stack: Stack) -> None:
    with ExitStack() as sockets:
        for client in range(10):
            for _ in range(4):
                sockets.enter_context(connected(tight_stack.edge_url, f"127.0.1.{client + 1}"))
        time.sleep(0.2)
        with connected(tight_stack.edge_url, "127.0.0.11") as extra:
            extra.settimeout(5)
            status, body = answer_of(extra)
    assert status == 503
    assert b'"edge.overloaded"' in body


def test_one_client_may_hold_only_its_share_of_connections(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a stack of its own: the other tests' connections, still closing, must not count."""
    logs = tmp_path_factory.mktemp("client-connections")
    with (
        make_stack(
            pg_server, template_database, logs, settings={"BLOSSOM_EDGE_CLIENT_CONNECTIONS": "4"}
        ) as stack,
        ExitStack() as sockets,
    ):
        for _ in range(4):
            sockets.enter_context(connected(stack.edge_url, "127.0.0.14"))
        time.sleep(0.2)
        with connected(stack.edge_url, "127.0.0.14") as extra:
            extra.settimeout(5)
            status, body = answer_of(extra)
        assert (status, b'"edge.too_many_connections"' in body) == (429, True)
        other = request(stack.edge_url, "GET", "/healthz", source="127.0.0.15")
        assert other.status == 200


def test_headers_over_32_kib_are_answered_431(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.16") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n")
        try:
            for _ in range(100):
                sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was sent
        sock.settimeout(5)
        status, body = answer_of(sock)
    assert status == 431
    assert b'"edge.headers_too_large"' in body


@pytest.mark.parametrize("path", ["/healthz", "/rpc/me"])
def test_headers_over_32_kib_sent_at_once_are_answered_431(tight_stack: Stack, path: str) -> None:
    """All of it in one write: the parser reads the whole header block in one go."""
    with connected(tight_stack.edge_url, "127.0.0.16") as sock:
        head = f"GET {path} HTTP/1.1\r\nHost: edge\r\nX-Padding: {'a' * 40_000}\r\n\r\n"
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head.encode())
        sock.settimeout(5)
        status, body = answer_of(sock)
    assert status == 431
    assert b'"edge.headers_too_large"' in body


def test_a_large_body_and_the_next_request_in_one_read_are_no_headers_too_large(tight_stack: Stack) -> None:
    """A request's body read together with the start of the next request is not counted as the
    next request's headers."""
    body = b'{"display_name": "' + b"x" * 60_000 + b'"}'
    first = (
        b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with connected(tight_stack.edge_url, "127.0.0.18") as sock:
        sock.sendall(first + body + b"GET /healthz HTTP/1.1\r\nHost: edge\r\n")
        sock.settimeout(5)
        status, answer = answer_of(sock)
    assert status == 401, answer


def test_a_client_that_pipelines_without_reading_is_dropped(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.17") as sock:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n" * 200)
        sock.settimeout(5)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert received.count(b"HTTP/1.1 200") < 200, "the connection was dropped, not every request answered"
    assert request(tight_stack.edge_url, "GET", "/healthz", source="127.0.0.18").status == 200


def test_pipelined_requests_are_bounded_in_bytes_as_in_number(tight_stack: Stack) -> None:
    """16 requests may wait behind the one being answered, each with up to 32 KiB of headers and
    a 64 KiB body: some 1.5 MB a connection that the edge read and kept, 384 MB from one client's
    256 connections (four clients' took the edge from 60 MB to 970 MB). What waits is bounded
    to a largest request's bytes too: past them, the connection is dropped, as past 16."""
    body = b'{"display_name": "' + b"x" * 60_000 + b'"}'
    queued = (
        b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    last = queued.replace(b"Host: edge\r\n", b"Host: edge\r\nConnection: close\r\n")
    with connected(tight_stack.edge_url, "127.0.0.91") as sock:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /rpc/slow?seconds=1 HTTP/1.1\r\nHost: edge\r\n\r\n" + queued * 2 + last)
        sock.settimeout(5)
        try:
            answers = answers_until_closed(sock)
        except ConnectionResetError:
            answers = []
    assert answers == []
    assert request(tight_stack.edge_url, "GET", "/healthz", source="127.0.0.91").status == 200


def test_an_answer_the_client_does_not_take_is_dropped(tight_stack: Stack) -> None:
    """20 MB asked for and never read: the edge drops the connection once the answer has waited
    its drain timeout (1 s here), instead of holding it for ever."""
    with connected(tight_stack.edge_url, "127.0.0.19") as sock:
        sock.sendall(b"GET /rpc/big?bytes=20000000 HTTP/1.1\r\nHost: edge\r\n\r\n")
        time.sleep(4)
        sock.settimeout(5)
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
    assert received < 20_000_000


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="kept alive"),
        pytest.param(b"POST /nothing HTTP/1.1\r\nHost: edge\r\nContent-Length: 10\r\n\r\n", id="lingering"),
    ],
)
def test_an_answer_left_unsent_when_the_client_closes_its_side_is_dropped(
    tight_stack: Stack, sent: bytes
) -> None:
    """A client that closes its side (shutdown, a FIN) and never reads: the edge closes the
    connection, and what of the answer is still unsent waits its drain timeout (1 s here), as
    after any close. The transport closed itself on the client's FIN, past the edge's close,
    and so waited for ever on an answer above what the kernel holds and below the buffer's high
    mark (here some 75 kB, the kernel holding some 30 kB for a client of small segments and a
    small window): the connection, and its place in the client's count, were held for as long
    as the client pleased; the same when the answer was a refusal before a body (404 here),
    closed lingering. The client's share (4 connections) is full of such connections, and a
    new one from it is answered once their drain timeout has passed."""
    source = loopback_address()
    port = urlsplit(tight_stack.edge_url).port
    with ExitStack() as sockets:
        for _ in range(4):
            sock = sockets.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /rpc/big?bytes=75000 HTTP/1.1\r\nHost: edge\r\n\r\n" + sent)
            time.sleep(0.3)
            sock.shutdown(socket.SHUT_WR)
        time.sleep(3)
        with connected(tight_stack.edge_url, source) as extra:
            extra.sendall(HEALTHZ_CLOSE)
            extra.settimeout(5)
            assert answer_of(extra) == (200, b'{"status":"ok"}')


def test_the_headers_of_a_request_begun_during_an_answer_count_against_the_limit(tight_stack: Stack) -> None:
    """A request and the start of the next in one write, then one header of a hundred MiB: the
    next request's headers had begun before the first answer was done, and from then on went
    uncounted; the edge held them all, its event loop busy for seconds."""
    with connected(tight_stack.edge_url, "127.0.0.20") as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\nGET /healthz HTTP/1.1\r\nHost: edge\r\nX-A: "
        )
        sock.settimeout(5)
        first, _ = answer_of(sock)
        sent = 0
        with suppress(BrokenPipeError, ConnectionResetError):
            while sent < 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        status, body = answer_of(sock)
    assert first == 200
    assert (status, b'"edge.headers_too_large"' in body) == (431, True)


def test_an_upgrade_to_websocket_is_answered_as_http_and_frees_its_connection(tight_stack: Stack) -> None:
    """uvicorn took the connection over for its WebSocket protocol, and the edge's count of the
    client's connections (4 here) never went down: four such requests locked the address out."""
    upgrade = (
        b"GET /healthz HTTP/1.1\r\nHost: edge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    for _ in range(6):
        with connected(tight_stack.edge_url, "127.0.0.21") as sock:
            sock.sendall(upgrade)
            sock.settimeout(5)
            status, body = answer_of(sock)
        assert (status, body) == (200, b'{"status":"ok"}')
    time.sleep(0.2)
    assert request(tight_stack.edge_url, "GET", "/healthz", source="127.0.0.21").status == 200


def test_the_servers_own_refusals_carry_every_answers_headers(tight_stack: Stack) -> None:
    """A request that is not HTTP is refused by the protocol itself, before the application: its
    answer had no request id, nosniff or no-store."""
    with connected(tight_stack.edge_url, "127.0.0.22") as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: edge\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 400")
    for header in (b"x-request-id: ", b"x-content-type-options: nosniff", b"cache-control: no-store"):
        assert header in head, head


HEALTHZ_CLOSE = b"GET /healthz HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n"


def chunked_post(path: str, body: bytes, trailer: bytes = b"") -> bytes:
    """A POST whose JSON body is one chunk, then the last chunk and `trailer` (whole fields)."""
    return (
        b"POST %s HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n%s\r\n"
        % (path.encode(), len(body), body, trailer)
    )


def test_trailer_fields_are_never_read_as_headers(tight_stack: Stack) -> None:
    """Fields after a chunked body (RFC 9110, 6.5) joined the request's headers, which the edge
    reads for the client's address, the request id and the session: a trailer after a trusted
    proxy's X-Forwarded-For chose the client's address, and so its share of every limit."""
    account = signup(tight_stack.edge_url)
    trailer = b"X-Blossom-Session: %s\r\n" % account.token.encode()
    with connected(tight_stack.edge_url, "127.0.0.23") as sock:
        sock.sendall(chunked_post("/rpc/me", b"{}", trailer))
        sock.settimeout(5)
        status, body = answer_of(sock)
    assert (status, b'"auth.not_signed_in"' in body) == (401, True), body


@pytest.mark.parametrize(
    "flood",
    [
        pytest.param(b"0\r\nX-Trailer: " + b"a" * 65536 * 16, id="one trailer field of a MiB"),
        pytest.param(b"1\r\n \r\n" * 20_000, id="twenty thousand chunks of a byte"),
    ],
)
def test_a_chunked_body_framed_in_more_than_32_kib_is_answered_413(tight_stack: Stack, flood: bytes) -> None:
    """The 64 KiB a body may hold bounded its data, not its framing: chunk sizes and trailer
    fields went uncounted, a MiB of one trailer field held the event loop (every client's) for
    seconds, and a chunk of a byte cost a parser callback for each."""
    with connected(tight_stack.edge_url, "127.0.0.24") as sock:
        sock.sendall(
            b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
        )
        with suppress(BrokenPipeError, ConnectionResetError):
            for start in range(0, len(flood), 65536):
                sock.sendall(flood[start : start + 65536])
        sock.settimeout(5)
        status, headers, body = whole_answer_of(sock)
    assert (status, b'"edge.body_too_large"' in body) == (413, True), body
    # Its application had begun (the headers were whole): its line logged the 400 of a body cut
    # short, under a request id other than the one the client was given.
    request_id = headers["x-request-id"]
    line = eventually(lambda: logged(tight_stack, request_id), 5, f"the edge's line for {request_id}")
    assert (line["route"], line["status"]) == ("/rpc/update_profile", 413)


def logged(stack: Stack, request_id: str) -> dict[str, Any] | None:
    """The edge's access line of the request, once written."""
    for line in (stack.logs / "edge.log").read_text().splitlines():
        if line.startswith("{"):
            fields: dict[str, Any] = json.loads(line)
            if fields.get("request_id") == request_id and fields.get("event") == "request":
                return fields
    return None


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: edge\r\nX-A: a\x01b\r\n\r\n", id="not HTTP: 400"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 40_000 + b"\r\n\r\n", id="headers: 431"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: edge\r\nHost: other\r\n\r\n", id="two Host fields: 400"
        ),
        pytest.param(b"GET /healthz HTTP/2.0\r\nHost: edge\r\n\r\n", id="HTTP/2.0: 505"),
    ],
)
def test_a_refused_request_is_answered_after_the_requests_before_it(
    tight_stack: Stack, refused: bytes
) -> None:
    """A pipelined request the server refuses itself, sent while the answer to the one before
    it was under way: the refusal was written at once, the connection closed, and the answer
    before it lost; the client read the refusal as that answer (RFC 9112, 9.3.2: in order)."""
    with connected(tight_stack.edge_url, "127.0.0.25") as sock:
        sock.sendall(b"GET /rpc/slow?seconds=0.5 HTTP/1.1\r\nHost: edge\r\n\r\n")
        time.sleep(0.1)
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(refused)
        sock.settimeout(5)
        answers = answers_until_closed(sock)
    refusal = (
        (431, "edge.headers_too_large")
        if len(refused) > 40_000
        else (505, "edge.http_version_not_supported")
        if b"HTTP/2.0" in refused
        else (400, "edge.bad_request")
    )
    assert answers == [(200, b"1"), refusal]


def test_more_than_a_hundred_header_fields_are_answered_431(tight_stack: Stack) -> None:
    """Each field costs a parser callback and a place in every list of headers the edge walks:
    5,000 empty ones (20 KB) cost the event loop 4.5 ms, fifty times a plain request, and one
    client sending them slowed every other client's answers a hundredfold. Browsers send about
    twenty; Apache's default bound is a hundred."""
    fields = b"".join(b"X-F%d: 1\r\n" % number for number in range(100))
    with connected(tight_stack.edge_url, "127.0.0.26") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n" + fields + b"\r\n")
        sock.settimeout(5)
        status, body = answer_of(sock)
    assert (status, b'"edge.headers_too_large"' in body) == (431, True), body
    within = b"".join(b"X-F%d: 1\r\n" % number for number in range(99))
    with connected(tight_stack.edge_url, "127.0.0.26") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n" + within + b"\r\n")
        sock.settimeout(5)
        assert answer_of(sock) == (200, b'{"status":"ok"}')


def test_a_refused_request_that_expected_100_continue_is_closed_and_frees_its_slot(
    tight_stack: Stack,
) -> None:
    """Refused while its application waited to read the body, a request with Expect:
    100-continue had a 100 Continue written after its answer, past the half-close: the write
    failed, the close after it never came, and the connection stayed counted against its client
    for ever (four of them here, and the address was locked out)."""
    with ExitStack() as sockets:
        for _ in range(4):  # the client's share of connections, each kept open on our side
            sock = sockets.enter_context(connected(tight_stack.edge_url, "127.0.0.27"))
            sock.sendall(
                b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            )
            sock.settimeout(5)
            assert answers_until_closed(sock) == [(400, "edge.bad_request")]
        time.sleep(3)  # past the 2 s the edge keeps a refused connection open for its answer
        assert request(tight_stack.edge_url, "GET", "/healthz", source="127.0.0.27").status == 200


def test_an_upgrade_requests_body_is_never_read_as_a_request(tight_stack: Stack) -> None:
    """The parser takes Connection: upgrade for a switch of protocol and skips the body; what
    came of it in a later read was parsed as a request of its own and answered."""
    smuggled = b"GET /nothing-smuggled HTTP/1.1\r\nHost: edge\r\n\r\n"
    with connected(tight_stack.edge_url, "127.0.0.28") as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: edge\r\nConnection: upgrade\r\nUpgrade: foo\r\n"
            b"Content-Length: %d\r\n\r\n" % len(smuggled)
        )
        time.sleep(0.3)
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(smuggled)
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(200, b'{"status":"ok"}')]


def test_pipelined_requests_with_bodies_are_no_chunk_framing(tight_stack: Stack) -> None:
    """A read that began in one request's body and ended in another's counted the header sections
    of those between as the first one's chunk framing, and refused a valid request 413."""
    cookie = b"Cookie: c=" + b"x" * 4000 + b"\r\n"

    def post(length: int) -> bytes:
        return (
            b"POST /rpc/me HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            + cookie
            + b"Content-Length: %d\r\n\r\n" % length
        )

    with connected(tight_stack.edge_url, "127.0.0.29") as sock:
        sock.sendall(post(2))
        time.sleep(0.3)
        sock.sendall(b"{}" + (post(2) + b"{}") * 8 + post(4) + b"{ ")
        time.sleep(0.3)
        sock.sendall(b" }" + b"GET /healthz HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        sock.settimeout(5)
        answers = answers_until_closed(sock)
    assert [status for status, _ in answers] == [401] * 10 + [200], answers


def test_trailer_fields_in_the_read_that_ends_the_body_are_bounded(tight_stack: Stack) -> None:
    """The read that brought a body's end went uncounted: 80 KB of trailer fields in it passed
    the 32 KiB bound on framing and trailers, and the request was answered."""
    with connected(tight_stack.edge_url, "127.0.0.30") as sock:
        sock.sendall(
            b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        time.sleep(0.3)
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"2\r\n{}\r\n0\r\n" + b"a:\r\n" * 20_000 + b"\r\n")
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(413, "edge.body_too_large")]


CHUNKED_HEAD = (
    b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
LONG_EXTENSION = b";x=" + b"a" * 40_000


@pytest.mark.parametrize(
    "reads",
    [
        pytest.param([CHUNKED_HEAD + b"2" + LONG_EXTENSION + b"\r\n{}\r\n0\r\n\r\n"], id="with the headers"),
        pytest.param(
            [CHUNKED_HEAD[:-3], CHUNKED_HEAD[-3:] + b"2" + LONG_EXTENSION + b"\r\n{}\r\n0\r\n\r\n"],
            id="with the end of the headers",
        ),
        pytest.param(
            [
                b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"
                + CHUNKED_HEAD
                + b"2"
                + LONG_EXTENSION
                + b"\r\n{}\r\n"
            ],
            id="behind a request before it",
        ),
        pytest.param(
            [CHUNKED_HEAD + b"1\r\n{\r\n", b"1" + LONG_EXTENSION + b"\r\n}\r\n0\r\n\r\n" + HEALTHZ_CLOSE],
            id="with the next request",
        ),
        pytest.param(
            [
                CHUNKED_HEAD + b"1\r\n{\r\n",
                b"1\r\n}\r\n0\r\nX-A: " + b"a" * 40_000 + b"\r\n\r\n" + HEALTHZ_CLOSE,
            ],
            id="a trailer with the next request",
        ),
        pytest.param(
            [CHUNKED_HEAD + b"0" * 20 + b"2\r\n\r\n\r\n2" + LONG_EXTENSION + b"\r\n{}\r\n0\r\n\r\n"],
            id="after a size with leading zeros",
        ),
        pytest.param(
            [
                CHUNKED_HEAD,
                b"0" * 20 + b"2\r\n\r\n\r\n0\r\nX-A: " + b"a" * 40_000 + b"\r\n\r\n" + HEALTHZ_CLOSE,
            ],
            id="a trailer after a size with leading zeros",
        ),
    ],
)
def test_chunk_framing_counts_whatever_read_it_arrives_in(tight_stack: Stack, reads: list[bytes]) -> None:
    """A chunk's size line (its extension, `;name=value`, which nothing reads) counted in full
    only in a read that began within its body and held no other request: one in the read of the
    request's headers, or of the request after it, counted five bytes whatever its length, and
    40 KB of it passed the 32 KiB bound on a body's framing. Every byte of framing counts now."""
    with connected(tight_stack.edge_url, "127.0.0.31") as sock:
        for number, sent in enumerate(reads):
            if number:
                time.sleep(0.3)
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(sent)
        sock.settimeout(5)
        answers = answers_until_closed(sock)
    assert answers[-1] == (413, "edge.body_too_large"), answers
    assert [status for status, _ in answers[:-1]] == ([200] if reads[0].startswith(b"GET") else []), answers


@pytest.mark.parametrize(
    "zeros", [pytest.param(b"", id="plain sizes"), pytest.param(b"0" * 40, id="zero-padded")]
)
def test_chunked_framing_is_the_same_however_the_body_is_cut(zeros: bytes) -> None:
    """Its size lines, extensions, the CRLF after each chunk's data and the trailer section, to
    the byte, and the body's end, whichever reads they come in; what follows is not its own. A
    size may have any number of leading zeros (llhttp reads `0…010` as sixteen): read as the
    last chunk's, the rest of the body was taken for its trailer section, ended at its first
    empty line, and what followed that was not counted at all."""
    body = zeros + b"2;ext=1\r\n{}\r\n" + zeros + b"10\r\n" + b"\r\n" * 8 + b"\r\n0\r\nX-A: 1\r\n\r\n"
    framing = len(body) - 2 - 16
    for cut in range(len(body) + 1):
        scanner = ChunkedFraming()
        first, counted = scanner.scan(body[:cut], 0, 1000)
        assert (first, scanner.finished) == (cut, cut == len(body))
        end, more = scanner.scan(body + b"GET / HTTP/1.1\r\n", cut, 1000)
        assert (end, counted + more, scanner.finished) == (len(body), framing, True), cut


def test_framing_within_the_bound_in_any_read_is_answered(tight_stack: Stack) -> None:
    """Counted exactly, framing under the bound passes, in the read of the headers and with a
    request after it: 30 KB of extensions, a trailer and two pipelined calls in one read."""
    extension = b";x=" + b"a" * 30_000
    call = CHUNKED_HEAD + b"2" + extension + b"\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"
    with connected(tight_stack.edge_url, "127.0.0.32") as sock:
        sock.sendall(call + call + HEALTHZ_CLOSE)
        sock.settimeout(5)
        answers = answers_until_closed(sock)
    assert [status for status, _ in answers] == [400, 400, 200], answers


def _origin_header(origin: str) -> bytes:
    return b"Origin: %s\r\n" % origin.encode()


# Each refusal as a client sends it: its request's head up to and including the Origin line is
# `head`, then `rest` is sent (once, or, with a pause, as the later reads).
def _refused_by_the_server(origin: str) -> dict[str, tuple[bytes, list[bytes]]]:
    get = b"GET /rpc/me HTTP/1.1\r\nHost: edge\r\n" + _origin_header(origin)
    post = (
        b"POST /rpc/update_profile HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        + _origin_header(origin)
    )
    return {
        "431 headers at once": (get, [b"X-Padding: " + b"a" * 40_000 + b"\r\n\r\n"]),
        "431 headers over reads": (get, [b"X-Padding: " + b"a" * 5000 + b"\r\n"] * 8),
        "431 header fields": (get, [b"".join(b"X-F%d: 1\r\n" % n for n in range(100)) + b"\r\n"]),
        "408 headers too slow": (get, [b"X-Still-Coming: "]),
        "400 not HTTP": (get, [b"X-A: a\x01b\r\n\r\n"]),
        "400 two Host fields": (get, [b"Host: other\r\n\r\n"]),
        "413 chunk framing": (
            post,
            [b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", b"0\r\nX-Trailer: " + b"a" * 65536],
        ),
        "413 body too large": (post, [b"Content-Length: 100000\r\n\r\n{"]),
        "408 body too slow": (post, [b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"]),
    }


REFUSED_BY_THE_SERVER = list(_refused_by_the_server("x"))
EXPECTED_STATUS = {name: int(name.split(" ", 1)[0]) for name in REFUSED_BY_THE_SERVER}


def _cors_of(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.startswith("access-control-")}


@pytest.mark.parametrize("refusal", REFUSED_BY_THE_SERVER)
def test_a_refusal_before_the_application_answers_can_be_read_by_an_allowed_origin(
    tight_stack: Stack, refusal: str
) -> None:
    """The protocol's own refusals (headers too large or too slow, not HTTP, a chunked body's
    framing) were written below the CORS middleware: a page of an allowed origin saw a network
    error, not our code (a cookie jar grown past 32 KiB could not even be told to the user).
    Each now carries the CORS headers every answer to that origin has, and none for another."""
    allowed = f"http://localhost:{urlsplit(tight_stack.edge_url).port}"
    for origin, expected in (
        (allowed, {"access-control-allow-origin": allowed, "access-control-allow-credentials": "true"}),
        ("http://127.0.0.9:5173", {}),
    ):
        head, rest = _refused_by_the_server(origin)[refusal]
        with connected(tight_stack.edge_url, loopback_address()) as sock:
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(head + rest[0])
                for more in rest[1:]:
                    time.sleep(0.05)
                    sock.sendall(more)
            sock.settimeout(5)
            status, headers, body = whole_answer_of(sock)
        if expected:  # another origin's POST is refused 403 auth.csrf as soon as it is read
            assert status == EXPECTED_STATUS[refusal], body
        assert json.loads(body)["code"].startswith(("edge.", "auth.csrf")), body
        cors = _cors_of(headers)
        exposed = cors.pop("access-control-expose-headers", "")
        assert cors == expected, (origin, headers)
        if expected:
            assert "X-Request-Id" in exposed
            assert "Origin" in headers.get("vary", "")


@pytest.mark.parametrize(
    ("sent", "refusal"),
    [
        pytest.param(b"GET /healthz HTTP/2.0\r\nHost: edge\r\n\r\n", 505, id="HTTP/2.0"),
        pytest.param(b"GET /healthz HTTP/0.9\r\nHost: edge\r\n\r\n", 505, id="HTTP/0.9"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: edge\r\nHost: other\r\n\r\n", 400, id="two Host fields"
        ),
        pytest.param(
            b"GET /healthz HTTP/1.0\r\nHost: edge\r\nHost: edge\r\n\r\n", 400, id="Host twice in 1.0"
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", 400, id="an empty Host"),
        pytest.param(b"GET /healthz HTTP/1.1\r\n\r\n", 400, id="no Host in 1.1"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: user@edge\r\n\r\n", 400, id="a Host with a user"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: edge/x\r\n\r\n", 400, id="a Host with a path"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: edge:80x\r\n\r\n", 400, id="a Host with a bad port"),
        pytest.param(
            b"GET http://other.example/healthz HTTP/1.1\r\nHost: edge\r\n\r\n",
            400,
            id="a target of another host",
        ),
        pytest.param(
            b"GET http://edge:8080/healthz HTTP/1.1\r\nHost: edge\r\n\r\n", 400, id="a target of another port"
        ),
    ],
)
def test_a_request_of_another_http_or_an_unclear_host_is_refused(
    tight_stack: Stack, sent: bytes, refusal: int
) -> None:
    """RFC 9112, 3.2: a request with two Host fields, an invalid one, or none in HTTP/1.1 is a
    400; a proxy in front that routes by the other Host than the one the edge reads, or by the
    target's host where the edge reads the field's, sends one client's request where it believes
    another goes. And a request line of an HTTP this server does not speak (2.0 over HTTP/1's
    framing, 0.9) was answered as if it were HTTP/1.1; RFC 9110, 15.6.6: 505."""
    code = {400: "edge.bad_request", 505: "edge.http_version_not_supported"}[refusal]
    with connected(tight_stack.edge_url, loopback_address()) as sock:
        sock.sendall(sent)
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(refusal, code)]


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"GET /healthz HTTP/1.0\r\n\r\n", id="no Host in 1.0"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: EDGE.example:8000\r\n\r\n", id="a name and a port"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", id="an IPv6 address"),
        pytest.param(
            b"GET http://Edge/healthz HTTP/1.1\r\nHost: edge:80\r\n\r\n", id="the target's own host"
        ),
        pytest.param(b"GET http://u@[::1]:80/healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n", id="an IPv6 target"),
        # A field's value is what lies between the whitespace around it (RFC 9112, 5).
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: edge \r\n\r\n", id="a space after the Host"),
        pytest.param(
            b"GET http://edge/healthz HTTP/1.1\r\nHost: edge:80 \t\r\n\r\n", id="a tab after the Host"
        ),
    ],
)
def test_a_request_with_one_clear_host_is_answered(tight_stack: Stack, sent: bytes) -> None:
    with connected(tight_stack.edge_url, loopback_address()) as sock:
        sock.sendall(sent.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(200, b'{"status":"ok"}')]


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"Content-Length: 100000\r\n", id="413 declared too large"),
        pytest.param(b"Content-Length: 2\r\nAccept: text/csv\r\n", id="406 refused before its body"),
    ],
)
def test_an_answer_before_a_body_the_client_was_to_send_on_100_continue_closes(
    tight_stack: Stack, head: bytes
) -> None:
    """A client that asks `Expect: 100-continue` sends its body only once told to; answered
    before that, it need never send it (RFC 9110, 10.1.1). The edge kept the connection and
    waited for the body all the same: the client's next request on it was read as that body,
    and never answered. Such an answer now says `Connection: close`, and closes."""
    with connected(tight_stack.edge_url, "127.0.0.33") as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\n" + head + b"\r\n"
        )
        sock.settimeout(5)
        status, headers, _body = whole_answer_of(sock)
        assert status in (406, 413)
        assert headers.get("connection") == "close"
        assert closed_within(sock, 2)


def test_a_body_sent_on_100_continue_keeps_the_connection(tight_stack: Stack) -> None:
    with connected(tight_stack.edge_url, "127.0.0.34") as sock:
        sock.sendall(
            b"POST /rpc/me HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        sock.settimeout(5)
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        status, headers, _body = whole_answer_of(sock)
        assert (status, headers.get("connection")) == (401, None)
        sock.sendall(HEALTHZ_CLOSE)
        assert answer_of(sock) == (200, b'{"status":"ok"}')


@pytest.mark.parametrize(
    ("path", "head", "refusal"),
    [
        pytest.param("/auth/login", b"Content-Length: 100000\r\n", 413, id="413 declared too large"),
        pytest.param(
            "/auth/login", b"Content-Length: 10\r\nAccept: text/csv\r\n", 406, id="406 on its Accept"
        ),
        pytest.param("/auth/login", b"Content-Length: 10\r\nContent-Encoding: gzip\r\n", 415, id="415 coded"),
        pytest.param("/nothing-here", b"Content-Length: 10\r\n", 404, id="404 no such path"),
        pytest.param("/healthz", b"Content-Length: 10\r\n", 405, id="405 no such method"),
        pytest.param("/rpc/me", b"Content-Length: 10\r\nAccept: text/csv\r\n", 406, id="406 at /rpc"),
    ],
)
def test_an_answer_before_the_body_is_read_closes_the_connection(
    tight_stack: Stack, path: str, head: bytes, refusal: int
) -> None:
    """A request refused on its headers, its declared body not yet all received: the edge kept
    the connection and went on reading that body for nothing (a declared 100 kB of it, or
    whatever the client sends until the keep-alive timeout), and a client that took the answer
    for the end of the exchange and sent its next request had it read as the rest of the body,
    never answered. Such an answer says `Connection: close`, and the edge closes (after the
    client has read it): nothing the client sends after it is read as a request."""
    with connected(tight_stack.edge_url, "127.0.0.35") as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n".encode()
            + head
            + b"\r\n{}"
        )
        sock.settimeout(5)
        status, headers, _body = whole_answer_of(sock)
        assert (status, headers.get("connection")) == (refusal, "close")
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"12345678" + HEALTHZ_CLOSE)
        assert answers_until_closed(sock) == []


@pytest.mark.parametrize(
    ("sent", "refusal"),
    [
        pytest.param(b"POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n", 405, id="405"),
        pytest.param(b"POST /rpc/me HTTP/1.1\r\nAccept: text/csv\r\nContent-Length: 2\r\n", 406, id="406"),
        pytest.param(b"POST /nothing HTTP/1.1\r\nContent-Length: 2\r\n", 404, id="404"),
        pytest.param(
            b"POST /rpc/me HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n", 415, id="415"
        ),
        pytest.param(b"GET /rpc/me?a=" + b"x" * 3000 + b" HTTP/1.1\r\nContent-Length: 2\r\n", 414, id="414"),
        pytest.param(b"POST /auth/login HTTP/1.1\r\nContent-Length: 2\r\n", 422, id="422 read"),
    ],
)
def test_an_answer_after_the_whole_body_keeps_the_connection(
    tight_stack: Stack, sent: bytes, refusal: int
) -> None:
    """A refusal of a request whose body came whole with it leaves nothing ambiguous: the
    connection is kept, and the next request on it is read and answered."""
    request_line, _, fields = sent.partition(b"\r\n")
    with connected(tight_stack.edge_url, "127.0.0.36") as sock:
        sock.sendall(
            request_line + b"\r\nHost: edge\r\nContent-Type: application/json\r\n" + fields + b"\r\n{}"
        )
        sock.settimeout(5)
        status, headers, _body = whole_answer_of(sock)
        assert (status, headers.get("connection")) == (refusal, None)
        sock.sendall(HEALTHZ_CLOSE)
        assert answer_of(sock) == (200, b'{"status":"ok"}')


@pytest.mark.parametrize(
    ("reads", "refusal"),
    [
        pytest.param([b"BR", b"EW / HTTP/1.1\r\nHost: edge\r\n\r\n"], 501, id="BR|EW"),
        pytest.param([b"B", b"R", b"EW", b" / HTTP/1.1\r\nHost: edge\r\n\r\n"], 501, id="B|R|EW|"),
        pytest.param([b"GETX", b" /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"], 501, id="GETX|"),
        pytest.param([b"GE", b"TX /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"], 501, id="GE|TX"),
        pytest.param([b"BR", b"E(W / HTTP/1.1\r\nHost: edge\r\n\r\n"], 400, id="BR|E(W"),
        pytest.param([b"BR", b"EW\r\n\r\n"], 400, id="BR|EW no target"),
        pytest.param([b"BR", b"E" * 20000, b"W" * 20000], 431, id="BR|E… past the header bound"),
        pytest.param([b"BR"], 408, id="BR and no more"),
    ],
)
def test_an_unknown_method_is_answered_the_same_however_its_bytes_are_split(
    tight_stack: Stack, reads: list[bytes], refusal: int
) -> None:
    """A method the parser does not know is 501 (RFC 9110, 15.6.2), one that is no token 400. The
    parser fails at the first byte no method it knows has there: when the method's end had not
    come yet in that read (`BR`, then `EW / …`), whether it was a token was not known, and it was
    answered 400."""
    code = {
        400: "edge.bad_request",
        408: "edge.request_timeout",
        431: "edge.headers_too_large",
        501: "edge.method_not_implemented",
    }[refusal]
    with connected(tight_stack.edge_url, loopback_address()) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for read in reads:
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(read)
            time.sleep(0.2)  # each its own read at the edge
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(refusal, code)]


def test_an_unknown_method_dripped_after_the_answer_before_it_is_answered(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A method the parser does not know, begun in the read of the request before it (`BR`) and
    dripped on after that request's answer: every read is the client's, and the connection is
    not idle. The edge's wait for the method's end let the 5 s keep-alive timeout, armed by the
    answer, run on through the reads that came, and closed the connection without an answer
    before the header deadline (10 s), where a known method sent alike is answered. On a stack of
    its own: the tight one's header deadline comes before the keep-alive timeout."""
    with (
        make_stack(pg_server, template_database, tmp_path_factory.mktemp("dripped-method")) as stack,
        connected(stack.edge_url, loopback_address()) as sock,
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\nBR")
        for byte in b"EWEWEWE":  # one a second, past the keep-alive timeout
            time.sleep(1)
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(bytes([byte]))
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"W / HTTP/1.1\r\nHost: edge\r\n\r\n")
        sock.settimeout(5)
        assert answers_until_closed(sock) == [(200, b'{"status":"ok"}'), (501, "edge.method_not_implemented")]
