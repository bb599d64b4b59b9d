"""`just codegen` / `just codegen-check`: build a migrated scratch database, write (or compare)
the TypeScript client and the Python wrappers.

    python -m ops.codegen [--check] [--database-url URL]

With --database-url the database is used as it is (already migrated); without it a scratch
database is made on the run's server (BLOSSOM_SCRATCH_URL, DATABASE_URL or a temporary
cluster), migrated, and dropped afterwards. Codegen (codegen/) only reads the database it is
given; making one is this dev tooling's job.
"""

from __future__ import annotations

import sys

from codegen.catalog import CodegenError
from codegen.config import Config
from codegen.generate import run
from ops.scratch import migrated_database
from ops.settings import recipe_parser


def main() -> None:
    # Two recipes run it: codegen-check is codegen --check.
    recipe = "codegen-check" if "--check" in sys.argv[1:] else "codegen"
    parser = recipe_parser(f"just {recipe}", __doc__)
    parser.add_argument("--check", action="store_true", help="fail, naming them, when files are stale")
    parser.add_argument("--database-url", help="an already migrated database to read")
    args = parser.parse_args()
    config = Config()
    try:
        if args.database_url:
            raise SystemExit(run(args.database_url, config, check=args.check))
        with migrated_database("codegen") as url:
            code = run(url, config, check=args.check)
        raise SystemExit(code)
    except CodegenError as error:
        raise SystemExit(f"codegen: {error}") from None


if __name__ == "__main__":
    main()
