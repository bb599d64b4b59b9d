"""Python processes that load Dagster, for the tests that start several: each is forked from a
server process (multiprocessing's forkserver) that imported Dagster once, where every
`python -m pipeline` imported it again (some 1.3 s of CPU each, a third of a run's CPU in
test_pipeline.py). Each is still a process of its own, as cron's runs are: its own environment,
cwd, argv, signals, output (buffered as Python buffers it), atexit handlers and exit status;
only the imports are shared.

What the packages imported ahead read from the environment as they are imported (psycopg's
PSYCOPG_IMPL, a colour setting, HOME …) they read in the server's environment, the test
process's: no test here gives those a value of its own. pipeline/ reads its settings as it is
imported, so each process imports it itself, in the environment it was given."""

from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import runpy
import signal
import sys
import time
import traceback
import weakref
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import NoReturn

# Not ops.settings.ROOT: the process imports this module before its environment is its own.
ROOT = Path(__file__).resolve().parents[2]

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


def _streams(output: str, unbuffered: bool) -> None:
    """fds 1 and 2 to the file `output`, and sys.stdout and sys.stderr over them as Python makes
    them for a file: stdout in blocks, stderr by line; both written through at once under
    PYTHONUNBUFFERED."""
    written = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(written, 1)
    os.dup2(written, 2)
    os.close(written)
    for descriptor, name, by_line in ((1, "stdout", False), (2, "stderr", True)):
        raw = io.FileIO(descriptor, "w", closefd=False)
        # Unbuffered (Python's -u) is the file itself under the text layer, as Python makes it.
        binary = raw if unbuffered else io.BufferedWriter(raw)
        text = io.TextIOWrapper(
            binary,
            errors="backslashreplace" if name == "stderr" else "strict",
            line_buffering=by_line and not unbuffered,
            write_through=unbuffered,
        )
        setattr(sys, name, text)


def _as_python_would(arguments: tuple[str, ...], environment: dict[str, str], output: str) -> NoReturn:
    """In the forked process: what `python ARGUMENTS` (`-m MODULE …` or `-c CODE …`) does, in
    `environment`, from the repository's folder, and how it ends: SystemExit's code is the exit
    status (a message is written to stderr, status 1); an exception's traceback is written,
    status 1; a KeyboardInterrupt ends it by SIGINT; atexit's handlers run first."""
    _streams(output, unbuffered=bool(environment.get("PYTHONUNBUFFERED")))
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(ROOT)
    status, interrupted = 0, False
    try:
        option, what, *rest = arguments
        if option == "-m":
            sys.argv = [what, *rest]
            runpy.run_module(what, run_name="__main__", alter_sys=True)
        elif option == "-c":
            sys.argv = ["-c", *rest]
            exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
        else:
            raise ValueError(f"not -m or -c: {option}")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:  # noqa: BLE001 - told as Python tells an uncaught one
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def _kill(process: BaseProcess) -> None:
    if process.exitcode is None:
        process.kill()
        process.join()


class PreloadedPython:
    """`python ARGUMENTS` in `environment`, started at once, as a Popen of it would be; its
    stdout and stderr in the file `output`, as cron keeps them. Killed, if it still runs, when
    the object goes or the test process ends: multiprocessing waits at exit for every child it
    started."""

    def __init__(self, *arguments: str, environment: dict[str, str], output: Path) -> None:
        self.output = output
        self._process = _FORKSERVER.Process(
            target=_as_python_would,
            args=(arguments, dict(environment), str(output)),
            # Not a daemon: a daemonic process may start none (Dagster's steps run in processes).
            daemon=False,
        )
        self._process.start()
        weakref.finalize(self, _kill, self._process)

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
        _kill(self._process)

    def said(self) -> str:
        """What it wrote so far."""
        if not self.output.exists():
            # Its setup failed before it could write: the forkserver's own stderr, the capture of
            # the test that started it, has the traceback.
            return "(no output: the process ended before it ran its program)"
        return self.output.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        """Returns once `text` is in its output; AssertionError when the process ends, or `timeout`
        seconds pass, without it."""
        deadline = time.monotonic() + timeout
        while text not in self.said():
            if self._process.exitcode is not None or time.monotonic() > deadline:
                if text in self.said():  # written just before it ended
                    return
                raise AssertionError(f"{text!r} never came:\n{self.said()[-3000:]}")
            time.sleep(0.05)
