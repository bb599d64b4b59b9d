"""Which of our own packages a file imports, read from its source with ast (nothing is run); and
which packages a fresh interpreter has loaded after running a program (loaded_by), such as a
module run as `python -m` would run it (run_quietly)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ops.settings import ROOT

# Our packages: the checkout's top-level folders with an __init__.py.
PACKAGES = frozenset(path.name for path in ROOT.iterdir() if (path / "__init__.py").exists())


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file, relative to the folder scanned from
    line: int
    module: str  # as written: `ops.scratch`, `deploy`

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path.as_posix()}:{self.line} imports {self.module}"


def imports_of(folder: str, root: Path = ROOT) -> Iterator[Import]:
    """Every import of one of our packages in the .py files under root/folder, wherever it
    stands: a function's deferred import counts as much as one at the head of the module.
    Relative imports stay inside their package, and are skipped."""
    for source in sorted((root / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in PACKAGES:
                    yield Import(source.relative_to(root), node.lineno, module)


def loaded_by(program: str, packages: Iterable[str], *args: str) -> list[str]:
    """Which of `packages` (any module of them) a fresh interpreter has loaded after running
    `program` with `args` at the checkout's root: for what must wait for its first use."""
    report = (
        f"\nimport sys\nprint(sorted({{name.split('.')[0] for name in sys.modules}} & {set(packages)!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program + report, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    loaded: list[str] = ast.literal_eval(done.stdout.splitlines()[-1])
    return loaded


def run_quietly(module: str) -> str:
    """A program for loaded_by: `python -m module` with loaded_by's arguments, its answer and its
    exit swallowed, for what it loaded by then (a refusal ends in SystemExit)."""
    return (
        "import contextlib, io, runpy, sys\n"
        f"sys.argv[0] = {module!r}\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as said:\n"
        "    with contextlib.redirect_stderr(said):\n"
        f"        runpy.run_module({module!r}, run_name='__main__')\n"
    )
