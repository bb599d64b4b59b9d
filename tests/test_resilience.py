"""The edge outlives Postgres: /readyz says 503 while it is down and 200 once it is back."""

from __future__ import annotations

import time
from pathlib import Path

from ops.migrate import migrate
from ops.scratch import temporary_cluster
from ops.services import Endpoints, running_services
from tests.http import Reply, request


def _readyz_until(edge_url: str, status: int, timeout: float = 30.0) -> Reply:
    deadline = time.monotonic() + timeout
    while True:
        reply = request(edge_url, "GET", "/readyz")
        if reply.status == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_killing_postgres_makes_readyz_503_and_its_return_makes_it_200(tmp_path: Path) -> None:
    with temporary_cluster(prefix="blossom-resilience-") as cluster:
        cluster.create_database("blossom")
        url = cluster.url("blossom")
        migrate(url, quiet=True)
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, tmp_path) as services:
            assert _readyz_until(endpoints.edge_url, 200).status == 200

            cluster.stop(mode="immediate")
            down = _readyz_until(endpoints.edge_url, 503)
            assert down.status == 503
            assert down.header("content-type") == "application/json"
            assert down.json()["code"] == "edge.not_ready"
            assert down.json()["details"]["postgres"] != "ok"

            cluster.start()
            back = _readyz_until(endpoints.edge_url, 200, timeout=60)
            assert back.status == 200, back.body
            assert services.edge.poll() is None, "the edge kept running throughout"
