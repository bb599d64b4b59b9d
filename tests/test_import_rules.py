"""Imports run one way: developer tooling may use what production runs, never the reverse.

The Docker image carries edge/, worker/, services/, blossom_db/ and deploy/ alone, so none of them imports the
developer tooling (ops, codegen, bench, tests); codegen is handed its database by ops, so it
imports nothing of ops. Every folder of Python code needs a rule, so a new one gets its own
when it is made. (What `python -m` runs in a subprocess is not an import and is not seen.)

And what reaches a deployed database connects one way: through blossom_db.connections, with the
TCP keepalives of every connection of ours (blossom_db.settings.CONNECTION_DEFAULTS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ops.settings import ROOT
from tests.support.imports import PACKAGES, imports_of

# Each folder of our Python code, and the packages of ours it may import besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    # What production runs.
    "blossom_db": frozenset(),
    # Migrate checks its database URL as the edge and the worker do (blossom_db.settings).
    "deploy": frozenset({"blossom_db"}),
    # The outside services' clients read their settings the one way (blossom_db.settings).
    "services": frozenset({"blossom_db"}),
    "edge": frozenset({"blossom_db", "services"}),
    "worker": frozenset({"blossom_db", "services"}),
    "pipeline": frozenset({"blossom_db", "services"}),
    # Developer tooling, on top of it: codegen is given a database, ops makes one and drives it
    # (and reads `pipeline-run`'s arguments before it starts anything).
    "codegen": frozenset({"edge"}),
    "ops": frozenset({"deploy", "codegen", "edge", "services", "blossom_db", "pipeline"}),
    "bench": frozenset({"deploy", "ops", "codegen"}),
    "tests": PACKAGES,
}


def broken_rules(rules: Mapping[str, frozenset[str]], root: Path = ROOT) -> list[str]:
    """Each import a rule forbids, naming the file, the line and the module."""
    return [
        f"{found} ({folder} may import {', '.join(sorted(allowed)) or 'nothing else of ours'})"
        for folder, allowed in rules.items()
        for found in imports_of(folder, root)
        if found.package not in allowed | {folder}
    ]


def test_every_import_follows_the_rules() -> None:
    assert broken_rules(MAY_IMPORT) == []


def test_every_folder_of_python_code_has_a_rule() -> None:
    folders = {path.parent.name for path in ROOT.glob("*/*.py") if not path.parent.name.startswith(".")}
    assert folders == set(MAY_IMPORT)


def test_a_broken_rule_names_the_file_the_line_and_the_import(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "late.py").write_text(
        "import psycopg\n\nfrom deploy import migrate\n\n\ndef f() -> None:\n"
        "    from ops.scratch import free_port  # deferred, yet an import\n"
    )
    assert broken_rules({"deploy": frozenset()}, tmp_path) == [
        "deploy/late.py:7 imports ops.scratch (deploy may import nothing else of ours)"
    ]


# Production's code, and the operators' tools that take DATABASE_URL: a bare psycopg connect there
# had libpq's keepalives at the kernel's timings, and waited the OS's minutes on a connection cut
# without a word. Developer tooling on a local cluster may connect as it likes.
REACHES_A_DEPLOYED_DATABASE = (
    "blossom_db", "deploy", "services", "edge", "worker", "pipeline",
    "ops/backup.py", "ops/secrets.py", "ops/top_queries.py",
)  # fmt: skip
BARE_CONNECT = re.compile(r"\bpsycopg\.(?:Async)?(?:Connection\.)?connect\(")


def test_what_reaches_a_deployed_database_connects_through_our_connection_classes() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for entry in REACHES_A_DEPLOYED_DATABASE
        for path in sorted((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry])
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BARE_CONNECT.search(line)
    ]
    assert found == []
