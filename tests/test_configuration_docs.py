"""README's Configuration table names every environment variable that the processes and the
tooling read, and nothing that no longer is read; its Recipes table names every recipe of the
justfile, and only those; every link between the docs reaches a heading, and every file they
name exists."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def readme_recipes() -> set[str]:
    """The recipes README's Recipes table names: the first word of each name in a row's first
    cell (`backup FILE`, `restore FILE DATABASE` are two)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name.split()[0] for row in rows for name in re.findall(r"`([^`]+)`", row.split(" | ")[0])}


def test_the_recipes_table_names_every_recipe_and_only_real_ones() -> None:
    """A new developer reads README's table, not `./dev --list`: a recipe it leaves out is one
    they never hear of, and a name it keeps after a rename fails as they type it."""
    just = Path(sys.executable).with_name("just")
    summary = subprocess.run(
        [str(just), "--justfile", str(ROOT / "justfile"), "--summary"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # `default` is the listing `./dev` prints with no recipe named; an alias (`t` for `test`) is
    # one more name to type, which --summary leaves out.
    aliases = re.findall(r"^alias (\S+) :=", (ROOT / "justfile").read_text(), flags=re.MULTILINE)
    recipes = set(summary) - {"default"} | set(aliases)
    documented = readme_recipes()
    assert not recipes - documented, "recipes not in README's Recipes table: " + ", ".join(
        sorted(recipes - documented)
    )
    assert not documented - recipes, "in README's Recipes table, but no recipe: " + ", ".join(
        sorted(documented - recipes)
    )


# The programs behind the recipes that answer --help: their argparse description is the module's
# docstring.
RECIPE_PROGRAMS = (
    "ops.backup", "ops.bench", "ops.client_package", "ops.codegen", "ops.mailbox", "ops.new_migration",
    "ops.schema_check", "ops.secrets", "ops.sql_lint", "ops.stack", "ops.top_queries", "ops.web_example",
    "pipeline.__main__",
)  # fmt: skip


def help_of(*program: str) -> str:
    """What `python -m PROGRAM --help` prints, as a recipe runs it."""
    return subprocess.run(
        [sys.executable, "-m", *program, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.parametrize("module", RECIPE_PROGRAMS)
def test_a_recipes_help_says_what_it_does_in_whole_sentences(module: str) -> None:
    """`./dev top-queries --help` said "the statements that cost the database the most time,
    from" and stopped: each --help showed its docstring's first line, which ends wherever the
    line was wrapped. It shows the first paragraph."""
    docstring = ast.get_docstring(ast.parse((ROOT / f"{module.replace('.', '/')}.py").read_text()))
    assert docstring is not None
    first_paragraph = " ".join(docstring.split("\n\n", 1)[0].split())
    shown = help_of(module.removesuffix(".__main__"))
    assert first_paragraph in " ".join(shown.split()), shown


# The recipes that run a program of ours with what they are given (`backup`'s FILE, `rollback`'s
# MIGRATION, …); psql's pass it on to psql, and test's and pgtap's have tests of their own.
OUR_RECIPES = (
    "up", "down", "worker", "pipeline", "migrate", "reset-db", "rollback", "pipeline-run", "mail",
    "top-queries", "backup", "restore", "new-migration", "schema-check", "check", "sql-lint", "codegen",
    "codegen-check", "client-package", "web-example", "list-symbols", "bench", "new-secrets-key",
    "reseal-secrets",
)  # fmt: skip


def just(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`./dev ARGUMENTS` once ./dev has installed everything: just on our justfile, in this
    process's environment or `env`."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("just")), "--justfile", str(ROOT / "justfile"), *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("recipe", OUR_RECIPES)
def test_every_recipe_of_ours_answers_help_with_its_usage(recipe: str) -> None:
    """`./dev up --help` (and worker's, migrate's, codegen's …, each recipe that took no
    arguments) was just's "justfile does not contain recipe `--help`", exit 1. And the usage
    names the recipe: `./dev pipeline-run --help` began `usage: __main__.py [-h] [--day DAY]
    [assets ...]`, and each refusal of a bad argument `__main__.py: error: …`, the name of a file
    no one runs."""
    helped = just(recipe, "--help")
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert helped.stdout.startswith(f"usage: just {recipe} "), helped.stdout + helped.stderr


@pytest.mark.parametrize("recipe", OUR_RECIPES)
def test_an_unknown_option_of_a_recipe_is_refused_with_its_own_usage(recipe: str) -> None:
    """`./dev reset-db --bogus` printed the usage of every recipe of ops/stack.py at once (exit 2),
    not reset-db's; nothing is done. (`./dev pipeline-run --bogus` started the local cluster
    first: its arguments were read by the pipeline's process alone.)"""
    refused = just(recipe, "--no-such-option")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"usage: just {recipe} " in refused.stderr, refused.stderr
    assert "blossom:" not in refused.stderr, "nothing started"


def test_an_unknown_benchmark_is_refused_with_the_names_of_those_there_are() -> None:
    """`./dev bench nope` said only that there was no such benchmark (exit 1), and the reader went
    to look in bench/ for their names."""
    refused = just("bench", "nope")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no such benchmark: nope (there are: " in refused.stderr, refused.stderr
    assert all(name in refused.stderr for name in ("daily_metrics", "orgs", "org_deletion")), refused.stderr


@pytest.mark.parametrize(
    ("benchmark", "setting", "value", "said"),
    [
        ("soak", "BLOSSOM_BENCH_SOAK_SECONDS", "-1", "must be a positive number, got '-1'"),
        ("soak", "BLOSSOM_BENCH_SOAK_RATE", "0", "must be a positive number, got '0'"),
        # Windows of 0.01 s, most without a request: its ratios were `nan`.
        ("soak", "BLOSSOM_BENCH_SOAK_SECONDS", "0.05", "must be at least 5, got '0.05'"),
        ("mail", "BLOSSOM_BENCH_MAIL_SECONDS", "0.01", "must be at least 1, got '0.01'"),
        ("proxy", "BLOSSOM_BENCH_ROUNDS", "ten", "must be a number, got 'ten'"),
        ("proxy", "BLOSSOM_BENCH_CONCURRENCY", "300", "must be at most 245, got '300'"),
        ("mail", "BLOSSOM_BENCH_MAIL_BURST", "2.5", "must be a whole number, got 2.5"),
    ],
)
def test_a_bad_benchmark_setting_is_refused_naming_it_before_anything_starts(
    benchmark: str, setting: str, value: str, said: str, tmp_path: Path
) -> None:
    """The benchmarks read their settings with float() and int(): a value that is no number was a
    traceback once the throwaway stack was up, and `BLOSSOM_BENCH_SOAK_SECONDS=-1 ./dev bench soak`
    wrote `nan` into docs/benchmarks.md. BLOSSOM_TMP names no folder here, so that a run the check
    let through could make no cluster, and measure nothing."""
    env = os.environ | {setting: value, "BLOSSOM_TMP": str(tmp_path / "absent")}
    refused = just("bench", benchmark, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"\nbench: {setting} {said}\n" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr


DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
# A link to a page of ours, with or without a heading: `[x](deployment.md#rolling-a-migration-back)`.
LOCAL_LINK = re.compile(r"\]\((?!https?:)([^)\s#]*)(?:#([^)\s]+))?\)")
# A file or folder of the repository named in code: `sql/functions/app/outbox.sql`, `tests/support/`.
REPOSITORY_PATH = re.compile(
    r"`((?:sql|migrations|edge|worker|services|pipeline|blossom_db|ops|deploy|tests|bench|codegen"
    r"|clients|examples)/[A-Za-z0-9_./-]*)`"
)
# The paths the docs name as a pattern or an example, not as a file: NNNN.name.sql, rename_thing,
# and the folders a recipe builds (dist/).
NOT_A_FILE = re.compile(r"NNN|rename_thing|thing\.sql|/dist\b")


def headings(document: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces
    as hyphens (the headings inside code blocks are none)."""
    text = re.sub(r"^```.*?^```", "", document.read_text(), flags=re.MULTILINE | re.DOTALL)
    titles = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-") for title in titles}


def test_every_link_between_the_docs_reaches_a_page_and_a_heading_of_it() -> None:
    """A heading renamed left links to it that open the page at its top, and nothing says so."""
    broken = []
    for document in DOCUMENTS:
        for page, anchor in LOCAL_LINK.findall(document.read_text()):
            target = (document.parent / page).resolve() if page else document
            if not target.exists():
                broken.append(f"{document.relative_to(ROOT)}: {page} does not exist")
            elif anchor and target.suffix == ".md" and anchor not in headings(target):
                where = document.relative_to(ROOT)
                broken.append(f"{where}: {page}#{anchor} is no heading of {page or 'the page'}")
    assert not broken, "\n".join(broken)


def test_every_file_the_docs_name_exists() -> None:
    """A reader opens the file a page names; one moved or removed since sends them nowhere."""
    missing = []
    for document in DOCUMENTS:
        for path in REPOSITORY_PATH.findall(document.read_text()):
            if not NOT_A_FILE.search(path) and not (ROOT / path).exists():
                missing.append(f"{document.relative_to(ROOT)}: {path}")
    assert not missing, "files named in the docs that do not exist:\n" + "\n".join(missing)
