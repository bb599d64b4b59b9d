"""`just bench [NAME ...]`: run benchmarks under bench/ against a throwaway stack.

Each benchmark is a script `bench/NAME.py` that prints its numbers. It finds the stack in the
environment: BLOSSOM_BENCH_DATABASE_URL (admin URL of a migrated database),
BLOSSOM_BENCH_POSTGREST_URL and BLOSSOM_BENCH_EDGE_URL. Benchmarks print ratios against a
baseline measured in the same run; none of them fails a build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from deploy.migrate import migrate
from ops.scratch import temporary_cluster
from ops.services import Endpoints, running_services
from ops.settings import ROOT

BENCH_DIR = ROOT / "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = sorted(path.stem for path in BENCH_DIR.glob("*.py") if not path.stem.startswith("_"))
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available)})"
    )
    args = parser.parse_args()
    unknown = set(args.names) - set(available)
    if unknown:
        raise SystemExit(f"bench: no such benchmark: {', '.join(sorted(unknown))}")

    with temporary_cluster(prefix="blossom-bench-") as cluster, tempfile.TemporaryDirectory() as logs:
        cluster.create_database("blossom")
        url = cluster.url("blossom")
        migrate(url, quiet=True)
        endpoints = Endpoints.on_free_ports(url)
        with running_services(endpoints, Path(logs), edge_ready="/readyz"):
            env = os.environ | {
                "BLOSSOM_BENCH_DATABASE_URL": url,
                "BLOSSOM_BENCH_POSTGREST_URL": endpoints.postgrest_url,
                "BLOSSOM_BENCH_EDGE_URL": endpoints.edge_url,
            }
            failed = []
            for name in args.names or available:
                print(f"\n==> bench/{name}.py", flush=True)
                if subprocess.call([sys.executable, str(BENCH_DIR / f"{name}.py")], cwd=ROOT, env=env):
                    failed.append(name)
    if failed:
        raise SystemExit(f"bench: these did not run to the end: {', '.join(failed)}")


if __name__ == "__main__":
    main()
