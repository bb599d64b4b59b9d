"""`GET /metrics` on the edge (edge/metrics.py) and the worker's metrics (worker/metrics.py), read
as Prometheus reads them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.scratch import free_port
from tests.support.auth_client import post, signup
from tests.support.http import request
from tests.support.silent_server import SilentServer
from tests.support.smtp_server import SmtpServer
from tests.support.stack import Stack, make_stack
from tests.support.worker import eventually, queue_mail, running_worker
from worker.metrics import QueueDepth

PROXY = "127.0.0.9"


SETTINGS = {"BLOSSOM_METRICS_NETWORKS": "127.0.0.1/32", "BLOSSOM_TRUSTED_PROXIES": f"{PROXY}/32"}


@pytest.fixture(scope="module")
def measured(
    pg_server: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(
        pg_server, template_database, tmp_path_factory.mktemp("measured"), settings=SETTINGS
    ) as running:
        yield running


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str, source: str = "127.0.0.1", headers: dict[str, str] | None = None) -> str:
    reply = request(url, "GET", "/metrics", source=source, headers=headers)
    assert reply.status == 200, reply.body
    assert (reply.header("content-type") or "").startswith("text/plain")
    return reply.body.decode()


def requests_of(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], route: str, status: str
) -> float:
    key = (
        "blossom_edge_requests_total",
        frozenset({("method", "POST"), ("route", route), ("status", status)}),
    )
    return scraped.get(key, 0.0)


def test_requests_are_counted_by_route_and_status_and_timed(measured: Stack) -> None:
    edge = measured.edge_url
    before = samples(scrape(edge))
    account = signup(edge)
    assert post(edge, "/rpc/me", {}, account.cookie).status == 200
    assert post(edge, "/rpc/me", {}).status == 401
    assert post(edge, "/rpc/made_up_function_name", {}).status == 404
    after = samples(scrape(edge))
    assert requests_of(after, "/auth/signup", "201") - requests_of(before, "/auth/signup", "201") == 1
    assert requests_of(after, "/rpc/me", "200") - requests_of(before, "/rpc/me", "200") == 1
    assert requests_of(after, "/rpc/me", "401") - requests_of(before, "/rpc/me", "401") == 1
    # A function PostgREST does not know is no route of its own: clients cannot make up series.
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    assert not any("made_up_function_name" in str(labels) for _, labels in after)
    count = ("blossom_edge_request_duration_seconds_count", frozenset({("route", "/rpc/me")}))
    assert after[count] - before.get(count, 0) == 2
    for gauge in ("requests_in_flight", "upstream_connections_in_use", "database_connections_in_use"):
        assert (f"blossom_edge_{gauge}", frozenset()) in after


def test_made_up_functions_refused_before_postgrest_looks_them_up_make_no_series(measured: Stack) -> None:
    """A refusal of the edge's (400) or of the pre-request's (403 auth.csrf) comes before anyone
    knows whether the function exists: each made-up name was a series of its own."""
    edge = measured.edge_url
    not_json = request(
        edge, "POST", "/rpc/made_up_by_csrf", body=b"x", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status == 403
    assert request(edge, "GET", "/rpc/made_up_by_query?%ff=1").status == 400
    after = samples(scrape(edge))
    assert not any("made_up_by" in str(labels) for _, labels in after)


def test_metrics_answer_only_the_allowed_networks_even_through_a_trusted_proxy(measured: Stack) -> None:
    edge = measured.edge_url
    assert request(edge, "GET", "/metrics", source="127.0.0.2").status == 404
    # Through the proxy, the client is its X-Forwarded-For entry: one from outside is refused.
    assert (
        request(edge, "GET", "/metrics", source=PROXY, headers={"X-Forwarded-For": "203.0.113.5"}).status
        == 404
    )
    assert "blossom_edge_requests_total" in scrape(edge, PROXY, {"X-Forwarded-For": "127.0.0.1"})


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "HEAD", "DELETE"])
def test_metrics_are_not_found_from_outside_the_allowed_networks_whatever_the_method(
    measured: Stack, method: str
) -> None:
    """Not only GET: an OPTIONS answered 204 with its Allow, or another method 405, told a client
    outside the networks that the route was there, which its 404 to GET denies."""
    outside = request(measured.edge_url, method, "/metrics", source="127.0.0.2")
    assert outside.status == 404
    assert outside.header("Allow") is None
    if method != "HEAD":
        assert outside.json()["code"] == "edge.not_found"
    # From inside, the route answers as any other.
    inside = request(measured.edge_url, method, "/metrics")
    assert inside.status == {"OPTIONS": 204, "HEAD": 200}.get(method, 405)


def test_a_preflight_of_metrics_allows_nothing_from_outside_the_allowed_networks(measured: Stack) -> None:
    headers = {
        "Origin": f"http://localhost:{urlsplit(measured.edge_url).port}",
        "Access-Control-Request-Method": "GET",
    }
    outside = request(measured.edge_url, "OPTIONS", "/metrics", source="127.0.0.2", headers=headers)
    assert outside.header("Access-Control-Allow-Methods") is None
    inside = request(measured.edge_url, "OPTIONS", "/metrics", headers=headers)
    assert inside.header("Access-Control-Allow-Methods") == "GET, HEAD, OPTIONS"


def test_the_worker_counts_deliveries_and_their_latency_and_the_queue(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = {"BLOSSOM_WORKER_METRICS_PORT": str(port)}
    worker_url = f"http://127.0.0.1:{port}"
    with SmtpServer() as smtp, running_worker(database_url, smtp.url, tmp_path, **settings):
        queue_mail(database_url, "metered@example.com")
        smtp.wait_for(1)

        def delivered() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            scraped = samples(scrape(worker_url))
            delivered_mail = frozenset({("channel", "mail"), ("outcome", "delivered")})
            done = scraped.get(("blossom_worker_deliveries_total", delivered_mail))
            return scraped if done == 1 else None

        scraped = eventually(delivered, what="the delivery counted")
    assert scraped[("blossom_worker_delivery_latency_seconds_count", frozenset())] == 1
    assert scraped[("blossom_worker_database_up", frozenset())] == 1
    for queue in ("mail", "slack"):
        assert scraped[("blossom_worker_queue_jobs", frozenset({("queue", queue), ("status", "todo")}))] == 0
    no_post = frozenset({("channel", "slack"), ("outcome", "delivered")})
    assert scraped[("blossom_worker_deliveries_total", no_post)] == 0


def test_upstream_errors_are_counted_by_code(pg_server: str, template_database: str, tmp_path: Path) -> None:
    """On a stack of its own, whose PostgREST it stops: on the module's, every test after it (in
    another order than the file's) was answered 503 edge.upstream_unavailable."""
    with make_stack(pg_server, template_database, tmp_path, settings=SETTINGS) as stack:
        stack.services.postgrest.terminate()
        stack.services.postgrest.wait(10)
        assert post(stack.edge_url, "/rpc/me", {}).status == 503
        scraped = samples(scrape(stack.edge_url))
    assert (
        scraped[("blossom_edge_upstream_errors_total", frozenset({("code", "edge.upstream_unavailable")}))]
        == 1
    )


def test_the_queue_read_from_a_database_that_does_not_answer_is_down_and_lets_go_of_its_socket() -> None:
    """A scrape while Postgres takes connections and never answers (as while it shuts down): the
    queue reads as down after the connect timeout, and the attempt's socket is closed then."""
    with SilentServer() as silent:
        families = list(
            QueueDepth(f"postgresql://worker@127.0.0.1:{silent.port}/blossom", ("mail",)).collect()
        )
        time.sleep(0.2)
        (attempt,) = silent.connections
        assert attempt.closed is not None, "the attempt's socket is still open"
    assert [(family.name, [sample.value for sample in family.samples]) for family in families] == [
        ("blossom_worker_database_up", [0.0])
    ]
