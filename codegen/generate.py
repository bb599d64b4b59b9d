"""The TypeScript client and the Python wrappers, made from a migrated database's catalog and
written (or compared with what is committed).

Codegen is given a database and makes none: `just codegen` (ops/codegen.py) is the dev tooling
that builds one, so codegen imports nothing of ops.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg

from codegen.catalog import CodegenError, api_functions, read_catalog
from codegen.config import ROOT, Config
from codegen.edge import edge_surface
from codegen.naming import refuse_function_names
from codegen.python import emit_python, python_functions
from codegen.raises import error_codes
from codegen.typescript import emit_typescript

# Each setting that changes how Postgres writes the catalog, as codegen reads it: no schema on
# the search_path (every name comes qualified), literals as written ('\s', not E'\\s'), and a
# name quoted only where it must be (pglast cannot read a body whose every name is).
WRITING_SETTINGS = {
    "search_path": "",
    "standard_conforming_strings": "on",
    "quote_all_identifiers": "off",
}


def ruff_format(source: str, path: Path) -> str:
    """The generated Python formatted as the rest of the code is, so lint stays quiet about it."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise CodegenError(f"ruff could not format the generated {path.name}: {done.stderr.strip()}")
    return done.stdout


def generate(database_url: str, config: Config) -> dict[Path, str]:
    """Every generated file's path and content, from the database's catalog."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # What Postgres writes of the catalog (format_type, a signature, a CHECK's or a body's
        # definition) follows settings a role or PGOPTIONS may change: pinned, it reads alike.
        for setting, value in WRITING_SETTINGS.items():
            conn.execute("select pg_catalog.set_config(%s, %s, false)", [setting, value])
        catalog = read_catalog(conn, [config.api_schema], config.grants_read)
        codes = error_codes(conn, config.raises)
        edge = edge_surface(conn, catalog, config.edge)
    api = api_functions(catalog, config.api_schema, config.api_roles)
    functions = python_functions(catalog, api, config.python_grants)
    refuse_function_names(functions)
    typescript = emit_typescript(catalog, codes, api, config.command, edge)
    python = ruff_format(
        emit_python(catalog, codes, functions, config.command, config.api_schema), config.python_path
    )
    return {config.typescript_path: typescript, config.python_path: python}


def stale(files: dict[Path, str]) -> list[Path]:
    """The files whose content is not exactly `text`, byte for byte (read_text would translate
    CRLF and CR to LF, and a file committed so would pass)."""
    return [path for path, text in files.items() if not path.exists() or path.read_bytes() != text.encode()]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run(database_url: str, config: Config, *, check: bool) -> int:
    began = time.monotonic()
    files = generate(database_url, config)
    elapsed = time.monotonic() - began
    outdated = stale(files)
    if check:
        for path in outdated:
            print(
                f"codegen-check: {_shown(path)} is stale: run `{config.command}` and commit it",
                file=sys.stderr,
            )
        if not outdated:
            print(f"codegen-check: generated files are up to date ({elapsed:.2f}s)", file=sys.stderr)
        return 1 if outdated else 0
    for path in outdated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[path].encode())
    for path in files:
        print(f"codegen: {_shown(path)} {'written' if path in outdated else 'unchanged'}", file=sys.stderr)
    print(f"codegen: catalog read and files made in {elapsed:.2f}s", file=sys.stderr)
    return 0
