"""`just pipeline-run [ASSET…] [--day YYYY-MM-DD]`: materialize assets once, from the command
line (for cron or CI), with the resources of pipeline/definitions.py; the exit status is non-zero
when any fails.

Without ASSET it materializes what needs only the database: org_daily_metrics (of --day, by
default today, UTC) and auth_housekeeping. A weekly asset is materialized for the week (from
Monday, UTC) that holds --day, by default the last whole week. Runs are recorded in the Dagster
instance of DAGSTER_HOME when it is set (`just pipeline` sets one), else in a throwaway one.

The options, the form of --day, the assets' names, the settings and DAGSTER_HOME are checked
first, without Dagster (pipeline/settings.py): a wrong one is refused at once, where loading
Dagster and the definitions took some 1.6 s of CPU before it. Dagster is loaded once they pass:
whether the assets named have a day, and whether --day is one of their partitions, is told from
the definitions (pipeline/run_once.py).
"""

from __future__ import annotations

import argparse
import re
import signal
from collections.abc import Sequence
from datetime import date

from pipeline import settings

DATABASE_ONLY = ("org_daily_metrics", "auth_housekeeping")


# The one form the help names: Python reads 20261201 and an ISO week's day (2026-W49-1) as dates too.
DAY_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(raw: str) -> date:
    try:
        if DAY_FORM.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{raw!r} is no day: YYYY-MM-DD")


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
    definitions (pipeline.settings.ASSETS, read without loading them): status 2 with the usage
    otherwise, as for any wrong argument. `just pipeline-run` reads them so before it starts
    anything."""
    parser = arguments_parser()
    # Intermixed: assets named after --day DAY as well as before it (else "unrecognized arguments").
    args = parser.parse_intermixed_args(arguments)
    unknown = sorted(set(args.assets) - set(settings.ASSETS))
    if unknown:
        parser.error(f"no asset {', '.join(unknown)} (there are: {', '.join(sorted(settings.ASSETS))})")
    return args


def refuse_wrong_settings(
    program: str = "pipeline-run", *, check_home: bool = True, assets: Sequence[str] = ()
) -> None:
    """The settings the definitions read as they load, those the `assets` to run need, and
    DAGSTER_HOME with `check_home` (not for a caller that makes its own, as ops/stack.py does),
    checked without loading Dagster: a wrong or missing one ends `program` in one line, as the
    worker says one, not under twenty lines of traceback, seconds later."""
    with settings.wrong_setting_refused(program):
        settings.check_definitions()
        settings.check_needed_by(assets)
        if check_home:
            settings.check_dagster_home()


def stop_on_hangup() -> None:
    """SIGHUP (the terminal closed) taken as SIGTERM: its default ended the process at once, and
    the run under way stayed STARTED in Dagster's instance for good. Ignored (nohup), it stays so."""
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, lambda _signum, _frame: signal.raise_signal(signal.SIGTERM))


def main() -> None:
    stop_on_hangup()
    args = read_arguments()
    refuse_wrong_settings(assets=args.assets)
    # Dagster and the definitions, some 1.6 s of CPU: only now, for a run that goes ahead. Their
    # resources read their settings as they load: one that check_definitions was not taught
    # would be refused here, in one line still, not in a traceback.
    try:
        with settings.wrong_setting_refused("pipeline-run"):
            from pipeline.run_once import run

        succeeded = run(args.assets or list(DATABASE_ONLY), args.day)
    except KeyboardInterrupt:
        # Ctrl-C as Dagster loads, or either signal between two runs, where no run of Dagster's
        # turns it into the end of a run.
        raise SystemExit(f"pipeline-run: {settings.STOPPED}") from None
    raise SystemExit(0 if succeeded else 1)


if __name__ == "__main__":
    main()
