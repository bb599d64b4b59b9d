"""How long codegen takes on the full schema (goal: under 5 seconds), against pg_dump.

Each round runs `codegen.generate` (catalog read, every function body parsed for its error
codes, both clients emitted, nothing written) and `pg_dump --schema-only` of the same database,
which reads the same catalog to print it, in turns; medians are reported, and their ratio so
that the number means something on a slower or busier machine. Prints numbers; never fails on
them.

Usage: python bench/codegen_speed.py (reads BLOSSOM_BENCH_DATABASE_URL, as
`just bench codegen_speed` sets it).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codegen.config import Config
from codegen.generate import generate
from ops.cluster import PG_BIN

GOAL_SECONDS = 5.0
ROUNDS = 5


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    url = os.environ["BLOSSOM_BENCH_DATABASE_URL"]
    config = replace(Config(), command="just codegen")
    dump = [str(PG_BIN / "pg_dump"), "--schema-only", "--dbname", url]
    codegen_s: list[float] = []
    dump_s: list[float] = []
    for _ in range(ROUNDS):
        codegen_s.append(seconds(lambda: generate(url, config)))
        dump_s.append(seconds(lambda: subprocess.run(dump, check=True, capture_output=True)))
    ours, baseline = statistics.median(codegen_s), statistics.median(dump_s)
    verdict = "within" if ours < GOAL_SECONDS else "OVER"
    print(f"codegen, full schema      {ours:6.2f} s  ({verdict} the {GOAL_SECONDS:.0f} s goal)")
    print(f"pg_dump --schema-only     {baseline:6.2f} s")
    print(f"codegen / pg_dump         {ours / baseline:6.2f}x  (medians of {ROUNDS} rounds, in turns)")


if __name__ == "__main__":
    main()
