"""`GET /metrics`: the edge's numbers in Prometheus's text format (prometheus-client).

Requests by method, route and status; their durations by route; upstream errors by code;
requests under way; PostgREST and database connections in use. A route is a path the edge
serves (`/auth/login`, `/rpc/me` when PostgREST knew the function); anything else counts as
`unmatched`, so that a client cannot make up new series.

Only clients in BLOSSOM_METRICS_NETWORKS (default loopback) are answered; anyone else gets 404,
as for a path that does not exist, whatever the method (and a preflight allows nothing). Behind a
trusted proxy the client is the proxy's X-Forwarded-For entry, so a request from outside through
the proxy is refused too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from blossom_db import generated as db
from edge.config import EdgeConfig, within
from edge.proxy import RPC_PATH
from edge.security import client_ip

UNMATCHED = "unmatched"
# Distinct (method, path, status) whose metrics are kept at hand; made-up paths beyond it are
# still counted, only more slowly.
MAX_CACHED = 4096
# Request durations: from a cached read (a few ms) to the upstream timeout.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class EdgeMetrics:
    def __init__(self) -> None:
        # The paths the edge serves besides /rpc/*: create_app sets them from its routes.
        self.known_paths: frozenset[str] = frozenset()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "blossom_edge_requests",
            "Requests answered, by method, route and status (0: no answer was sent).",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "blossom_edge_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "blossom_edge_upstream_errors",
            "Requests to PostgREST that failed, by the code the edge answered.",
            ["code"],
            registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        """A number read when the metrics are scraped (connections in use, requests under way)."""
        Gauge(name, documentation, registry=self.registry).set_function(value)

    def route(self, path: str, status: int) -> str:
        if path in self.known_paths:
            return path
        # Only the API's functions: any other name is the client's invention, whether PostgREST
        # said so (404) or something refused the call before it looked (400, 403 auth.csrf).
        match = RPC_PATH.fullmatch(path.encode())
        if match is not None and match.group(1).decode() in db.API_FUNCTIONS:
            return path
        return UNMATCHED

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, status)
        children = self._children.get(key)
        if children is None:
            # labels() takes a lock and builds a key each time: done once per distinct request.
            route = self.route(path, status)
            children = self.requests.labels(method, route, str(status)), self.durations.labels(route)
            if len(self._children) < MAX_CACHED:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def may_scrape(scope: Scope, config: EdgeConfig) -> bool:
    """Whether the request's client is in BLOSSOM_METRICS_NETWORKS: the route is shown to it alone."""
    client = client_ip(Request(scope), config)
    return client is not None and within(client, config.metrics_networks)
