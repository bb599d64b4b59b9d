"""README's Configuration table names every environment variable that the processes and the
tooling read, and nothing that no longer is read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from codegen.config import ROOT

# What reads the environment: the processes, the tooling and the recipes.
PYTHON_FOLDERS = ("edge", "worker", "services", "pipeline", "blossom_db", "ops", "deploy", "bench")
OTHER_FILES = ("justfile", "dev", "postgrest.conf")
# A variable's name as a whole string: `os.environ.get("BLOSSOM_X")`, `env_number("BLOSSOM_X", …)`,
# `KEY_VARIABLE = "BLOSSOM_X"`. A prefix (`"BLOSSOM_MAIL_"`) ends in `_` and is no name.
VARIABLE = re.compile(r"(?:BLOSSOM|OPENAI|DAGSTER|PGRST)_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL")
# PostgREST's own settings, one row for all of them.
WILDCARD_PREFIXES = ("PGRST_",)


def configuration_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]


def names_read() -> dict[str, str]:
    """Each variable's name, with a file that names it."""
    found: dict[str, str] = {}
    for folder in PYTHON_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and VARIABLE.fullmatch(node.value)
                ):
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    for name in OTHER_FILES:
        for match in re.finditer(rf"\b(?:{VARIABLE.pattern})\b", (ROOT / name).read_text()):
            found.setdefault(match.group(0), name)
    return found


def test_every_variable_read_is_in_the_configuration_table() -> None:
    documented = configuration_section()
    missing = sorted(
        f"{name} ({where})"
        for name, where in names_read().items()
        if f"`{name}`" not in documented and not name.startswith(WILDCARD_PREFIXES)
    )
    assert not missing, "read from the environment, but not in README's Configuration: " + ", ".join(missing)


def test_every_variable_in_the_configuration_table_is_read() -> None:
    read = names_read()
    table = [line for line in configuration_section().splitlines() if line.startswith("| `")]
    named = {
        name for line in table for name in re.findall(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`", line.split(" | ")[0])
    }
    stale = sorted(name for name in named if name not in read)
    assert not stale, "in README's Configuration, but read nowhere: " + ", ".join(stale)


def test_the_scan_sees_the_settings_of_each_process() -> None:
    """The scan above finds what it must, or it proves nothing."""
    read = names_read()
    for name in ("BLOSSOM_EDGE_DATABASE_URL", "BLOSSOM_SMTP_URL", "BLOSSOM_SLACK_API_URL", "DAGSTER_HOME"):
        assert name in read, name
    assert Path(ROOT / read["BLOSSOM_SMTP_URL"]).exists()
