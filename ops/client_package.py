"""`just client-package`: the generated TypeScript client as an installable npm package.

    python -m ops.client_package [--out DIR]

Compiles clients/typescript/src/ twice with the project's TypeScript, as ES modules
(`dist/esm/`) and as CommonJS (`dist/cjs/`, marked `"type": "commonjs"`), each with its `.d.ts`,
in a staging copy of the package, then `npm pack`s it into DIR (default
clients/typescript/dist/): a tarball a frontend installs with `npm install PATH.tgz`. The
package's `exports` map sends `import` to the ES modules and `require` to CommonJS; it has no
dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ops.settings import ROOT, existing_part, recipe_parser

CLIENT = ROOT / "clients" / "typescript"
TSC = ROOT / ".tools" / "typescript-5.6.3" / "package" / "bin" / "tsc"
PACKAGE_FILES = ("package.json", "tsconfig.json", "tsconfig.build.json")


class PackageError(RuntimeError):
    """A step of the build failed; the message says which, with its output."""


def run_tool(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def compile_client(stage: Path) -> None:
    """dist/esm and dist/cjs of the package staged in `stage` (package files and src/)."""
    if not TSC.exists() or shutil.which("node") is None:
        raise PackageError("TypeScript or node is missing: run ./dev (it installs TypeScript into .tools/)")
    project = str(stage / "tsconfig.build.json")
    run_tool(["node", str(TSC), "--project", project], stage)
    cjs = stage / "dist" / "cjs"
    # The first pass type-checked these very sources; this one only emits (--noCheck: the same
    # output, in 40% of the time).
    commonjs = ["--module", "CommonJS", "--moduleResolution", "Node10", "--outDir", str(cjs), "--noCheck"]
    run_tool(["node", str(TSC), "--project", project, *commonjs], stage)
    (cjs / "package.json").write_text(json.dumps({"type": "commonjs"}) + "\n")


def stage_package(stage: Path) -> None:
    """A copy of the package's sources in `stage`, compiled."""
    for name in PACKAGE_FILES:
        shutil.copy(CLIENT / name, stage / name)
    shutil.copytree(CLIENT / "src", stage / "src")
    compile_client(stage)


def build(destination: Path) -> Path:
    """The package's tarball, packed into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="blossom-client-") as work:
        stage = Path(work)
        stage_package(stage)
        packed = json.loads(
            run_tool(["npm", "pack", "--json", "--pack-destination", str(destination)], stage)
        )
    return destination / str(packed[0]["filename"])


def build_command(doc: str, name: str, default_out: Path, make: Callable[[Path], Path]) -> None:
    """The command line of a build: `--out DIR`, what it made, or what failed."""
    parser = recipe_parser(f"just {name}", doc)
    parser.add_argument("--out", type=Path, default=default_out, help=f"where it goes ({default_out})")
    # The folder the recipe was called from (the justfile passes it): just runs every recipe in
    # the checkout, where a relative --out went, not where it was asked for.
    parser.add_argument("--called-from", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = (args.called_from / args.out).resolve()
    # What exists of the path must be folders we may write in: a file there ended the build in a
    # traceback (after compiling, for web-example).
    nearest = existing_part(out)
    if not os.path.isdir(nearest):
        parser.error(f"argument --out: {str(args.out)!r} cannot be a folder: {nearest} is a file")
    if not os.access(nearest, os.W_OK | os.X_OK):
        parser.error(f"argument --out: {str(args.out)!r} cannot be written: {nearest} is closed to this user")
    try:
        made = make(out)
    except PackageError as error:
        raise SystemExit(f"{name}: {error}") from None
    print(f"{name}: {made.relative_to(ROOT) if made.is_relative_to(ROOT) else made}")


def main() -> None:
    build_command(__doc__, "client-package", CLIENT / "dist", build)


if __name__ == "__main__":
    main()
