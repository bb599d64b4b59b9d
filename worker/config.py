"""The worker's settings, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.policy import SMTP
from urllib.parse import urlsplit

import idna

from blossom_db.settings import env_count, env_database_url, env_listen_host, env_number
from services.secrets import KEY_VARIABLE, KeyRing
from services.slack import SlackSettings
from services.smtp import SmtpSettings

DEFAULT_MAIL_FROM = "Blossom <no-reply@blossom.localhost>"
# The longest wait between a mail's tries that may be set: a week, past any use of a mail held
# back by it. A longer one (1e20 s) was taken at start, and the first failed try ended its job
# in an OverflowError, the mail given up at its first try and left unsent.
LONGEST_RETRY_SECONDS = 7 * 24 * 3600.0


def parse_mail_from(value: str) -> Address:
    """BLOSSOM_MAIL_FROM: an address, with or without a display name (`Name <a@b.example>`), its
    domain in its ASCII form (IDNA). As typed (`blümchen.example`), every mail needed SMTPUTF8 of
    the relay, and one without it refused each, until every mail was given up."""
    header = SMTP.header_factory("From", value)
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    if header.defects or len(addresses) != 1 or not addresses[0].domain:
        raise ValueError(
            f"BLOSSOM_MAIL_FROM must be one address such as 'Blossom <no-reply@example.com>', not {value!r}"
        )
    sender = addresses[0]
    try:
        # IDNA 2008 with UTS #46's mapping, as registries and browsers make the name: Python's
        # `idna` codec is IDNA 2003, which maps ß and a final ς away (`straße.example` became
        # `strasse.example`, another domain). An ASCII one is taken as it is (IDNA 2008 refuses
        # an underscore, which a relay's internal name may hold).
        domain = sender.domain
        if not domain.isascii():
            domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise ValueError(f"BLOSSOM_MAIL_FROM has a domain that is no host name: {value!r}") from None
    return Address(sender.display_name, sender.username, domain)


# Characters no URL holds as written (RFC 3986), beside blanks and controls: Python's parser
# drops line breaks and tabs anywhere, and blanks around the URL, before it reads one, so the
# URL it checked was not the one mailed (a line break a secrets file left at the end cut every
# link of the text part after its host).
_NOT_IN_A_URL = frozenset('"<>\\^`{|}')


def parse_app_url(value: str) -> str:
    """BLOSSOM_APP_URL: the frontend's base URL that mailed links point into. Not quoted when
    it is refused for what it holds: a user part may be a password."""
    if any(char.isspace() or not char.isprintable() or char in _NOT_IN_A_URL for char in value):
        raise ValueError('BLOSSOM_APP_URL holds a blank, a control character or one of "<>\\^`{|}')
    parts = urlsplit(value)
    # A user part: a password every mail would carry, or `https://blossom.example@evil.example`,
    # a link to evil.example. Never quoted, nor is a URL with an @ anywhere (a password with a /
    # ends the host part early, and its @ lands in the path).
    if "@" in parts.netloc:
        raise ValueError("BLOSSOM_APP_URL must name no user or password (an @ before its host)")
    shown = "" if "@" in value else f", not {value!r}"
    try:
        # Read only when asked: a port that is no number is a password's piece before its / (the
        # host part of `https://me:pa/ss@app.example.com` is `me:pa`), or a typo; either way no
        # link opens.
        parts.port  # noqa: B018
    except ValueError:
        raise ValueError(f"BLOSSOM_APP_URL has a port that is not a number from 0 to 65535{shown}") from None
    # `?` or `#` even with nothing after it (none to the parser): each link is built after it.
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
    ):
        raise ValueError(f"BLOSSOM_APP_URL must be an http(s) URL without query or fragment{shown}")
    return value.rstrip("/")


def _required_app_url() -> str:
    """BLOSSOM_APP_URL has no default: a worker left without it mailed every link into
    http://127.0.0.1:8000, links that open nothing, and nothing failed to say so. `up` and
    docker-compose set it."""
    value = os.environ.get("BLOSSOM_APP_URL", "")
    if not value:
        raise ValueError(
            "BLOSSOM_APP_URL is not set: it is the frontend's base URL that mailed links point into"
            " (https://app.example.com, say)"
        )
    return value


@dataclass(frozen=True)
class WorkerConfig:
    # It may hold a password: printed as blossom_db.settings.database_shown prints it, never whole.
    database_url: str = field(repr=False)
    smtp: SmtpSettings
    mail_from: Address
    app_url: str
    # Jobs run at once; each holds one database connection while its message is being sent.
    concurrency: int = 8
    # A mail is tried at most this often; a failed try waits retry_seconds, doubled after each
    # further failure, at most retry_max_seconds (each wait varied by up to a fifth, so that
    # mails that failed together do not all come back together).
    max_attempts: int = 8
    retry_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # NOTIFY wakes the worker when a mail is queued; a retry that falls due, and a mail queued
    # without a wake-up (Postgres's notification queue backed up), are found by looking this often.
    poll_seconds: float = 2.0
    # A worker says it is alive this often; one silent for stalled_seconds is taken for dead,
    # and the jobs it held are run again (checked every heartbeat).
    heartbeat_seconds: float = 10.0
    stalled_seconds: float = 30.0
    # On SIGTERM, jobs under way get this long to finish; then they are stopped and run again
    # later (by this worker's successor, or another).
    shutdown_seconds: float = 20.0
    # Slack (services/slack.py), and the key ring that opens the bot tokens the edge sealed
    # (None without BLOSSOM_SECRETS_KEY: Slack posts then wait for it, as failed tries).
    slack: SlackSettings = field(default_factory=SlackSettings)
    keyring: KeyRing | None = None
    # Where the metrics are served (worker/metrics.py); none without a port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None

    @classmethod
    def from_env(cls) -> WorkerConfig:
        config = cls(
            database_url=env_database_url(
                "BLOSSOM_WORKER_DATABASE_URL", "postgresql://worker@127.0.0.1:54329/blossom"
            ),
            smtp=SmtpSettings.from_url(
                os.environ.get("BLOSSOM_SMTP_URL") or "smtp://127.0.0.1:1025",
                timeout_seconds=env_number("BLOSSOM_SMTP_TIMEOUT", 30.0),
            ),
            mail_from=parse_mail_from(os.environ.get("BLOSSOM_MAIL_FROM") or DEFAULT_MAIL_FROM),
            app_url=parse_app_url(_required_app_url()),
            concurrency=env_count("BLOSSOM_WORKER_CONCURRENCY", 8),
            max_attempts=env_count("BLOSSOM_MAIL_MAX_ATTEMPTS", 8),
            retry_seconds=env_number("BLOSSOM_MAIL_RETRY_SECONDS", 30.0, at_most=LONGEST_RETRY_SECONDS),
            retry_max_seconds=env_number(
                "BLOSSOM_MAIL_RETRY_MAX_SECONDS", 3600.0, at_most=LONGEST_RETRY_SECONDS
            ),
            poll_seconds=env_number("BLOSSOM_WORKER_POLL_SECONDS", 2.0),
            heartbeat_seconds=env_number("BLOSSOM_WORKER_HEARTBEAT_SECONDS", 10.0),
            stalled_seconds=env_number("BLOSSOM_WORKER_STALLED_SECONDS", 30.0),
            shutdown_seconds=env_number("BLOSSOM_WORKER_SHUTDOWN_SECONDS", 20.0),
            slack=SlackSettings.from_environment(),
            keyring=KeyRing.from_environment() if os.environ.get(KEY_VARIABLE, "").strip() else None,
            metrics_host=env_listen_host("BLOSSOM_WORKER_METRICS_HOST", "127.0.0.1"),
            metrics_port=env_count("BLOSSOM_WORKER_METRICS_PORT", 0, at_most=65535) or None,
        )
        # The doubling is capped at the longest wait: under the first, every wait was the longest,
        # a mail's tries spent in seconds.
        if config.retry_max_seconds < config.retry_seconds:
            raise ValueError("BLOSSOM_MAIL_RETRY_MAX_SECONDS must be at least BLOSSOM_MAIL_RETRY_SECONDS")
        if config.stalled_seconds <= 2 * config.heartbeat_seconds:
            raise ValueError(
                "BLOSSOM_WORKER_STALLED_SECONDS must be more than twice BLOSSOM_WORKER_HEARTBEAT_SECONDS"
            )
        return config
