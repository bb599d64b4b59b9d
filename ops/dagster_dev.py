"""`python -m ops.dagster_dev dev ARGS`: `dagster dev ARGS`, as `./dev pipeline` runs it (ops/stack.py),
ending in silence, status 130, on a Ctrl-C that comes while Dagster loads (some 1.5 s of imports,
before dagster dev takes Ctrl-C as its stop): that was a traceback of Dagster's import, and just's
"exit code 254". And without Dagster's warning, at each start, that `dagster dev` is superseded
("Use 'dg dev' instead."): `dg` is another package (dagster-dg-cli), which runs a project laid
out as its own (a package made by create-dagster, with its settings in pyproject.toml); the
pipeline's definitions are a module of this repository (`-m pipeline.definitions`), which
`dagster dev` loads."""

from __future__ import annotations

import runpy
import sys
import warnings


def main() -> None:
    sys.argv = ["dagster", *sys.argv[1:]]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"Function `dev_command` is superseded", FutureWarning)
            runpy.run_module("dagster", run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
