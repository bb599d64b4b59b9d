"""`just test`: every check, on one throwaway cluster that is removed afterwards.

Stages, all run even when one fails: lint, sql-lint (plpgsql_check, squawk and schema-qualified
calls: ops/sql_lint.py), schema-check, codegen-check, typescript (tsc --strict on
clients/typescript, type tests included), pgTAP (schema tap, then pg_prove), pytest. Extra
arguments go to pytest. Exit status is non-zero when any stage failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg

from deploy.migrate import migrate
from ops import sql_lint
from ops.cluster import PG_BIN
from ops.schema_check import schema_diff
from ops.scratch import SCRATCH_URL_VARIABLE, scratch_database, temporary_cluster
from ops.settings import ROOT

PYTHON = sys.executable


def banner(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def lint() -> bool:
    commands = [
        [PYTHON, "-m", "ruff", "check", "."],
        [PYTHON, "-m", "ruff", "format", "--check", "."],
        [PYTHON, "-m", "mypy"],
    ]
    return all(subprocess.call(command, cwd=ROOT) == 0 for command in commands)


def schema_check() -> bool:
    diff = schema_diff()
    if diff:
        print("migrations/ and sql/schema/ disagree:\n" + "\n".join(diff))
        return False
    print("migrations/ build exactly what sql/schema/ describes")
    return True


def codegen_check() -> bool:
    return subprocess.call([PYTHON, "-m", "ops.codegen", "--check"], cwd=ROOT) == 0


TSC = ROOT / ".tools" / "typescript-5.6.3" / "package" / "bin" / "tsc"


def typescript() -> bool:
    if not TSC.exists():
        print(f"TypeScript is not installed at {TSC.relative_to(ROOT)}: run ./dev")
        return False
    project = ROOT / "clients" / "typescript" / "tsconfig.json"
    return subprocess.call(["node", str(TSC), "--project", str(project)], cwd=ROOT) == 0


PGTAP_TESTS = ROOT / "sql" / "tests"
# The tests' own schema `tap`, installed next to pgTAP; never part of a migrated database.
PGTAP_HELPERS = PGTAP_TESTS / "helpers" / "tap.sql"


def pgtap(server_url: str) -> bool:
    tests = sorted(str(path.relative_to(ROOT)) for path in PGTAP_TESTS.glob("*.sql"))
    if not tests:
        print("no pgTAP tests found under sql/tests")
        return False
    with scratch_database(server_url, "pgtap") as url:
        migrate(url, quiet=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create extension if not exists pgtap with schema public")
            conn.execute(PGTAP_HELPERS.read_text().encode())
        env = os.environ | {"PATH": f"{PG_BIN}:{os.environ['PATH']}"}
        return subprocess.call(["pg_prove", "--failures", "--dbname", url, *tests], cwd=ROOT, env=env) == 0


# pytest's exit status when the selection holds no test: one of the two runs may select none.
NO_TESTS_COLLECTED = 5
PYTEST_PROCESSES = "3"


def pytest(args: list[str]) -> bool:
    """Most tests on three processes, the ones that assert about time or load (marked serial in
    tests/conftest.py) alone afterwards: they wait on servers far more than they compute, so
    three at a time keep two cores busy (measured on two cores: 182 s on two processes, 167 s on
    three)."""
    runs = [
        ["-n", PYTEST_PROCESSES, "--dist", "loadfile", "-m", "not serial"],
        ["-p", "no:xdist", "-m", "serial"],
    ]
    codes = [subprocess.call([PYTHON, "-m", "pytest", *run, *args], cwd=ROOT) for run in runs]
    return all(code in (0, NO_TESTS_COLLECTED) for code in codes) and set(codes) != {NO_TESTS_COLLECTED}


def main() -> None:
    pytest_args = sys.argv[1:]
    results: dict[str, bool] = {}
    started = time.monotonic()

    def stage(name: str, run: Callable[[], bool]) -> None:
        banner(name)
        began = time.monotonic()
        try:
            results[name] = run()
        except Exception as error:  # noqa: BLE001 - a crashed stage is a failed stage; go on
            print(f"{name} crashed: {type(error).__name__}: {error}")
            results[name] = False
        print(f"--- {name}: {'ok' if results[name] else 'FAILED'} ({time.monotonic() - began:.1f}s)")

    stage("lint", lint)
    with temporary_cluster(prefix="blossom-test-") as cluster:
        server_url = cluster.url("postgres")
        os.environ[SCRATCH_URL_VARIABLE] = server_url
        stage("sql-lint", lambda: sql_lint.run(server_url))
        stage("schema-check", schema_check)
        stage("codegen-check", codegen_check)
        stage("typescript", typescript)
        stage("pgTAP", lambda: pgtap(server_url))
        stage("pytest", lambda: pytest(pytest_args))

    failed = [name for name, ok in results.items() if not ok]
    elapsed = time.monotonic() - started
    print(f"\n==> {len(results) - len(failed)} of {len(results)} stages passed in {elapsed:.0f}s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
