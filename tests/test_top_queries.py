"""`just top-queries` (ops/top_queries.py) on a database of the run's cluster, which loads
pg_stat_statements as every cluster ops/cluster.py starts."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from ops.settings import ROOT


def test_top_queries_prints_the_heaviest_statements_first(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("select pg_sleep(0.05) as the_heavy_one")
        conn.execute("select 1 as the_light_one")
    env = os.environ | {"DATABASE_URL": database_url}
    shown = subprocess.run(
        [sys.executable, "-m", "ops.top_queries", "--limit", "50"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    lines = shown.splitlines()
    assert lines[0].split() == ["calls", "total", "ms", "mean", "ms", "rows", "share", "query"]
    heavy = next(line for line in lines if "the_heavy_one" in line)
    assert heavy.split()[0] == "3"
    assert float(heavy.split()[1]) >= 150
    assert lines.index(heavy) < next(i for i, line in enumerate(lines) if "the_light_one" in line)
    # Read from the server's own database: the application's gets no extension (its view of
    # every statement's counts was then readable by panopticon, and went into every backup).
    with psycopg.connect(database_url) as conn:
        made = conn.execute("select from pg_extension where extname = 'pg_stat_statements'").fetchone()
    assert made is None
