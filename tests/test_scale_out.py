"""Two edges and two PostgRESTs against one Postgres, behind a round-robin load balancer: nothing
that a request needs lives in one process, so any of them serves any request (docs/deployment.md)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.services import Endpoints, running_services
from tests.support.auth_client import COOKIE_NAME, PASSWORD, post, session_cookie, signup
from tests.support.balancer import RoundRobin
from tests.support.databases import create_database, drop_database
from tests.support.http import request
from tests.support.worker import eventually


@dataclass(frozen=True)
class Replicas:
    balancer: RoundRobin
    logs: list[Path]

    @property
    def url(self) -> str:
        return self.balancer.url


@pytest.fixture(scope="module")
def replicas(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    name = f"replicas_{secrets.token_hex(4)}"
    url = create_database(pg_server, name, template_database)
    endpoints = [Endpoints.on_free_ports(url) for _ in range(2)]
    logs = [tmp_path_factory.mktemp(f"replica{n}") for n in range(2)]
    backends = [("127.0.0.1", e.edge_port) for e in endpoints]
    try:
        with RoundRobin(backends) as balancer, ExitStack() as running:
            # The browser's origin is the balancer's; every replica allows it.
            settings = {"BLOSSOM_ALLOWED_ORIGINS": balancer.url}
            for endpoint, folder in zip(endpoints, logs, strict=True):
                running.enter_context(running_services(endpoint, folder, "/readyz", settings))
            yield Replicas(balancer, logs)
    finally:
        drop_database(pg_server, name)


def served_by(replicas: Replicas, request_id: str) -> int:
    """Which replica's edge logged the request (once written: the edge writes its log out
    every 0.2 s)."""

    def found() -> list[int]:
        return [
            n
            for n, folder in enumerate(replicas.logs)
            for line in (folder / "edge.log").read_text().splitlines()
            if line.startswith("{") and json.loads(line).get("request_id") == request_id
        ]

    (replica,) = eventually(found, 5, f"the edge's line for {request_id}")
    return replica


def test_a_session_made_on_one_replica_works_and_ends_on_every_other(replicas: Replicas) -> None:
    lb = replicas.url
    account = signup(lb)
    seen = set()
    for _ in range(6):
        reply = post(lb, "/rpc/me", {}, account.cookie)
        assert reply.status == 200, reply.body
        assert reply.json()["id"] == account.user["id"]
        seen.add(served_by(replicas, reply.header("x-request-id") or ""))
    assert seen == {0, 1}, "both replicas served the session"

    login = post(lb, "/auth/login", {"email": account.email, "password": PASSWORD})
    assert login.status == 200
    cookie = {"Cookie": f"{COOKIE_NAME}={session_cookie(login)}"}
    logout = post(lb, "/auth/logout", {}, cookie)
    assert logout.status == 204
    for _ in range(4):  # refused on the replica that ended it and on the other alike
        assert post(lb, "/rpc/me", {}, cookie).status == 401
    assert post(lb, "/rpc/me", {}, account.cookie).status == 200, "the other session lives on"


def test_what_one_replica_writes_every_replica_reads(replicas: Replicas) -> None:
    lb = replicas.url
    # Its own six connections are counted: the module's earlier tests' made the count pass alone.
    before = replicas.balancer.connections.copy()
    owner = signup(lb)
    rpc = {"Origin": lb} | owner.cookie
    made = [post(lb, "/rpc/create_organization", {"name": f"Replicated {n}"}, rpc) for n in range(2)]
    assert [reply.status for reply in made] == [200, 200]
    writers = {served_by(replicas, reply.header("x-request-id") or "") for reply in made}
    assert writers == {0, 1}
    for _ in range(2):
        listed = post(lb, "/rpc/list_organizations", {}, owner.cookie)
        assert sorted(org["name"] for org in listed.json()) == ["Replicated 0", "Replicated 1"]
    assert request(lb, "GET", "/readyz").status == 200
    made_here = replicas.balancer.connections - before
    assert [made_here[backend] for backend in replicas.balancer.backends] == [3, 3], "each served half"
