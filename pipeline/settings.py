"""The pipeline's settings, read from the environment and checked without Dagster: those the
definitions read as they load (pipeline/resources.py builds its resources from them), and
DAGSTER_HOME, where `pipeline-run` keeps its runs. `pipeline-run` and `./dev pipeline` check them
before they load Dagster (some 1.6 s of CPU), so that a wrong one is refused at once, in one
line. And the names of the definitions' assets, for `pipeline-run` to refuse one there is not
without loading them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from blossom_db.settings import check_database_url, env_count, env_number
from services.sheets_settings import sheets_api_url, sheets_timeout
from services.slack import SlackSettings

# The assets of pipeline/definitions.py, by name, in its order: kept equal to them by
# test_pipeline's test_the_assets_named_without_dagster_are_the_definitions.
ASSETS = ("org_daily_metrics", "org_metrics_sheet", "weekly_slack_digest", "auth_housekeeping")

DATABASE_URL_VARIABLE = "BLOSSOM_PIPELINE_DATABASE_URL"
DEFAULT_DATABASE_URL = "postgresql://pipeline@127.0.0.1:54329/blossom"

# Beyond some ten, a run of the daemon's is tried again for hours (or, without a wait, at once
# over and over) on a database that is not coming back.
MAX_RETRIES = 10
# A first wait past ten minutes, doubled for each retry after it, is no retry of a restart or a
# failover: weeks of waiting at ten retries.
MAX_RETRY_SECONDS = 600.0

# What pipeline-run says when it is told to stop. Dagster ends a run under way on SIGTERM as on
# Ctrl-C (it gives SIGTERM SIGINT's handler, and leaves it so), and no run begins after it.
STOPPED = "stopped by SIGTERM or Ctrl-C"

# In DAGSTER_HOME: held while a run opens the instance.
OPENING_LOCK = "pipeline-run.lock"


@contextmanager
def wrong_setting_refused(program: str) -> Iterator[None]:
    """A ValueError in the block, a wrong setting's, ends `program` in one line naming it, as the
    worker says one, not under twenty lines of traceback."""
    try:
        yield
    except ValueError as wrong_setting:
        raise SystemExit(f"{program}: {wrong_setting}") from None


def check_definitions() -> None:
    """ValueError naming the first wrong one of the settings the definitions read as they load,
    taken in the order they read them: the database's, Google Sheets', Slack's."""
    check_pipeline_database_url()
    retry_settings()
    sheets_api_url()
    sheets_timeout()
    SlackSettings.from_environment()


# Google's settings, which only the metrics export (org_metrics_sheet) needs: the definitions load
# without them, and the daemon runs everything else.
SHEETS_SETTINGS = ("BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE", "BLOSSOM_METRICS_SPREADSHEET_KEY")


def sheets_export_settings() -> tuple[str, str]:
    """The service account's key file and the spreadsheet, SHEETS_SETTINGS as the environment
    has them; ValueError naming the first that is unset."""
    key_file, spreadsheet = (os.environ.get(name, "") for name in SHEETS_SETTINGS)
    for name, value in zip(SHEETS_SETTINGS, (key_file, spreadsheet), strict=True):
        if not value.strip():
            raise ValueError(f"{name} is not set: the metrics export needs it")
    return key_file, spreadsheet


def check_needed_by(assets: Sequence[str]) -> None:
    """ValueError naming the first setting that one of `assets` cannot run without, and that the
    definitions load without, unset."""
    if "org_metrics_sheet" in assets:
        sheets_export_settings()


def pipeline_database_url() -> str:
    """BLOSSOM_PIPELINE_DATABASE_URL, or the local database's URL when it is unset."""
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def check_pipeline_database_url() -> None:
    """ValueError unless pipeline_database_url() passes the check every database URL of ours
    passes, naming the setting and never its value."""
    check_database_url(DATABASE_URL_VARIABLE, pipeline_database_url())


def retry_settings() -> tuple[int, float]:
    """BLOSSOM_PIPELINE_RETRIES and BLOSSOM_PIPELINE_RETRY_SECONDS (3 and 30 when unset): how often
    a run the database failed in a way that passes is tried again, and the first wait; ValueError
    when either is no count, or past its bound (check_retries)."""
    count = env_count("BLOSSOM_PIPELINE_RETRIES", 3, zero=True)
    seconds = env_number("BLOSSOM_PIPELINE_RETRY_SECONDS", 30.0, zero=True)
    check_retries(count, seconds)
    return count, seconds


def check_retries(
    retries: int,
    retry_seconds: float,
    names: tuple[str, str] = ("BLOSSOM_PIPELINE_RETRIES", "BLOSSOM_PIPELINE_RETRY_SECONDS"),
) -> None:
    """ValueError when there are more than MAX_RETRIES retries, or the first wait is longer than
    MAX_RETRY_SECONDS; `names`: what set them, the settings or a run's config."""
    retries_name, seconds_name = names
    if retries > MAX_RETRIES:
        raise ValueError(f"{retries_name} must be at most {MAX_RETRIES}, got {retries}")
    if retry_seconds > MAX_RETRY_SECONDS:
        raise ValueError(f"{seconds_name} must be at most {MAX_RETRY_SECONDS:g}, got {retry_seconds:g}")


def dagster_home() -> str | None:
    """DAGSTER_HOME, where `pipeline-run` keeps its runs, or None when it is unset (a throwaway
    instance); ValueError unless it names a folder that exists, by its absolute path (Dagster's
    refusal was a traceback, once the definitions had loaded)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    if not (Path(home).is_absolute() and Path(home).is_dir()):
        raise ValueError(f"DAGSTER_HOME must name a folder that exists, by its absolute path: {home}")
    return home


def check_dagster_home() -> None:
    """ValueError unless DAGSTER_HOME is unset, or names a folder as dagster_home wants it that a
    run may write (its OPENING_LOCK is opened, made when it is not there, as a run opens it), whose
    dagster.yaml, if it has one, is YAML."""
    home = dagster_home()
    if home is not None:
        opening_lock(home).close()
        check_instance_file(home)


def check_instance_file(home: str | Path) -> None:
    """ValueError when DAGSTER_HOME `home` has a dagster.yaml that is no YAML (or cannot be read):
    Dagster's refusal of it was a traceback of some 80 lines, `dagster dev`'s too."""
    import yaml  # Dagster's own reader of the file, loaded only here

    path = Path(home) / "dagster.yaml"
    try:
        with open(path, encoding="utf-8") as file:
            yaml.safe_load(file)
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or getattr(error, "strerror", None) or type(error).__name__
        raise ValueError(f"DAGSTER_HOME's {path} cannot be read as YAML{where}: {problem}") from None


# The dagster.yaml the recipes give an instance that has none: one without it collects Dagster's
# usage statistics, which its webserver and daemon send to Dagster Labs, and its UI loads a
# script of theirs.
INSTANCE_FILE = """\
# Written by ./dev, which found no dagster.yaml in this Dagster instance: Dagster's usage
# statistics are neither collected nor sent. This file is yours to change: ./dev leaves a
# dagster.yaml that is there as it is.
telemetry:
  enabled: false
"""


def made_instance_file(home: str | Path) -> None:
    """INSTANCE_FILE as DAGSTER_HOME `home`'s dagster.yaml, unless it has one; whole or not at
    all, as two recipes begun together may both write it. ValueError when it cannot be written."""
    path = Path(home) / "dagster.yaml"
    if path.exists():
        return
    written = path.with_name(f".dagster.yaml.{os.getpid()}")
    try:
        written.write_text(INSTANCE_FILE, encoding="utf-8")
        try:
            os.link(written, path)
        except FileExistsError:
            pass
        finally:
            written.unlink()
    except OSError as error:
        raise ValueError(f"DAGSTER_HOME's {path} cannot be written: {error.strerror}") from None


def opening_lock(home: str) -> TextIO:
    """The OPENING_LOCK of DAGSTER_HOME `home`, open to be locked; ValueError when the folder is
    not the run's to write (another user's, a read-only one), which was a traceback."""
    try:
        return open(Path(home) / OPENING_LOCK, "a")
    except OSError as error:
        raise ValueError(f"DAGSTER_HOME cannot be written ({home}): {error.strerror}") from None
