"""Collecting the tests imports no heavy package that only one module's tests use: every
pytest-xdist process collects every module (tests/support/lazy.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ops.scratch import SERIAL_TESTS
from ops.settings import ROOT
from tests.support.imports import loaded_by
from tests.support.lazy import LazyModule
from tests.support.serial import runs_alone

# What a collecting process must not have imported afterwards, and the modules that use them.
HEAVY = ("dagster", "playwright")
USERS = ("tests/test_pipeline.py", "tests/test_web_example.py")

COLLECT = """
import sys
import pytest
code = pytest.main(["--collect-only", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", *sys.argv[1:]])
if code:
    raise SystemExit(int(code))
"""


def test_collecting_imports_no_heavy_package() -> None:
    assert loaded_by(COLLECT, HEAVY, *USERS) == []


def test_a_lazy_module_is_imported_by_its_first_public_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blossom_lazy_probe.py").write_text("ANSWER = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "blossom_lazy_probe", raising=False)
    probe = LazyModule("blossom_lazy_probe")
    assert not hasattr(probe, "__test__")
    assert not hasattr(probe, "_fixture_function_marker")
    assert "blossom_lazy_probe" not in sys.modules
    assert probe.ANSWER == 42
    assert "blossom_lazy_probe" in sys.modules


def test_the_serial_tests_are_named_as_pytest_finds_them_and_marked() -> None:
    """`just test`'s second run names them (ops/run_tests.py): a test renamed or moved must be
    renamed in SERIAL_TESTS too, or that run fails; and those are the tests marked serial."""
    found = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-m", "serial", *SERIAL_TESTS],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stdout + found.stderr
    assert [line for line in found.stdout.splitlines() if "::" in line] == list(SERIAL_TESTS)


def test_a_test_named_like_a_serial_one_does_not_run_alone() -> None:
    """Marked by the start of its name, a test whose name began with a serial one's was marked
    serial too, and then not selected by the serial run, which names them."""
    flood = SERIAL_TESTS[0]
    assert runs_alone(flood, marked_serial=False)
    assert runs_alone(f"{flood}[slow]", marked_serial=True)
    assert not runs_alone(f"{flood}_x", marked_serial=False)


def test_a_test_marked_serial_but_not_named_is_refused() -> None:
    """`just test` would run it in neither of its runs."""
    with pytest.raises(pytest.UsageError, match=r"^tests/test_x\.py::test_y is marked serial but not named"):
        runs_alone("tests/test_x.py::test_y", marked_serial=True)


def test_the_runner_writes_the_rewritten_bytecode_of_the_tests_before_they_run(tmp_path: Path) -> None:
    """`just test` collects the tests once, in a process of its own, before its six do: the
    bytecode of each test module, asserts rewritten, is then written for them to read, not made
    by each of them at once."""
    from ops.run_tests import write_test_bytecode  # here: the runner's imports are no collection's

    (tmp_path / "test_probe.py").write_text("def test_probe() -> None:\n    assert 1 + 1 == 2\n")
    with write_test_bytecode([str(tmp_path / "test_probe.py")]) as writing:
        assert writing.wait(timeout=60) == 0
    assert [path.name.split(".")[0] for path in (tmp_path / "__pycache__").glob("*-pytest-*.pyc")] == [
        "test_probe"
    ]
