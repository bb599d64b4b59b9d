"""`just top-queries` (ops/top_queries.py) on a database of the run's cluster, which loads
pg_stat_statements as every cluster ops/cluster.py starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ops.scratch import free_port
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


@pytest.mark.parametrize("limit", ["0", "-1", "many", str(2**63)])
def test_a_limit_that_is_no_count_is_refused_before_the_database_is_asked(limit: str, tmp_path: Path) -> None:
    """`./dev top-queries --limit 0` printed an empty table, and `--limit -1` and `--limit
    9223372036854775808` (LIMIT takes a bigint) started the local cluster to be told by Postgres
    "LIMIT must not be negative" or "bigint out of range"."""
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {"BLOSSOM_DATA_DIR": str(data_dir), "BLOSSOM_PG_PORT": str(free_port())}
    ran = subprocess.run(
        [sys.executable, "-m", "ops.top_queries", "--limit", limit],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    assert f"argument --limit: {limit!r} is no count of statements (1 to {2**63 - 1})" in ran.stderr
    assert not data_dir.exists(), "no cluster was made or started for it"
