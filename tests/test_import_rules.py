"""Imports run one way: developer tooling may use what production runs, never the reverse.

The Docker image carries edge/, worker/, services/, blossom_db/ and deploy/ alone, so none of them imports the
developer tooling (ops, codegen, bench, tests); codegen is handed its database by ops, so it
imports nothing of ops. Every folder of Python code needs a rule, so a new one gets its own
when it is made. (What `python -m` runs in a subprocess is not an import and is not seen.)
"""

from __future__ import annotations

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
    # Developer tooling, on top of it: codegen is given a database, ops makes one and drives it.
    "codegen": frozenset({"edge"}),
    "ops": frozenset({"deploy", "codegen", "edge", "services", "blossom_db"}),
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
