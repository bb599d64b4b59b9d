"""`just web-example`: build the example web app (examples/web/) into a folder of static files.

    python -m ops.web_example [--out DIR]

Compiles examples/web/app.ts with the generated client (clients/typescript/src/generated.ts)
using the project's TypeScript, and lays out DIR (default examples/web/dist/): index.html,
style.css, app.js and client/generated.js, which the page's import map names `@blossom/client`.
Serve DIR on the edge's own origin with `BLOSSOM_DEMO_DIR=DIR ./dev up` (at /demo/), or from any
static server, with `?api=<the edge's origin>` and that server's origin in
BLOSSOM_ALLOWED_ORIGINS.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ops.client_package import TSC, build_command, run_tool
from ops.settings import ROOT

EXAMPLE = ROOT / "examples" / "web"
STATIC = ("index.html", "style.css")


def build(destination: Path) -> Path:
    """The app's static files in `destination` (made afresh)."""
    with tempfile.TemporaryDirectory(prefix="blossom-web-") as work:
        out = Path(work)
        run_tool(["node", str(TSC), "--project", str(EXAMPLE / "tsconfig.json"), "--outDir", str(out)], ROOT)
        shutil.rmtree(destination, ignore_errors=True)
        (destination / "client").mkdir(parents=True)
        shutil.copy(out / "examples" / "web" / "app.js", destination / "app.js")
        shutil.copy(
            out / "clients" / "typescript" / "src" / "generated.js", destination / "client" / "generated.js"
        )
    for name in STATIC:
        shutil.copy(EXAMPLE / name, destination / name)
    return destination


def main() -> None:
    build_command(__doc__, "web-example", EXAMPLE / "dist", build)


if __name__ == "__main__":
    main()
