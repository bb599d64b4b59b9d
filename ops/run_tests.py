"""`just test`: every check, on throwaway clusters that are removed afterwards.

Stages, all run even when one fails: the checks (lint, sql-lint: plpgsql_check, squawk and
schema-qualified calls, ops/sql_lint.py; schema-check, codegen-check, typescript: tsc --strict on
clients/typescript, type tests included; pgTAP: the schema tap, then pg_prove) and pytest. The
checks run in a process of their own, on a cluster of their own (ruff and mypy in a thread
beside the others), while pytest's parallel run goes on (they mostly wait on each other's
servers: two cores are not kept busy by either); their output is shown when they are done.
Extra arguments go to pytest. Exit status is non-zero when any stage failed.

    python -m ops.run_tests [PYTEST_ARGS...]   everything
    python -m ops.run_tests --checks           the checks only (`just check`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import psycopg

from deploy.migrate import privileges_on_database, with_database
from ops import pgtap_psql, sql_lint
from ops.cluster import PG_BIN
from ops.schema_check import schema_diff
from ops.scratch import (
    SCRATCH_URL_VARIABLE,
    SERIAL_TESTS,
    TEMPLATE_VARIABLE,
    database_copy,
    database_drop,
    migrated_database,
    temporary_cluster,
)
from ops.settings import ROOT

PYTHON = sys.executable


def banner(title: str) -> None:
    print(f"\n==> {title}", flush=True)


class Lint(threading.Thread):
    """ruff and mypy, in a thread while the other checks use their cluster: mypy without its
    cache (a fresh clone) takes some 30 s alone, as long as all the other checks together. What
    they print is kept, and shown by `report`."""

    COMMANDS = (
        [PYTHON, "-m", "ruff", "check", "."],
        [PYTHON, "-m", "ruff", "format", "--check", "."],
        [PYTHON, "-m", "mypy"],
    )

    def __init__(self) -> None:
        super().__init__(name="lint")
        self.results: list[subprocess.CompletedProcess[str]] = []
        self.seconds = 0.0

    def run(self) -> None:
        began = time.monotonic()
        for command in self.COMMANDS:
            self.results.append(
                subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            )
        self.seconds = time.monotonic() - began

    def report(self) -> bool:
        self.join()
        for result in self.results:
            print(result.stdout + result.stderr, end="", flush=True)
        print(f"(ruff and mypy took {self.seconds:.1f}s, alongside the checks above)")
        return len(self.results) == len(self.COMMANDS) and all(
            result.returncode == 0 for result in self.results
        )


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
PGTAP_PSQL = str(ROOT / "ops" / "pgtap_psql.py")


TEST_USAGE = (
    "usage: just test [PYTEST_ARGS…]: every check (lint, the SQL checks, schema check, codegen"
    " check, TypeScript, pgTAP) and pytest, on a throwaway cluster; PYTEST_ARGS go to pytest,"
    " whose options follow\n"
)
CHECKS_SUMMARY = (
    "Every check but pytest (lint, the SQL checks, schema check, codegen check, TypeScript, pgTAP),"
    " on a throwaway cluster."
)
PGTAP_USAGE = (
    "usage: just pgtap [FILE…]: pgTAP files (default: every one under sql/tests) on a freshly"
    " migrated throwaway database"
)


def pgtap(chosen: Sequence[str] = ()) -> bool:
    """The pgTAP files (every one under sql/tests, or those chosen), each on a copy of a freshly
    migrated database with pgTAP and the helper schema `tap` (ops/pgtap_psql.py), as many at
    once as there are cores."""
    tests = list(chosen) or sorted(str(path.relative_to(ROOT)) for path in PGTAP_TESTS.glob("*.sql"))
    if not tests:
        print("no pgTAP tests found under sql/tests")
        return False
    with migrated_database("pgtap") as url:
        # Its copies are made while no one is connected to it, as CREATE DATABASE needs.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create extension if not exists pgtap with schema public")
            conn.execute(PGTAP_HELPERS.read_text().encode())
            copies = {
                test: pgtap_copy(conn, url, f"{conn.info.dbname}_{number}")
                for number, test in enumerate(tests)
            }
        with tempfile.NamedTemporaryFile("w", prefix="pgtap-copies-", suffix=".json") as written:
            json.dump(copies, written)
            written.flush()
            env = os.environ | {
                # psql of PG_BIN, as everywhere here; the venv's python3 for the wrapper's shebang.
                "PATH": f"{PG_BIN}:{Path(PYTHON).parent}:{os.environ['PATH']}",
                pgtap_psql.COPIES_VARIABLE: written.name,
            }
            prove = ["pg_prove", "--failures", "--jobs", str(os.cpu_count() or 1), "--psql-bin", PGTAP_PSQL]
            return subprocess.call([*prove, *tests], cwd=ROOT, env=env) == 0


def pgtap_copy(conn: psycopg.Connection, url: str, name: str) -> dict[str, object]:
    """How ops/pgtap_psql.py makes, reaches and drops a copy `name` of the database `conn` and
    `url` are of."""
    make = [database_copy(name, conn.info.dbname), *privileges_on_database(name)]
    return {
        "server": with_database(url, "postgres"),
        "name": name,
        "make": [statement.as_string(conn) for statement in make],
        "url": with_database(url, name),
        "drop": [database_drop(name).as_string(conn)],
    }


# pytest's exit status when the selection holds no test: one of the two runs may select none.
NO_TESTS_COLLECTED = 5
PYTEST_PROCESSES = "6"


def pytest(args: list[str], before_serial: Callable[[], None]) -> bool:
    """Most tests on six processes, the ones that assert about time or load (marked serial in
    tests/conftest.py) alone afterwards: they wait on servers far more than they compute, so
    six at a time keep two cores busier (measured on two cores, the checks running alongside:
    146 s on three processes, 122 s on six). `before_serial` runs between the two, so that
    nothing else runs beside the serial ones (SERIAL_TESTS, ops/scratch.py)."""
    parallel = [
        PYTHON,
        "-m",
        "pytest",
        "-n",
        PYTEST_PROCESSES,
        "--dist",
        "loadfile",
        "-m",
        "not serial",
        *args,
    ]
    codes = [subprocess.call(parallel, cwd=ROOT)]
    before_serial()
    # Without arguments, the serial tests are named: only their modules are collected, not every
    # module to keep three tests (3 s of the run's end).
    serial = [PYTHON, "-m", "pytest", "-p", "no:xdist", "-m", "serial", *(args or SERIAL_TESTS)]
    codes.append(subprocess.call(serial, cwd=ROOT))
    return all(code in (0, NO_TESTS_COLLECTED) for code in codes) and set(codes) != {NO_TESTS_COLLECTED}


def write_test_bytecode(args: list[str]) -> subprocess.Popen[bytes]:
    """A collection of the tests alone, started: it writes the bytecode of every test module, its
    asserts rewritten, and of the modules they import, once. Without it, on a fresh clone, each of
    the six processes collected with none there and rewrote all of them at once (4.8 s of CPU a
    process, against 1.9 s with them written). Whatever it finds wrong, the run itself reports."""
    collect = [PYTHON, "-m", "pytest", "-p", "no:xdist", "--collect-only", "-q", *args]
    writing = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.Popen(
        collect, cwd=ROOT, env=writing, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def pytest_on_template(args: list[str], before_serial: Callable[[], None]) -> bool:
    """pytest, both of its runs given one migrated template database on the run's cluster
    (tests/conftest.py copies it for each test), made here once, while the tests' bytecode is
    written."""
    with write_test_bytecode(args) as writing, migrated_database("template") as url:
        os.environ[TEMPLATE_VARIABLE] = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        writing.wait()
        return pytest(args, before_serial)


class Stages:
    """Stages run one after another, each announced, timed and recorded."""

    def __init__(self) -> None:
        self.results: dict[str, bool] = {}

    def run(self, name: str, run: Callable[[], bool]) -> None:
        banner(name)
        began = time.monotonic()
        try:
            self.results[name] = run()
        except Exception as error:  # noqa: BLE001 - a crashed stage is a failed stage; go on
            print(f"{name} crashed: {type(error).__name__}: {error}")
            self.results[name] = False
        outcome = "ok" if self.results[name] else "FAILED"
        print(f"{STAGE_LINE}{name}: {outcome} ({time.monotonic() - began:.1f}s)", flush=True)


# How a stage's outcome is printed, and read back from the checks' own process.
STAGE_LINE = "--- "
STAGE_RESULT = re.compile(rf"^{STAGE_LINE}(?P<name>[\w-]+): (?P<result>ok|FAILED) ", re.MULTILINE)


def checks(stages: Stages) -> None:
    """Every check but pytest, on a cluster of its own."""
    lint = Lint()
    lint.start()
    with temporary_cluster(prefix="blossom-checks-", autovacuum=False) as cluster:
        server_url = cluster.url("postgres")
        os.environ[SCRATCH_URL_VARIABLE] = server_url
        stages.run("sql-lint", lambda: sql_lint.run(server_url))
        stages.run("schema-check", schema_check)
        stages.run("codegen-check", codegen_check)
        stages.run("typescript", typescript)
        stages.run("pgTAP", pgtap)
    stages.run("lint", lint.report)


def checks_alongside(stages: Stages, output: IO[str]) -> Callable[[], None]:
    """Starts the checks in a process of their own, writing to `output`; the function returned
    waits for them, shows what they printed and records their stages' results in `stages`."""
    process = subprocess.Popen(
        [PYTHON, "-m", "ops.run_tests", "--checks"], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
    )

    def finish() -> None:
        process.wait()
        banner("the checks, run meanwhile")
        output.seek(0)
        printed = output.read()
        print(printed, end="", flush=True)
        found = {match["name"]: match["result"] == "ok" for match in STAGE_RESULT.finditer(printed)}
        stages.results |= found
        if process.returncode != 0 and all(found.values()):
            stages.results["checks"] = False  # the process itself failed, whatever it printed

    return finish


def main() -> None:
    arguments = sys.argv[1:]
    # A run starts some seventy Python processes (pytest's, the edges, the workers); without
    # bytecode caches (gitignored __pycache__) each compiles our modules, and pytest rewrites
    # every test module's asserts, again: measured, a pytest process collects in 6.0 s without
    # them and in 3.4 s with them.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    stages = Stages()
    started = time.monotonic()
    if arguments[:1] not in (["--checks"], ["--pgtap"]) and {"-h", "--help"} & set(arguments):
        # Not a run: every check would start alongside, for minutes, around pytest's help.
        print(TEST_USAGE, flush=True)
        raise SystemExit(subprocess.call([PYTHON, "-m", "pytest", "--help"], cwd=ROOT))
    if arguments[:1] == ["--checks"]:
        # `just check` takes no argument: --help, or a wrong one, is answered before any check starts.
        argparse.ArgumentParser(prog="just check", description=CHECKS_SUMMARY).parse_args(arguments[1:])
        checks(stages)
    elif arguments[:1] == ["--pgtap"]:
        # `just pgtap FILE…`: the files as named from the directory it was called in.
        called_in, files = Path(arguments[1]), arguments[2:]
        if {"-h", "--help"} & set(files):
            print(PGTAP_USAGE)
            return
        # As every recipe of ours answers an option it does not know (argparse's status): it was
        # looked for as a file, and refused as a missing one.
        options = [name for name in files if name.startswith("-")]
        if options:
            print(f"{PGTAP_USAGE}\npgtap: unrecognized arguments: {' '.join(options)}", file=sys.stderr)
            raise SystemExit(2)
        # Before a cluster is made and migrated for them: pg_prove ended in a Perl stack trace.
        missing = [name for name in files if not (called_in / name).is_file()]
        if missing:
            raise SystemExit(f"pgtap: no pgTAP file {', '.join(missing)}\n{PGTAP_USAGE}")
        chosen = [str(called_in / name) for name in files]
        with temporary_cluster(prefix="blossom-pgtap-", autovacuum=False) as cluster:
            os.environ[SCRATCH_URL_VARIABLE] = cluster.url("postgres")
            stages.run("pgTAP", lambda: pgtap(chosen))
    else:
        with tempfile.TemporaryFile("w+") as output:
            finish_checks = checks_alongside(stages, output)
            with temporary_cluster(prefix="blossom-test-", autovacuum=False) as cluster:
                os.environ[SCRATCH_URL_VARIABLE] = cluster.url("postgres")
                stages.run("pytest", lambda: pytest_on_template(arguments, finish_checks))

    failed = [name for name, ok in stages.results.items() if not ok]
    elapsed = time.monotonic() - started
    print(
        f"\n==> {len(stages.results) - len(failed)} of {len(stages.results)} stages passed in {elapsed:.0f}s",
        flush=True,
    )
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
