#!/usr/bin/env python3
"""psql as pg_prove runs it for `just pgtap`, `check` and `test` (its --psql-bin), each pgTAP
file on a database of its own: a copy of the migrated database with pgTAP and the helpers, made
for the file and dropped once psql is done with it. ops/run_tests.py says how, for each file.

A file's rows are rolled back, but not their pages: no vacuum runs between files, and a file
that filled a table left it hundreds of pages of dead rows that the next one's plans and page
counts (tap.fewer_blocks) met, so that a rule held or failed by the order of the files' names.
Copies also let the files run at once (pg_prove --jobs).

Only the standard library: it starts once a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Set by ops/run_tests.py: a JSON file that holds, for each pgTAP file as pg_prove names it,
# the server's maintenance URL ("server"), the copy's name ("name"), the statements that make
# it ("make"), its URL ("url") and the statements that drop it ("drop").
COPIES_VARIABLE = "BLOSSOM_PGTAP_COPIES"


def on_server(server: str, statements: list[str]) -> None:
    """Each statement in a transaction of its own, as CREATE and DROP DATABASE must be."""
    commands = [argument for statement in statements for argument in ("--command", statement)]
    psql = ["psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", server]
    subprocess.run([*psql, *commands], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    arguments = sys.argv[1:]
    copies = json.loads(Path(os.environ[COPIES_VARIABLE]).read_text())
    copy = copies[arguments[arguments.index("--file") + 1]]
    # psql has said what failed, on stderr, which pg_prove shows: the file fails, as when its
    # own SQL does.
    status = 1
    try:
        on_server(copy["server"], copy["make"])
        status = subprocess.call(["psql", *arguments, "--dbname", copy["url"]])
    except subprocess.CalledProcessError:
        pass
    finally:
        try:
            on_server(copy["server"], copy["drop"])
        except subprocess.CalledProcessError:
            print(f"pgtap: the file's database {copy['name']} could not be dropped", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
