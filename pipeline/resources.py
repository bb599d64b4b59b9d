"""The pipeline's resources: Postgres as role `pipeline` (through the generated wrappers of
blossom_db, no SQL of its own), Google Sheets (services/sheets.py) and Slack (services/slack.py,
with the key ring that opens the organizations' sealed bot tokens: services/secrets.py). Each is
built from the environment by `from_environment`; tests build them with a test database and the
local fakes. The settings they check are read by pipeline/settings.py (Google Sheets', which the
pipeline shares with every user of services/sheets.py, by services/sheets_settings.py), which
`pipeline-run` and `./dev pipeline` call before they load Dagster."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from dagster import ConfigurableResource, EnvVar, InitResourceContext

from blossom_db.connections import Connection
from blossom_db.settings import split_list
from pipeline import settings
from services.secrets import KEY_VARIABLE, PREVIOUS_KEYS_VARIABLE, KeyRing
from services.sheets import SheetsClient, SheetsSettings
from services.sheets_settings import sheets_api_url, sheets_timeout
from services.slack import SlackClient, SlackSettings


def secret_setting(name: str, default: str = "") -> str:
    """A setting that may hold a secret, as an EnvVar: Dagster reads it when a run starts, and its
    UI shows the variable's name, where it showed a value read when the definitions load as it
    is (the key that opens every organization's Slack bot token). `default`
    when it is unset."""
    return EnvVar(name) if os.environ.get(name, "").strip() else default


class PostgresResource(ConfigurableResource["PostgresResource"]):
    """The database, logged in as role `pipeline` (BLOSSOM_PIPELINE_DATABASE_URL, read when a run
    starts): it may execute the functions of schema pipeline and write analytics, nothing else. A
    run it fails in a way that passes (a restart, a failover) is tried again `retries` times, the
    first after `retry_seconds`, each wait doubled (pipeline/retries.py)."""

    # Three retries, 30 s then 60 and 120: a restart or a failover is over within them.
    retries: int = 3
    retry_seconds: float = 30.0

    @classmethod
    def from_environment(cls) -> PostgresResource:
        settings.check_pipeline_database_url()
        retries, retry_seconds = settings.retry_settings()
        return cls(retries=retries, retry_seconds=retry_seconds)

    @property
    def url(self) -> str:
        """The deployment's, not a run's config (as the services' addresses are not: see below):
        a URL read from any variable ({"env": "BLOSSOM_SECRETS_KEY"}) was quoted whole in the
        run's log by psycopg's refusal of it, and one of another host was given libpq's
        PGPASSWORD."""
        return settings.pipeline_database_url()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # A run's config (Dagster's launchpad) may set them too, past from_environment's check.
        settings.check_retries(self.retries, self.retry_seconds, names=("retries", "retry_seconds"))
        settings.check_pipeline_database_url()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection in a transaction, committed when the block ends normally."""
        # blossom_db's: with TCP keepalives (blossom_db.settings.CONNECTION_DEFAULTS).
        with Connection.connect(self.url, application_name="blossom-pipeline", connect_timeout=10) as conn:
            yield conn


# Where a service is, and the spreadsheet the export writes, are the deployment's settings, read
# from the environment when a run starts, and no field of a resource: Dagster's webserver launches
# a run with the config it is given (its launchpad), the resources' among it. A run naming another
# Slack API URL, its key ring still the deployment's, opened every organization's bot token and
# posted with it there; another spreadsheet or Sheets URL took every organization's metrics.


class SheetsResource(ConfigurableResource["SheetsResource"]):
    """Google Sheets through the service account of BLOSSOM_GOOGLE_SERVICE_ACCOUNT_FILE, at
    BLOSSOM_SHEETS_API_URL, and the spreadsheet the metrics go to (BLOSSOM_METRICS_SPREADSHEET_KEY)."""

    timeout: float = 30.0

    @classmethod
    def from_environment(cls) -> SheetsResource:
        """Unset settings stay empty, so the definitions load without Google; only the export
        needs them, and says which is missing."""
        return cls(timeout=sheets_timeout())

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # A run's config (Dagster's launchpad) may set it too, past BLOSSOM_SHEETS_TIMEOUT's check.
        if not 0 < self.timeout < math.inf:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")

    @property
    def spreadsheet_key(self) -> str:
        return settings.sheets_export_settings()[1]

    def client(self) -> SheetsClient:
        service_account_file, _ = settings.sheets_export_settings()
        return SheetsClient(
            SheetsSettings(
                service_account_file=Path(service_account_file),
                api_url=sheets_api_url(),
                timeout=self.timeout,
            )
        )


class SlackResource(ConfigurableResource["SlackResource"]):
    """Slack's Web API (BLOSSOM_SLACK_API_URL), and the key ring (BLOSSOM_SECRETS_KEY and the
    previous keys) that opens the bot tokens the edge sealed."""

    secrets_key: str
    previous_secrets_keys: str = ""
    timeout_seconds: float = 10.0

    @classmethod
    def from_environment(cls) -> SlackResource:
        """An unset key stays empty, so the definitions load without it; the digest names it."""
        return cls(
            secrets_key=secret_setting(KEY_VARIABLE),
            previous_secrets_keys=secret_setting(PREVIOUS_KEYS_VARIABLE),
            timeout_seconds=SlackSettings.from_environment().timeout_seconds,
        )

    def client(self) -> SlackClient:
        api_url = SlackSettings.from_environment().api_url
        return SlackClient(SlackSettings(api_url=api_url, timeout_seconds=self.timeout_seconds))

    def key_ring(self) -> KeyRing:
        if not self.secrets_key.strip():
            raise ValueError(f"{KEY_VARIABLE} is not set: the Slack digest needs it to open the bot tokens")
        return KeyRing.from_entries(self.secrets_key.strip(), split_list(self.previous_secrets_keys))
