"""`just pipeline-run [ASSET…] [--day YYYY-MM-DD]`: materialize assets once, from the command
line (for cron or CI), with the resources of pipeline/definitions.py; the exit status is non-zero
when any fails.

Without ASSET it materializes what needs only the database: org_daily_metrics (of --day, by
default today, UTC) and auth_housekeeping. A weekly asset is materialized for the week (from
Monday, UTC) that holds --day, by default the last whole week. Runs are recorded in the Dagster
instance of DAGSTER_HOME when it is set (`just pipeline` sets one), else in a throwaway one.
"""

from __future__ import annotations

import argparse
from datetime import date
from types import ModuleType

DATABASE_ONLY = ("org_daily_metrics", "auth_housekeeping")


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is no day: YYYY-MM-DD") from None


def arguments_parser() -> argparse.ArgumentParser:
    """`pipeline-run`'s arguments, as read_arguments reads them."""
    parser = argparse.ArgumentParser(prog="just pipeline-run", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "assets", nargs="*", help=f"assets to materialize (default: {' '.join(DATABASE_ONLY)})"
    )
    parser.add_argument(
        "--day",
        type=_day,
        help=(
            "the day of the daily assets, and the day in the week of the weekly ones (UTC; default:"
            " today for the daily assets, the last whole week for the weekly ones)"
        ),
    )
    return parser


def read_arguments(arguments: list[str] | None = None) -> argparse.Namespace:
    """`pipeline-run`'s arguments (sys.argv's by default), each asset named among those of the
    definitions: status 2 with the usage otherwise, as for any wrong argument. `just
    pipeline-run` reads them so before it starts anything."""
    parser = arguments_parser()
    # Intermixed: assets named after --day DAY as well as before it (else "unrecognized arguments").
    args = parser.parse_intermixed_args(arguments)
    if args.assets:
        # Only when assets are named: the definitions load Dagster, some two seconds (measured).
        known = loaded_run_once().defined_assets()
        unknown = sorted(set(args.assets) - set(known))
        if unknown:
            parser.error(f"no asset {', '.join(unknown)} (there are: {', '.join(sorted(known))})")
    return args


def loaded_run_once(program: str = "pipeline-run") -> ModuleType:
    """pipeline.run_once, with Dagster and the definitions: taking seconds, so not for a usage or
    a refusal of an option. A setting they refuse as they load ends `program` in one line."""
    try:
        from pipeline import run_once
    except ValueError as wrong_setting:
        # A setting the definitions read as they load (pipeline/resources.py), in one line as the
        # worker says one, not under twenty lines of traceback.
        raise SystemExit(f"{program}: {wrong_setting}") from None
    return run_once


def main() -> None:
    args = read_arguments()
    run = loaded_run_once().run
    raise SystemExit(0 if run(args.assets or list(DATABASE_ONLY), args.day) else 1)


if __name__ == "__main__":
    main()
