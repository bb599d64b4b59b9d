"""Which of our own packages a file imports, read from its source with ast (nothing is run); and
which packages a fresh interpreter has loaded after running a program (loaded_by), or a module
as `python -m` runs it, with how it ended (ran_and_loaded)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
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
    done = _run_python(f"{program}\nimport sys\n{_report_loaded(packages)}\n", args)
    assert done.returncode == 0, done.stdout + done.stderr
    return _reported(done.stdout)[1]


def ran_and_loaded(
    module: str, packages: Iterable[str], *args: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`python -m module` with `args` at the checkout's root, in `env` (else ours): how it ended
    (its exit status, stdout and stderr, as `python -m` leaves them), and which of `packages` it
    had loaded by then, however it ended: a refusal's status, its words and what was loaded
    before them, from one process."""
    program = (
        "import runpy, sys\n"
        f"sys.argv[0] = {module!r}\n"
        "try:\n"
        f"    runpy.run_module({module!r}, run_name='__main__')\n"
        "finally:\n"
        f"    {_report_loaded(packages)}\n"
    )
    done = _run_python(program, args, env)
    said, loaded = _reported(done.stdout)
    return subprocess.CompletedProcess(done.args, done.returncode, said, done.stderr), loaded


def _run_python(
    program: str, args: Iterable[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`program` run by a fresh interpreter at the checkout's root, with `args`, in `env` (else ours)."""
    return subprocess.run(
        [sys.executable, "-c", program, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _report_loaded(packages: Iterable[str]) -> str:
    """A statement (sys imported) that prints which of `packages` the interpreter has loaded, on
    a line of its own after whatever the program printed: for `_reported`."""
    return f"print('\\n' + repr(sorted({{name.split('.')[0] for name in sys.modules}} & {set(packages)!r})))"


def _reported(stdout: str) -> tuple[str, list[str]]:
    """The stdout of a program that ended with _report_loaded's statement: what the program
    printed, as it printed it, and the packages reported after it."""
    said, _, report = stdout.removesuffix("\n").rpartition("\n")
    loaded: list[str] = ast.literal_eval(report)
    return said, loaded
