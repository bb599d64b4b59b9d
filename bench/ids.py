"""What app.gen_id costs as a primary key, against gen_random_uuid(): bulk-insert time and ratio.

Each contender is a regular (logged, not temporary, not unlogged) table in a scratch schema,
`id ... primary key default ...` plus an integer column, filled by one
`insert into t (n) select g from generate_series(1, ROWS) g`. The gen_id table keys on the
app.user_id domain, as real tables do, so its shape check is paid too. Every insert starts from
a freshly created table after a CHECKPOINT; the order alternates from round to round and the
median of each side is compared. JIT is off: requests insert a row or a few, never a million.
Goal: gen_id costs at most 1.5 times gen_random_uuid(). Prints numbers; never fails on them.

Usage: python bench/ids.py [DATABASE_URL] [--rows N] [--rounds N]
DATABASE_URL defaults to BLOSSOM_BENCH_DATABASE_URL (`just bench` sets it): a superuser URL of
a database where sql/schema has been applied. The scratch schema is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import psycopg

GOAL = 1.5
SCHEMA = "bench_ids"


@dataclass(frozen=True)
class Contender:
    table: str
    key_type: str
    default: str

    @property
    def label(self) -> str:
        return self.default


BASELINE = Contender("uuid_keys", "uuid", "gen_random_uuid()")
CANDIDATE = Contender("gen_id_keys", "app.user_id", "app.gen_id('usr')")


Connection = psycopg.Connection[tuple[object, ...]]


def insert_seconds(conn: Connection, who: Contender, rows: int) -> float:
    """Create `who`'s table afresh, checkpoint, and time one bulk insert into it."""
    table = f"{SCHEMA}.{who.table}"
    conn.execute(f"drop table if exists {table}")
    key = f"{who.key_type} primary key default {who.default}"
    conn.execute(f"create table {table} (id {key}, n integer not null)")
    conn.execute("checkpoint")
    fill = f"insert into {table} (n) select g from pg_catalog.generate_series(1, %s) as g"
    started = time.perf_counter()
    conn.execute(fill, [rows])
    return time.perf_counter() - started


def measure(url: str, rows: int, rounds: int) -> dict[Contender, list[float]]:
    times: dict[Contender, list[float]] = {BASELINE: [], CANDIDATE: []}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set jit = off")
        conn.execute(f"drop schema if exists {SCHEMA} cascade")
        conn.execute(f"create schema {SCHEMA}")
        try:
            for number in range(rounds):
                order = (BASELINE, CANDIDATE) if number % 2 == 0 else (CANDIDATE, BASELINE)
                for who in order:
                    seconds = insert_seconds(conn, who, rows)
                    times[who].append(seconds)
                    print(f"  round {number + 1}: {who.label:<18} {seconds:7.2f} s", flush=True)
        finally:
            conn.execute(f"drop schema if exists {SCHEMA} cascade")
    return times


def report(times: dict[Contender, list[float]], rows: int) -> None:
    base, cand = statistics.median(times[BASELINE]), statistics.median(times[CANDIDATE])
    ratio = cand / base
    width = max(len(BASELINE.label), len(CANDIDATE.label))
    print()
    print(f"{'key default':<{width}}  {'median':>9}  {'per row':>9}  all rounds")
    for who, median in ((BASELINE, base), (CANDIDATE, cand)):
        rounds = "  ".join(f"{t:.2f}" for t in times[who])
        print(f"{who.label:<{width}}  {median:7.2f} s  {median / rows * 1e6:6.2f} us  {rounds}")
    verdict = "PASS" if ratio <= GOAL else "MISS"
    print(f"\nratio gen_id / uuid: {ratio:.2f}  (goal <= {GOAL})  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("BLOSSOM_BENCH_DATABASE_URL"),
        help="superuser database URL (default: BLOSSOM_BENCH_DATABASE_URL)",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per insert (1000000)")
    parser.add_argument("--rounds", type=int, default=3, help="inserts per contender (3)")
    args = parser.parse_args()
    if not args.url:
        parser.error("give a database URL or set BLOSSOM_BENCH_DATABASE_URL")
    if args.rows < 1 or args.rounds < 1:
        parser.error("--rows and --rounds must be at least 1")

    print(
        f"bench/ids: {args.rows:,} rows per insert, {args.rounds} rounds in alternating order, "
        "logged tables, jit off"
    )
    report(measure(args.url, args.rows, args.rounds), args.rows)


if __name__ == "__main__":
    main()
