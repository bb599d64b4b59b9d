"""Mail delivery: latency from commit to SMTP server at 50 mails/s (goal: p99 under 1 s), and throughput.

1. Steady load: one mail committed every 20 ms for BLOSSOM_BENCH_MAIL_SECONDS (10); for each,
   the time from its SQL commit to the SMTP server's acceptance of its end of data.
2. Throughput: BLOSSOM_BENCH_MAIL_BURST (1000) mails committed at once; mails/s from the commit
   to the last one's arrival.
The baseline, measured in the same run: the same messages sent straight to the same server by
aiosmtplib, with no queue and no database (one connection per message, as the worker does),
one at a time for latency and 8 at once for throughput.

Usage: python bench/mail.py [DATABASE_URL] (default: BLOSSOM_BENCH_DATABASE_URL, the admin URL
of a migrated database, as `just bench` sets it). The SMTP server is an in-process aiosmtpd
sink on loopback; the worker is `python -m worker`, started here.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _smtp_sink import Sink

from ops.bench import bench_count, bench_number
from ops.services import start_worker, stop, worker_env
from ops.settings import with_user

SECONDS = bench_number("BLOSSOM_BENCH_MAIL_SECONDS")
RATE = 50.0
BURST = bench_count("BLOSSOM_BENCH_MAIL_BURST")
CONCURRENCY = 8  # the worker's default


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def queue(conn: psycopg.Connection[tuple[object, ...]], count: int) -> list[str]:
    rows = conn.execute(
        "insert into app.outbox (topic, payload)"
        " select 'mail.password_reset', %s from generate_series(1, %s) returning id",
        (Jsonb({"to": "bench@example.com", "display_name": "Bench", "token": "t" * 43,
                "expires_at": "2030-01-01T00:00:00+00:00"}), count),
    ).fetchall()  # fmt: skip
    return [str(row[0]) for row in rows]


def steady_load(url: str, sink: Sink) -> list[float]:
    committed: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        conn.execute("set role blossom_owner")
        conn.commit()
        start = time.monotonic()
        for n in range(int(SECONDS * RATE)):
            delay = start + n / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            (event,) = queue(conn, 1)
            conn.commit()
            committed[event] = time.time()
    sink.wait_for(list(committed), 30)
    return [sink.arrivals[event] - at for event, at in committed.items()]


def burst(url: str, sink: Sink, count: int) -> float:
    """`count` mails committed at once; mails/s from the commit to the last arrival."""
    with psycopg.connect(url) as conn:
        conn.execute("set role blossom_owner")
        events = queue(conn, count)
        conn.commit()
        committed = time.time()
    sink.wait_for(events, 120)
    return count / (max(sink.arrivals[event] for event in events) - committed)


def message(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bench@example.com", "bench@example.com", "Bench"
    mail["Message-ID"] = f"<direct{n}@example.com>"
    mail.set_content("Hello\n" * 20)
    return mail


async def direct(sink: Sink, count: int, concurrency: int) -> tuple[list[float], float]:
    """Latencies of sending straight to the sink, `concurrency` at a time; and mails/s."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def send(n: int) -> None:
        async with slots:
            began = time.time()
            await aiosmtplib.send(message(n), hostname="127.0.0.1", port=sink.port)
            latencies.append(sink.arrivals[f"direct{n}"] - began)

    began = time.monotonic()
    await asyncio.gather(*(send(n + count * concurrency) for n in range(count)))
    return latencies, count / (time.monotonic() - began)


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    sink = Sink()
    sink.controller.start()
    settings = worker_env(with_user(url, "worker"), f"smtp://127.0.0.1:{sink.port}", "http://app.example")
    with tempfile.TemporaryDirectory() as logs:
        worker = start_worker(settings, url, Path(logs) / "worker.log")
        try:
            burst(url, sink, 50)  # warm-up: connections, caches
            latencies = steady_load(url, sink)
            throughput = burst(url, sink, BURST)
        finally:
            stop(worker)
    direct_latencies, _ = asyncio.run(direct(sink, 200, 1))
    _, direct_throughput = asyncio.run(direct(sink, BURST, CONCURRENCY))
    sink.controller.stop()

    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    d50, d99 = percentile(direct_latencies, 0.50) * 1000, percentile(direct_latencies, 0.99) * 1000
    print(f"steady load: {len(latencies)} mails at {RATE:.0f}/s, from the SQL commit to the SMTP server")
    print(
        f"  through the worker   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(latencies) * 1000:7.1f} ms"
    )
    print(f"  SMTP alone           p50 {d50:7.1f} ms   p99 {d99:7.1f} ms   (the baseline)")
    print(f"  worker / baseline    p50 {p50 / d50:5.1f}x   p99 {p99 / d99:5.1f}x")
    verdict = "within" if p99 < 1000 else "OVER"
    print(f"  p99 {p99:.0f} ms: {verdict} the 1 s goal; mean {statistics.mean(latencies) * 1000:.1f} ms")
    print(f"throughput: a burst of {BURST} mails, {CONCURRENCY} at once")
    print(f"  through the worker   {throughput:7.1f} mails/s")
    print(f"  SMTP alone           {direct_throughput:7.1f} mails/s   (the baseline)")
    print(f"  worker / baseline    {throughput / direct_throughput:5.2f}")


if __name__ == "__main__":
    main()
