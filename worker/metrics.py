"""The worker's numbers in Prometheus's text format, served on BLOSSOM_WORKER_METRICS_PORT (on
BLOSSOM_WORKER_METRICS_HOST, default loopback) when it is set.

Deliveries by channel (mail, slack) and outcome (delivered, retried, failed, skipped: done
already), the time from a mail being queued to its delivery, and each queue's jobs by status,
counted when scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from blossom_db.connections import Connection

log = logging.getLogger("blossom.worker")

# From a mail sent at once (well under a second) to one that waited out its retries (hours).
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
OUTCOMES = ("delivered", "retried", "failed", "skipped")
CHANNELS = ("mail", "slack")


class QueueDepth(Collector):
    """The queues' jobs by status, read from the job queue's table at each scrape."""

    def __init__(self, database_url: str, queues: tuple[str, ...]) -> None:
        self.database_url = database_url
        self.queues = queues

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "blossom_worker_queue_jobs", "Jobs of each queue, by status.", labels=["queue", "status"]
        )
        up = GaugeMetricFamily("blossom_worker_database_up", "1 when the queue could be read.")
        try:
            with Connection.connect(
                self.database_url, connect_timeout=2, application_name="blossom-worker-metrics"
            ) as conn:
                rows = conn.execute(
                    "select queue_name, status::text, count(*) from jobs.procrastinate_jobs"
                    " where queue_name = any(%s) group by queue_name, status",
                    (list(self.queues),),
                ).fetchall()
        except psycopg.Error as error:
            log.warning("metrics: the job queue could not be read: %s", type(error).__name__)
            up.add_metric([], 0)
            return [up]
        counts = {(queue, status): 0 for queue in self.queues for status in ("todo", "doing", "failed")}
        counts |= {(str(queue), str(status)): int(n) for queue, status, n in rows}
        for (queue, status), count in sorted(counts.items()):
            depth.add_metric([queue, status], count)
        up.add_metric([], 1)
        return [depth, up]


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "blossom_worker_deliveries",
            "Delivery tries, by channel (mail, slack) and outcome: delivered, retried (failed for now),"
            " failed (given up), skipped (delivered, given up or withdrawn already).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        for channel in CHANNELS:
            for outcome in OUTCOMES:
                self.deliveries.labels(channel, outcome)
        self.latency = Histogram(
            "blossom_worker_delivery_latency_seconds",
            "Time from a mail being queued (its outbox row) to its delivery.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def serve(self, host: str, port: int, database_url: str, queues: tuple[str, ...]) -> None:
        """Serve the metrics over HTTP from a thread of their own, the queues' depth included."""
        self.registry.register(QueueDepth(database_url, queues))
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:
            # Mail matters more than its numbers: deliver without them, and say so.
            log.error("metrics: cannot listen on %s:%d (%s); serving none", host, port, error)
            return
        log.info("metrics on http://%s:%d/metrics", host, port)
