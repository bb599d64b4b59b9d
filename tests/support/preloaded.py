"""Python processes that load Dagster, for the tests that start several: each is forked from a
server process (multiprocessing's forkserver) that imported Dagster once, where every
`python -m pipeline` imported it again (some 1.3 s of CPU each, a third of a run's CPU in
test_pipeline.py). Each is still a process of its own, as cron's runs are: its own environment,
signals, output and exit status; only the import is shared.

Only packages that read nothing from the environment as they are imported are imported ahead:
pipeline/ reads its settings so, and each process imports it itself, in its own environment."""

from __future__ import annotations

import multiprocessing
import os
import runpy
import signal
import sys
import time
from pathlib import Path

from ops.settings import ROOT

_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(
    [
        "dagster",
        # What a run imports after Dagster: its instance's SQLite storage (and the alembic it
        # migrates the storage with), and the clients pipeline/ imports. A name that a version
        # of Dagster no longer has is skipped (multiprocessing ignores its ImportError): each
        # process then imports what it needs itself, as before.
        "dagster._core.storage.runs.sqlite",
        "dagster._core.storage.event_log.sqlite",
        "dagster._core.storage.schedules.sqlite",
        "alembic.command",
        "upath",
        "psycopg",
        "gspread",
        "slack_sdk",
    ]
)


def _as_python_would(arguments: tuple[str, ...], environment: dict[str, str], output: str) -> None:
    """In the forked process: what `python ARGUMENTS` (`-m MODULE …` or `-c CODE …`) does, in
    `environment`, from the repository's folder, both its streams written to the file `output`.
    multiprocessing ends the process as Python would: SystemExit's code is the exit status (a
    message is written to stderr, status 1), an exception's traceback is written, status 1."""
    written = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(written, 1)
    os.dup2(written, 2)
    os.close(written)
    # Line-buffered, as a test reads the file while the process runs.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own stream
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(ROOT)
    option, what, *rest = arguments
    try:
        if option == "-m":
            sys.argv = [what, *rest]
            runpy.run_module(what, run_name="__main__", alter_sys=True)
        elif option == "-c":
            sys.argv = ["-c", *rest]
            exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
        else:
            raise ValueError(f"not -m or -c: {option}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


class PreloadedPython:
    """`python ARGUMENTS` in `environment`, started at once, as a Popen of it would be; its
    output (stdout and stderr, interleaved) in the file `output`."""

    def __init__(self, *arguments: str, environment: dict[str, str], output: Path) -> None:
        self.output = output
        self._process = _FORKSERVER.Process(
            target=_as_python_would, args=(arguments, dict(environment), str(output)), daemon=False
        )
        self._process.start()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def send_signal(self, number: signal.Signals) -> None:
        os.kill(self.pid, number)

    def wait(self, timeout: float) -> int:
        """The exit status (-N for a process ended by signal N), once it has ended; the process is
        killed and TimeoutError raised when it runs on past `timeout` seconds."""
        self._process.join(timeout)
        if self._process.exitcode is None:
            self.kill()
            raise TimeoutError(f"still running after {timeout} s:\n{self.said()[-3000:]}")
        return self._process.exitcode

    def kill(self) -> None:
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()

    def said(self) -> str:
        return self.output.read_text() if self.output.exists() else ""

    def wait_for_output(self, text: str, timeout: float) -> None:
        """Returns once `text` is in the output; AssertionError when the process ends, or
        `timeout` seconds pass, without it."""
        deadline = time.monotonic() + timeout
        while text not in self.said():
            if self._process.exitcode is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never came:\n{self.said()[-3000:]}")
            time.sleep(0.05)
