"""The edge's proxying cost, and the pre-request's: requests per second and p50/p99 latency.

1. GET /rpc/me with one valid session, through the edge and against PostgREST directly
   (floor: the edge keeps 60% of PostgREST's throughput; aim: 80%); and the edge's own CPU time
   per request (when BLOSSOM_BENCH_EDGE_PID names it), which moves less from run to run than
   the ratio: a change to the edge shows there first.
2. The pre-request's own cost: a trivial RPC on PostgREST against a second PostgREST started
   without db-pre-request, both sent the same request as the edge sends one (the session
   cookie, which the pre-request looks up, and an X-Request-Id, which it records), the session
   marked as used as the edge keeps it for a client who reads (goal: it
   costs 25% or less); and its own time inside Postgres, each call in a transaction of its own
   as PostgREST makes it, without the round trip: measured in turns with and without it, a
   change to the pre-request shows there first (an absolute time, it moves with the shared
   machine's speed from run to run; compare runs taken close together).

Usage: python bench/proxy.py [EDGE_URL POSTGREST_URL DATABASE_URL]
(default: BLOSSOM_BENCH_EDGE_URL, BLOSSOM_BENCH_POSTGREST_URL, BLOSSOM_BENCH_DATABASE_URL, as
`just bench` sets them). Loopback only; each measurement is bounded in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.bench import bench_count, bench_number
from ops.services import Endpoints, start_postgrest, stop, wait_http

# More rounds, shorter: on a shared machine a round's ratio moves by ten points and more, and
# the median of ten pairs sits closer to the truth than the median of six.
SECONDS = bench_number("BLOSSOM_BENCH_SECONDS")
ROUNDS = bench_count("BLOSSOM_BENCH_ROUNDS")
CONCURRENCY = bench_count("BLOSSOM_BENCH_CONCURRENCY")
# A GET's settings as PostgREST makes them, then the pre-request or not, committed each time:
# a procedure, so that each call is a transaction of its own and no round trip is timed.
IN_DATABASE_CALLS = 20_000
IN_DATABASE_ROUNDS = 5
IN_DATABASE_LOOP = """
create procedure pg_temp.requests(p_calls integer, p_pre_request boolean, p_cookies text,
                                  inout microseconds double precision default null,
                                  inout signed_in boolean default null)
language plpgsql
as $$
declare
  v_started timestamptz;
begin
  for i in 1 .. p_calls + 200 loop
    if i = 201 then
      v_started := pg_catalog.clock_timestamp();
    end if;
    perform pg_catalog.set_config('request.method', 'GET', true),
            pg_catalog.set_config('request.cookies', p_cookies, true),
            pg_catalog.set_config('app.settings.session_cookie', 'blossom_session', true),
            pg_catalog.set_config('app.settings.cookie_insecure', '1', true),
            pg_catalog.set_config('role', 'web_anon', true);
    if p_pre_request then
      perform auth.pre_request();
    end if;
    signed_in := pg_catalog.current_setting('app.user_id', true) <> '';
    commit;
  end loop;
  microseconds := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() - v_started) * 1e6 / p_calls;
end
$$;
"""
PING_SQL = """
create function api.bench_ping() returns integer language sql stable as $$ select 1 $$;
grant execute on function api.bench_ping() to web_anon, authenticated;
notify pgrst, 'reload schema';
"""


@dataclass(frozen=True)
class Result:
    label: str
    requests: int
    seconds: float
    latencies: list[float]
    # Every request answered, the warm-up's included.
    answered: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.label:<44} {self.rate:>8.0f} req/s   p50 {self.percentile(0.50):6.2f} ms"
            f"   p99 {self.percentile(0.99):6.2f} ms"
        )


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user and system (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loopback(url: str) -> str:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench: loopback URLs only, not {url}")
    return url.rstrip("/")


def sign_up(edge_url: str) -> str:
    body = json.dumps(
        {
            "email": f"bench-{secrets.token_hex(4)}@example.com",
            "password": "bench password 1",
            "display_name": "B",
        }
    ).encode()
    req = urllib.request.Request(
        f"{edge_url}/auth/signup", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as reply:
        cookie = reply.headers["Set-Cookie"]
    return str(cookie.split(";", 1)[0].split("=", 1)[1])


def client_address(number: int) -> str:
    """The loopback address client `number` sends from: each client is another address, as the
    edge tells clients apart (it gives each address a share of PostgREST's connections)."""
    return f"127.0.0.{10 + number}"


async def measure(label: str, url: str, headers: dict[str, str]) -> Result:
    latencies: list[float] = []
    answered = 0
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, local_addr=(client_address(number), 0)))
        for number in range(CONCURRENCY)
    ]
    try:

        async def worker(session: aiohttp.ClientSession, deadline: float, record: bool) -> None:
            nonlocal answered
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url, headers=headers) as reply:
                    await reply.read()
                    if reply.status != 200:
                        raise RuntimeError(f"{label}: {url} answered {reply.status}")
                answered += 1
                if record:
                    latencies.append(time.perf_counter() - started)

        warm = time.perf_counter() + 0.5
        await asyncio.gather(*(worker(session, warm, False) for session in sessions))
        began = time.perf_counter()
        await asyncio.gather(*(worker(session, began + SECONDS, True) for session in sessions))
        elapsed = time.perf_counter() - began
    finally:
        for session in sessions:
            await session.close()
    return Result(label, len(latencies), elapsed, latencies, answered)


@dataclass(frozen=True)
class Comparison:
    first: Result
    second: Result
    # second's rate over first's, round by round: each pair measured back to back.
    ratios: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def spread(self, *, as_cost: bool = False) -> str:
        """The rounds' range, of the ratio or (as_cost) of what the second side costs."""
        low, high = min(self.ratios), max(self.ratios)
        if as_cost:
            low, high = 1 - high, 1 - low
        return f"median of {len(self.ratios)} rounds; {low:.0%} to {high:.0%}"


async def compare(
    first: tuple[str, str, dict[str, str]],
    second: tuple[str, str, dict[str, str]],
    before_each: Callable[[], None],
) -> Comparison:
    """Both sides measured in turns (first, second, second, first, ...) so that a change of load
    on this machine falls on both alike, each after `before_each`. The ratio is the median of
    each round's ratio (two measurements taken back to back), which a burst of load elsewhere
    moves less than a ratio of medians; each side's rate is its median, latencies are pooled."""
    runs: dict[str, list[Result]] = {first[0]: [], second[0]: []}
    for round_number in range(ROUNDS):
        order = (first, second) if round_number % 2 == 0 else (second, first)
        for label, url, headers in order:
            before_each()
            runs[label].append(await measure(label, url, headers))

    def pooled(label: str) -> Result:
        results = runs[label]
        median = statistics.median(result.rate for result in results)
        latencies = [latency for result in results for latency in result.latencies]
        answered = sum(result.answered for result in results)
        return Result(label, round(median * SECONDS), SECONDS, latencies, answered)

    ratios = [b.rate / a.rate for a, b in zip(runs[first[0]], runs[second[0]], strict=True)]
    return Comparison(pooled(first[0]), pooled(second[0]), ratios)


def session_kept_in_use(database_url: str, token: str) -> Callable[[], None]:
    """Marks the session as used when it is due (at most once a minute), as the edge does for a
    client who reads through it (edge/activity.py). Without it, from the bench's second minute
    on every read sent to PostgREST directly took the path of a session due to be marked (an
    answer header to add, and to parse), which a client of the edge takes once a minute."""

    def mark() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("select auth.touch_session(%s)", [token])

    return mark


async def run(edge_url: str, postgrest_url: str, database_url: str) -> None:
    token = sign_up(edge_url)
    cookie = {"Cookie": f"blossom_session={token}"}
    in_use = session_kept_in_use(database_url, token)
    print(
        f"{CONCURRENCY} concurrent clients (each its own address), {ROUNDS} rounds of {SECONDS:.0f} s"
        " per side in turns (median rate, pooled latencies), aiohttp, loopback"
    )

    edge_pid = os.environ.get("BLOSSOM_BENCH_EDGE_PID")
    edge_cpu = cpu_seconds(int(edge_pid)) if edge_pid else 0.0
    proxied = await compare(
        ("GET /rpc/me  PostgREST directly", f"{postgrest_url}/rpc/me", cookie),
        ("GET /rpc/me  through the edge", f"{edge_url}/rpc/me", cookie),
        in_use,
    )
    print(proxied.first.line())
    print(proxied.second.line())
    print(
        f"edge keeps {proxied.ratio:.0%} of PostgREST's throughput ({proxied.spread()}; floor 60%, aim 80%)"
    )
    if edge_pid:
        # Steadier than the ratio, which the other processes' share of the cores moves too.
        used = cpu_seconds(int(edge_pid)) - edge_cpu
        print(f"the edge's own CPU time: {used / proxied.second.answered * 1e6:.0f} µs per request")

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(PING_SQL.encode())
    await asyncio.sleep(0.5)
    endpoints = Endpoints.on_free_ports(database_url)
    os.environ["PGRST_DB_PRE_REQUEST"] = ""
    with tempfile.TemporaryDirectory() as logs:
        bare = start_postgrest(endpoints, Path(logs) / "postgrest.log")
        try:
            wait_http(f"{endpoints.postgrest_admin_url}/ready", bare)
            as_from_edge = cookie | {"X-Request-Id": secrets.token_hex(16)}
            bare_ping, ping = f"{endpoints.postgrest_url}/rpc/bench_ping", f"{postgrest_url}/rpc/bench_ping"
            hooked = await compare(
                ("GET /rpc/bench_ping  without pre-request", bare_ping, as_from_edge),
                ("GET /rpc/bench_ping  with pre-request", ping, as_from_edge),
                in_use,
            )
            print(hooked.second.line())
            print(hooked.first.line())
        finally:
            stop(bare)
    print(
        f"the pre-request costs {1 - hooked.ratio:.0%} of PostgREST's throughput"
        f" ({hooked.spread(as_cost=True)}; goal 25% or less)"
    )
    in_use()
    own = in_database_microseconds(database_url, token)
    print(
        f"the pre-request's own time inside Postgres: {own:.1f} µs a call"
        f" (a GET with the session cookie, each in a transaction of its own; medians of"
        f" {IN_DATABASE_ROUNDS} rounds of {IN_DATABASE_CALLS:,})"
    )


def in_database_microseconds(database_url: str, token: str) -> float:
    """The pre-request's own time a call inside Postgres: the loop with it less the loop without,
    each the median of its rounds, taken in turns."""
    cookies = json.dumps({"blossom_session": token})
    runs: dict[bool, list[float]] = {True: [], False: []}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(IN_DATABASE_LOOP.encode())
        for round_number in range(IN_DATABASE_ROUNDS):
            for pre_request in (True, False) if round_number % 2 == 0 else (False, True):
                row = conn.execute(
                    "call pg_temp.requests(%s, %s, %s)", (IN_DATABASE_CALLS, pre_request, cookies)
                ).fetchone()
                if row is None or row[1] is not pre_request:
                    raise RuntimeError(f"bench: the loop's pre-request did not find the session: {row}")
                runs[pre_request].append(float(row[0]))
    return statistics.median(runs[True]) - statistics.median(runs[False])


def main() -> None:
    args = sys.argv[1:]
    edge_url = args[0] if len(args) > 0 else os.environ.get("BLOSSOM_BENCH_EDGE_URL", "")
    postgrest_url = args[1] if len(args) > 1 else os.environ.get("BLOSSOM_BENCH_POSTGREST_URL", "")
    database_url = args[2] if len(args) > 2 else os.environ.get("BLOSSOM_BENCH_DATABASE_URL", "")
    if not (edge_url and postgrest_url and database_url):
        raise SystemExit(__doc__)
    asyncio.run(run(loopback(edge_url), loopback(postgrest_url), database_url))


if __name__ == "__main__":
    main()
