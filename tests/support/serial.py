"""The tests `just test` runs alone (SERIAL_TESTS, ops/scratch.py), marked `serial` as they are
collected (tests/conftest.py)."""

from __future__ import annotations

import pytest

from ops.scratch import SERIAL_TESTS


def runs_alone(nodeid: str, marked_serial: bool) -> bool:
    """Whether the collected test `nodeid` is one SERIAL_TESTS names (all its parameters: a name
    there is a test's, never one parameter's). One marked serial in its module, and not named
    there, is refused: the serial run names SERIAL_TESTS and the parallel run leaves out what is
    marked serial, so that it would run in neither."""
    named = nodeid.split("[", 1)[0] in SERIAL_TESTS
    if marked_serial and not named:
        raise pytest.UsageError(
            f"{nodeid} is marked serial but not named in SERIAL_TESTS (ops/scratch.py), which"
            " `just test` runs alone: name it there instead"
        )
    return named
