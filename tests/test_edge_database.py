"""The edge outlives Postgres: while it is down the edge answers at once (503, JSON), and within
a second of its return the edge works again, /auth and /readyz included (blossom_db/database.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from blossom_db.database import Database, DatabaseUnavailable
from blossom_db.settings import CONNECTION_DEFAULTS
from deploy.migrate import migrate
from ops.cluster import LocalCluster
from ops.scratch import free_port, temporary_cluster
from ops.services import Endpoints, running_services, start_edge, stop, wait_http
from tests.support.auth_client import signup
from tests.support.databases import tcp_keepalives
from tests.support.http import Reply, request
from tests.support.silent_server import SilentServer


@dataclass(frozen=True)
class Answer:
    sent: float
    seconds: float
    status: int
    code: str | None
    reply: Reply


def code_of(reply: Reply) -> str | None:
    try:
        code = reply.json().get("code")
    except ValueError:
        return None
    return str(code) if code is not None else None


class Load:
    """Clients calling one route over and over, each answer recorded with when it was asked."""

    def __init__(self, url: str, path: str, headers: dict[str, str], clients: int = 4) -> None:
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url, path, headers), daemon=True) for _ in range(clients)
        ]

    def _run(self, url: str, path: str, headers: dict[str, str]) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            reply = request(url, "GET", path, headers=headers, timeout=10)
            self.answers.append(Answer(sent, time.monotonic() - sent, reply.status, code_of(reply), reply))
            time.sleep(0.01)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def between(self, start: float, end: float) -> list[Answer]:
        return [answer for answer in self.answers if start <= answer.sent < end]


def settled_before(answers: list[Answer], moment: float) -> list[Answer]:
    """The answers that came back before `moment`. One asked while Postgres was down may be
    answered after it is started again, 200 rightly: on a loaded machine a client thread can
    note the time it asks and run again only after the restart, or pg_ctl can see the server up
    only a while after it is."""
    return [answer for answer in answers if answer.sent + answer.seconds < moment]


@contextmanager
def stack_on_own_cluster(logs: Path) -> Iterator[tuple[LocalCluster, Endpoints, running_services]]:
    """A stack on a cluster of its own, which the test may stop and start."""
    with temporary_cluster(prefix="blossom-resilience-") as cluster:
        cluster.create_database("blossom")
        url = cluster.url("blossom")
        migrate(url, quiet=True)
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, logs) as services:
            yield cluster, endpoints, services


def test_a_postgres_restart_under_load_fails_fast_and_recovers_within_a_second(tmp_path: Path) -> None:
    with stack_on_own_cluster(tmp_path) as (cluster, endpoints, services):
        account = signup(endpoints.edge_url)
        with (
            Load(endpoints.edge_url, "/auth/session", account.cookie) as auth_load,
            Load(endpoints.edge_url, "/readyz", {}, clients=1) as ready_load,
        ):
            time.sleep(1)
            went_down = time.monotonic()
            cluster.stop(mode="fast")
            stopped = time.monotonic()
            time.sleep(0.5)
            restarting = time.monotonic()
            cluster.start()
            back = time.monotonic()
            time.sleep(2.5)

        # Those that came back before the stop are 200; one asked just before it can meet it, and
        # is answered as those asked while Postgres was down (below), as one of those can be
        # answered after its return (settled_before).
        asked_before = auth_load.between(0, went_down)
        before = settled_before(asked_before, went_down)
        assert before
        assert [(answer.status, answer.code) for answer in before if answer.status != 200] == []
        met_the_stop = [answer for answer in asked_before if answer.sent + answer.seconds >= went_down]
        met_the_stop += auth_load.between(went_down, stopped + 0.1)  # asked while it stopped
        assert {(answer.status, answer.code) for answer in met_the_stop} <= {
            (503, "edge.database_unavailable"),
            (200, None),
        }
        assert all(answer.seconds < 1.0 for answer in met_the_stop), met_the_stop

        down = auth_load.between(stopped + 0.1, restarting)
        assert down, "the edge answered while Postgres was down"
        assert {(answer.status, answer.code) for answer in settled_before(down, restarting)} == {
            (503, "edge.database_unavailable")
        }
        assert {(answer.status, answer.code) for answer in down} <= {
            (503, "edge.database_unavailable"),
            (200, None),
        }
        slowest = max(answer.seconds for answer in down)
        assert slowest < 1.0, f"an answer took {slowest:.2f} s while Postgres was down"

        after = auth_load.between(back + 1.0, float("inf"))
        assert after
        assert all(answer.status == 200 for answer in after), after[:3]
        # The edge's own check of Postgres recovers as fast; PostgREST's readiness (the other
        # half of /readyz) follows its own reconnection back-off.
        ready_after = ready_load.between(back + 1.0, float("inf"))
        assert ready_after
        assert all(
            answer.reply.json()["details"]["postgres"] == "ok"
            for answer in ready_after
            if answer.status != 200
        )
        assert services.edge.poll() is None, "the edge kept running throughout"

        ready_down = settled_before(ready_load.between(stopped + 0.1, restarting), restarting)
        assert ready_down
        assert all(answer.code == "edge.not_ready" for answer in ready_down)


def test_readyz_names_what_is_down_but_not_where_it_is(tmp_path: Path) -> None:
    with stack_on_own_cluster(tmp_path) as (cluster, endpoints, _services):
        cluster.stop(mode="immediate")
        reply = request(endpoints.edge_url, "GET", "/readyz")
        assert reply.status == 503
        assert reply.json()["code"] == "edge.not_ready"
        assert reply.json()["details"]["postgres"] == "unreachable"
        assert str(cluster.port) not in reply.body.decode()
        assert "127.0.0.1" not in reply.body.decode()


def test_readiness_asked_at_once_is_checked_once(tmp_path: Path) -> None:
    """/readyz is anyone's to ask, and no share per client bounds it: each request checked
    Postgres on one of the edge's ten database connections, those the /auth and /ext routes wait
    for (2 s, then 503), and PostgREST on one of its four connections to PostgREST's admin server.
    One client's 32 at once held all ten database connections for as long as it kept asking, and
    everyone's sign-ins queued behind its checks. A request that comes while a check is under way
    now takes that check's answer: with both servers silent (each check held its 2 s), eight
    asked at once opened one connection to each, not eight and four; asked again, one more."""
    with SilentServer() as postgres, SilentServer() as admin:
        endpoints = Endpoints(
            postgrest_port=free_port(),
            postgrest_admin_port=admin.port,
            edge_port=free_port(),
            authenticator_url=f"postgresql://authenticator@127.0.0.1:{postgres.port}/blossom",
            edge_database_url=f"postgresql://edge@127.0.0.1:{postgres.port}/blossom",
        )
        edge = start_edge(endpoints, tmp_path / "edge.log")
        try:
            wait_http(f"{endpoints.edge_url}/healthz", edge)
            for asked in (1, 2):
                answers = readiness_asked_at_once(endpoints.edge_port, 8)
                assert answers == [(503, {"postgres": "unreachable", "postgrest": "unreachable"})] * 8
                assert (len(postgres.connections), len(admin.connections)) == (asked, asked)
        finally:
            stop(edge)


def readiness_asked_at_once(port: int, clients: int) -> list[tuple[int, object]]:
    """Each client's /readyz status and details: every connection is opened first, then every
    request sent, so that all of them are in the edge before the first check can end."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(clients)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        answers = []
        for sock in sockets:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            answers.append((int(head.split(b" ", 2)[1]), json.loads(body)["details"]))
        return answers
    finally:
        for sock in sockets:
            sock.close()


def test_an_attempt_the_database_does_not_answer_is_unavailable_and_lets_go_of_its_socket() -> None:
    """The edge's connections (blossom_db/database.py), to a server that takes connections and
    never answers (Postgres shutting down): 503's DatabaseUnavailable after the connect timeout,
    and the attempt's socket closed then, not when the cycle collector next runs."""

    async def transaction(database: Database) -> None:
        # Bounded here so that an attempt that waits for ever fails the test instead of hanging it.
        async with asyncio.timeout(10):
            async with database.transaction():
                raise AssertionError("no connection can be had")

    with SilentServer() as silent:
        database = Database(
            f"postgresql://authenticator@127.0.0.1:{silent.port}/blossom",
            max_connections=2,
            wait_seconds=5,
            application_name="blossom-test",
        )
        # psycopg's "connection timeout expired": the attempt gave up on its connect timeout, not on
        # the wait for a free connection ("busy"), nor because this test stopped waiting.
        with pytest.raises(DatabaseUnavailable, match="connection timeout expired"):
            asyncio.run(transaction(database))
        time.sleep(0.2)
        (attempt,) = silent.connections
        assert attempt.closed is not None, "the attempt's socket is still open"


# CONNECTION_DEFAULTS as the kernel holds them (tests/support/databases.py).
KEEPALIVES = {name: int(value) for name, value in CONNECTION_DEFAULTS.items()}


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        pytest.param("", KEEPALIVES, id="defaults"),
        pytest.param(
            "?keepalives_idle=7&tcp_user_timeout=0",
            KEEPALIVES | {"keepalives_idle": 7, "tcp_user_timeout": 0},
            id="the-url-s-own-kept",
        ),
    ],
)
def test_the_edges_and_workers_connections_find_a_silent_cut_within_a_minute(
    database_url: str, parameters: str, expected: dict[str, int]
) -> None:
    """A connection that died without a word (a failover's old primary gone, a NAT that dropped
    its state) left a query on it waiting for the OS's TCP timeout: some 15 minutes for one sent,
    over 2 hours for one awaiting its answer (Linux's keepalive timings). Every connection of a
    Database (the edge's, the worker's) has keepalives and a bound on unacknowledged data; what its
    URL sets itself stays as set."""

    async def settings() -> dict[str, int]:
        database = Database(
            database_url + parameters, max_connections=1, wait_seconds=5.0, application_name="t"
        )
        try:
            async with database.transaction() as conn:
                return tcp_keepalives(conn)
        finally:
            await database.close()

    assert asyncio.run(settings()) == expected
