"""What a mail says (worker/messages.py), and the worker's settings (worker/config.py) with the
waits between tries they make (worker/delivery.py, worker/process.py)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import UTC, datetime
from email.headerregistry import Address

import psycopg
import pytest
from procrastinate import exceptions
from procrastinate.jobs import Job

from ops.settings import ROOT
from services.smtp import Mailer, SmtpSettings
from services.text import inert
from tests.support.smtp_server import SmtpServer
from worker.config import WorkerConfig, parse_app_url, parse_mail_from
from worker.delivery import retry_delay
from worker.messages import KINDS, UnsendableMessage, compose
from worker.process import DeliveryRetry, database_lost

SENDER = Address("Blossom", "no-reply", "blossom.example")
APP = "https://app.example.com"
# The database's time, by which a link's expiry is checked.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAYLOAD = {
    "to": "ann@example.com",
    "display_name": "Ann",
    "token": "T" * 43,
    "expires_at": "2030-01-02T03:04:05+01:00",
}


@pytest.mark.parametrize(
    ("topic", "page", "subject"),
    [
        ("mail.email_verification", "/verify-email", "Confirm your email address for Blossom"),
        ("mail.password_reset", "/reset-password", "Reset your Blossom password"),
        ("mail.org_invitation", "/invitations/accept", "You are invited to join Acme on Blossom"),
    ],
)
def test_each_kind_has_a_subject_both_parts_and_its_link(topic: str, page: str, subject: str) -> None:
    payload = PAYLOAD | {"org_name": "Acme", "role": "member"}
    message = compose("evt_1", topic, payload, sender=SENDER, app_url=APP, now=NOW)
    assert str(message["Subject"]) == subject
    assert str(message["To"]) == "ann@example.com"
    assert str(message["From"]) == "Blossom <no-reply@blossom.example>"
    assert str(message["Message-ID"]) == "<evt_1@blossom.example>"
    assert str(message["Auto-Submitted"]) == "auto-generated"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    link = f"{APP}{page}?token={'T' * 43}"
    assert link in text
    assert f'href="{link}"' in html
    assert "2030-01-02 02:04 UTC" in text


def test_the_date_is_the_database_s_time_not_this_machine_s() -> None:
    """The Date header was this machine's clock, while the worker keeps the database's for all
    else (the link's expiry, its waits): a worker off by hours dated its mail hours off, which a
    reader's client sorts and shows, and a spam filter weighs."""
    message = compose("evt_1", "mail.email_verification", PAYLOAD, sender=SENDER, app_url=APP, now=NOW)
    assert str(message["Date"]) == "Thu, 01 Jan 2026 00:00:00 +0000"


def test_every_kind_has_both_templates() -> None:
    for kind in KINDS.values():
        for suffix in ("txt", "html"):
            assert (ROOT / "worker" / "templates" / f"{kind.template}.{suffix}").is_file()


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Ann", "Ann"),
        ("evil.example", "evil.\u200bexample"),
        ("https://evil.example/x", "https:\u200b/\u200b/\u200bevil.\u200bexample/\u200bx"),
        ("me@evil.example", "me@\u200bevil.\u200bexample"),
        ("Ann\r\nBcc: x", "Ann Bcc:\u200b x"),
        ("Ann\u202egnp.exe", "Anngnp.\u200bexe"),
        ("x" * 300, "x" * 100),
        ("=?utf-8?q?x?=", "=\u200b?utf-8?q?x?="),
        # Dots, colons, slashes and ats a browser's or mail program's IDNA or NFKC reads as ASCII.
        ("evil\u3002example", "evil\u3002\u200bexample"),
        ("evil\uff0eexample\uff61com", "evil\uff0e\u200bexample\uff61\u200bcom"),
        ("https\uff1a\uff0f\uff0fx\u2024y", "https\uff1a\u200b\uff0f\u200b\uff0f\u200bx\u2024\u200by"),
        ("me\uff20evil", "me\uff20\u200bevil"),
        # Characters NFKC spells with one inside: a digit with its full stop, a vertical
        # ideographic full stop, the leaders, "c/o", "Co.".
        ("evil\u2488com", "evil\u2488\u200bcom"),
        ("evil\ufe12com", "evil\ufe12\u200bcom"),
        ("a\u2025b\u2026c", "a\u2025\u200bb\u2026\u200bc"),
        ("\u2105x", "\u2105\u200bx"),
        ("Acme \u33c7", "Acme \u33c7\u200b"),
        ("\U0001f100x", "\U0001f100\u200bx"),
        # The joiners a name holds where they join (app.name_fault): one emoji of two, a
        # Persian name, kept; the zero-width space and the word joiner, which join nothing, not.
        ("\U0001f469\u200d\U0001f4bb Ann", "\U0001f469\u200d\U0001f4bb Ann"),
        ("\u0639\u0644\u06cc\u200c\u0627", "\u0639\u0644\u06cc\u200c\u0627"),
        ("A\u200bc\u2060me", "Acme"),
    ],
)
def test_typed_text_is_one_line_without_links_or_direction_tricks(typed: str, shown: str) -> None:
    assert inert(typed) == shown


@pytest.mark.parametrize(
    "org_name",
    [
        # RFC 2047 encoded words, which the email package decoded in the Subject after inert had
        # run: CR/LF made a Reply-To header and a body of the attacker's, and the rest a link.
        "=?utf-8?q?x=0D=0AReply-To=3A_a=40evil=2Eio=0D=0A=0D=0AVisit_https=3A=2F=2Fevil=2Eio?=",
        "=?utf-8?q?Reset_your_password_at_https=3A=2F=2Fevil=2Ecom=2Freset?=",
        "=?utf-8?b?4oCu?= =?utf-8?q?=00=07?=",
        "=?utf-8?q?x?==?utf-8?q?y?=",
    ],
)
def test_an_organization_name_cannot_write_headers_or_links_into_an_invitation(org_name: str) -> None:
    payload = PAYLOAD | {"org_name": org_name, "role": "member"}
    message = compose("evt_1", "mail.org_invitation", payload, sender=SENDER, app_url=APP, now=NOW)
    sent = message.as_bytes()
    head = sent.split(b"\n\n", 1)[0].decode()
    assert "Reply-To" not in head
    assert [line.split(":", 1)[0] for line in head.splitlines() if line[:1] not in (" ", "\t")] == [
        "Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type",
    ]  # fmt: skip
    subject = str(message["Subject"])
    assert subject == f"You are invited to join {inert(org_name)} on Blossom"
    for forbidden in ("https://", "evil.", "\x00", "\x07", "\u202e", "\r", "\n"):
        assert forbidden not in subject


@pytest.mark.parametrize(
    "org_name",
    [
        "Acme Grün Studio 漢字 🌸",
        "Acme 日本 🌸 Zürich Ltd.",
        "Holdings é 🌸 🌸 🌸 é",
        "Worldwide Partners Inc Ltd (Studio)",
        'Design [EU] Corp, & "The" & Inc Ltd',
        "Ünïcödé " + "Studio" * 15,
        "漢字" * 50,
    ],
)
def test_an_invitation_s_subject_reaches_its_reader_as_it_was_written(org_name: str) -> None:
    """The email package folded a long Subject by its own rules, and on the way out lost what it
    checked: a space between two words it encoded (RFC 2047) became the folding between two
    encoded words, which a reader drops ("漢字 🌸" read "漢字🌸", "Zürich Ltd." "ZürichLtd."),
    one invitation in about fifteen of names mixing scripts; and a plain one too long for a line
    was folded just after `Subject:`, its reader's text starting with a blank."""
    payload = PAYLOAD | {"org_name": org_name, "role": "member"}
    message = compose("evt_1", "mail.org_invitation", payload, sender=SENDER, app_url=APP, now=NOW)
    written = f"You are invited to join {inert(org_name)} on Blossom"
    with SmtpServer() as smtp:
        asyncio.run(Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(message))
        (received,) = smtp.wait_for(1)
    assert str(received.message["Subject"]) == written
    head = received.message.as_bytes().split(b"\n\n", 1)[0]
    assert all(len(line) <= 78 for line in head.splitlines())
    # RFC 2047: an encoded word is at most 75 characters, a line that holds one at most 76.
    folded = re.search(rb"^Subject:.*(?:\n[ \t].*)*", head, re.M)
    assert folded is not None
    for line in folded[0].splitlines():
        assert len(line) <= 76, line
        assert all(len(word) <= 75 for word in re.findall(rb"=\?\S*?\?[bq]\?\S*?\?=", line, re.I)), line


def test_typed_text_is_html_escaped_in_the_html_part() -> None:
    payload = PAYLOAD | {"display_name": '<img src=x onerror="alert(1)">'}
    message = compose("evt_1", "mail.password_reset", payload, sender=SENDER, app_url=APP, now=NOW)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("mail.unknown", PAYLOAD, "no mail is made for topic"),
        ("notify.member_left", PAYLOAD, "no mail is made for topic"),
        ("mail.password_reset", [], "not an object"),
        ("mail.password_reset", PAYLOAD | {"token": None}, "no token"),
        ("mail.password_reset", {k: v for k, v in PAYLOAD.items() if k != "to"}, "no to"),
        ("mail.password_reset", PAYLOAD | {"to": "not an address"}, "not an address"),
        # The email package's own errors, not ValueError's kind: CharsetError, HeaderParseError.
        ("mail.password_reset", PAYLOAD | {"to": "=?x?q?a?=@example.com"}, "not an address"),
        ("mail.password_reset", PAYLOAD | {"to": "a@b@example.com"}, "not an address"),
        ("mail.password_reset", PAYLOAD | {"expires_at": "soon"}, "not a time"),
        ("mail.password_reset", PAYLOAD | {"expires_at": "0001-01-01T00:00:00+14:00"}, "not a time"),
        ("mail.password_reset", PAYLOAD | {"expires_at": "2030-01-01T00:00:00"}, "without its zone"),
        # A link dead before it could be sent (a reset is valid an hour, about what a mail's
        # tries take; a DBA's try_again a day later): the mail would only mislead.
        ("mail.password_reset", PAYLOAD | {"expires_at": "2020-01-01T00:00:00+00:00"}, "expired"),
        # Its token taken out meanwhile (pipeline.purge_auth does, once the link expired): still
        # told by its expiry, not as a payload missing a field.
        (
            "mail.password_reset",
            {k: v for k, v in PAYLOAD.items() if k != "token"} | {"expires_at": "2020-01-01T00:00:00+00:00"},
            "its link expired at 2020-01-01T00:00:00[+]00:00 before it could be sent",
        ),
        (
            "mail.org_invitation",
            PAYLOAD | {"org_name": "Acme", "role": "member", "expires_at": "2020-01-01T00:00:00+00:00"},
            "expired",
        ),
        ("mail.org_invitation", PAYLOAD | {"role": "owner"}, "no org_name"),
    ],
)
def test_an_event_that_cannot_become_a_mail_is_unsendable(topic: str, payload: object, reason: str) -> None:
    with pytest.raises(UnsendableMessage, match=reason):
        compose("evt_1", topic, payload, sender=SENDER, app_url=APP, now=NOW)


@pytest.mark.parametrize(
    ("typed", "ascii_domain"),
    [
        ("no-reply@straße.example", "xn--strae-oqa.example"),
        ("no-reply@σίσυφος.example", "xn--kxa6ajbbmh.example"),
    ],
)
def test_a_sender_s_internationalized_domain_is_the_one_registered(typed: str, ascii_domain: str) -> None:
    """BLOSSOM_MAIL_FROM's domain is sent in its ASCII form as registries make it (IDNA 2008,
    UTS #46 mapping). Python's own `idna` codec is IDNA 2003, which maps ß and a final ς away:
    `straße.example`, a domain of its own, became `strasse.example`, someone else's, and every
    mail went out from an address the operator does not hold (its SPF and DKIM failing)."""
    assert parse_mail_from(f"Blossom <{typed}>").domain == ascii_domain


def test_the_sender_and_the_app_url_are_checked() -> None:
    assert parse_mail_from("Blossom <hello@example.com>").addr_spec == "hello@example.com"
    for bad in ("nobody", "a@example.com, b@example.com", "Eve\r\nBcc: x@example.com <a@example.com>"):
        with pytest.raises(ValueError, match="BLOSSOM_MAIL_FROM"):
            parse_mail_from(bad)
    assert parse_app_url("https://app.example.com/") == "https://app.example.com"
    for bad in ("app.example.com", "javascript:alert(1)", "https://app.example.com/?a=1", "https://x/#f"):
        with pytest.raises(ValueError, match="BLOSSOM_APP_URL"):
            parse_app_url(bad)


@pytest.fixture(autouse=True)
def _links_point_into_the_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOSSOM_APP_URL", APP)


def test_a_worker_without_the_frontend_url_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """It had a default, the loopback edge: a worker deployed without the setting mailed every
    verification, reset and invitation link into http://127.0.0.1:8000, and nothing said so."""
    monkeypatch.delenv("BLOSSOM_APP_URL")
    with pytest.raises(ValueError, match="BLOSSOM_APP_URL is not set"):
        WorkerConfig.from_env()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOSSOM_SMTP_URL", "smtps://u:p@mail.example.com")
    monkeypatch.setenv("BLOSSOM_MAIL_MAX_ATTEMPTS", "5")
    config = WorkerConfig.from_env()
    assert (config.smtp.host, config.smtp.port, config.smtp.implicit_tls) == ("mail.example.com", 465, True)
    assert config.max_attempts == 5
    monkeypatch.setenv("BLOSSOM_WORKER_STALLED_SECONDS", "15")
    with pytest.raises(ValueError, match="BLOSSOM_WORKER_STALLED_SECONDS"):
        WorkerConfig.from_env()


@pytest.mark.parametrize(
    "value",
    [
        # A line break or a blank a secrets file or a YAML block left around it, or typed inside:
        # Python's URL parser drops them when it checks the URL, and the value was used as given,
        # so every mailed link in the text part was cut where they stood.
        "https://app.example.com\n",
        " https://app.example.com",
        "https://app.example.com/a b",
        "https://app.exa\tmple.com/",
        # A user part: a link to evil.example that reads as blossom.example, or a password in
        # every mail sent.
        "https://blossom.example@evil.example",
        "https://me:secret@app.example.com",
        # A password with an unencoded / ends the host part before its @: Python read the host
        # `me` and the port `secret`, which it checks only when asked, and the password went out
        # in every mail, in a link no browser opens.
        "https://me:secret/x@app.example.com",
        "https://app.example.com:99999",
        # An empty query or fragment is none to Python's parser, but each link was built after
        # it: `https://app.example.com?/reset-password?token=…` opens the home page.
        "https://app.example.com?",
        "https://app.example.com/#",
    ],
)
def test_an_app_url_that_would_break_or_disguise_every_mailed_link_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="BLOSSOM_APP_URL") as refused:
        parse_app_url(value)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("failed_tries", [1, 2, 7, 1100, 10**6])
def test_the_wait_after_a_failed_try_doubles_up_to_its_bound_however_many_tries(
    monkeypatch: pytest.MonkeyPatch, failed_tries: int
) -> None:
    """BLOSSOM_MAIL_MAX_ATTEMPTS is any count: past about a thousand tries the doubling overflowed
    a float (OverflowError), and the job crashed where it should have waited an hour."""
    monkeypatch.setenv("BLOSSOM_MAIL_MAX_ATTEMPTS", str(10**6))
    config = WorkerConfig.from_env()
    wanted = min(config.retry_seconds * 2 ** min(failed_tries - 1, 20), config.retry_max_seconds)
    assert wanted * 0.8 <= retry_delay(config, failed_tries) <= wanted * 1.2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BLOSSOM_SMTP_URL", "http://x"),
        ("BLOSSOM_MAIL_MAX_ATTEMPTS", "0"),
        ("BLOSSOM_APP_URL", "nope"),
        ("BLOSSOM_APP_URL", ""),
        # Taken, the first wait's OverflowError gave the mail up at its first try.
        ("BLOSSOM_MAIL_RETRY_SECONDS", "99999999999999999999"),
        ("BLOSSOM_MAIL_RETRY_MAX_SECONDS", "99999999999999999999"),
        # Taken, the metrics server's bind ended the worker in a traceback.
        ("BLOSSOM_WORKER_METRICS_PORT", "70000"),
        # Taken, so did its name lookup (a label over 63 letters, a byte that is no letter).
        ("BLOSSOM_WORKER_METRICS_HOST", "x" * 64),
        ("BLOSSOM_WORKER_METRICS_HOST", "bad\udcffhost"),
    ],
)
def test_a_bad_setting_stops_the_worker_at_start_with_its_name(name: str, value: str) -> None:
    """An empty BLOSSOM_APP_URL among them: it has no default, since one (the loopback edge)
    mailed links that open nothing from a worker deployed without it, and no error said so."""
    environment = {"PATH": "/usr/bin", "BLOSSOM_APP_URL": APP, name: value}
    command = [sys.executable, "-m", "worker"]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("blossom-worker: ")
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_a_longest_wait_shorter_than_the_first_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """BLOSSOM_MAIL_RETRY_MAX_SECONDS under BLOSSOM_MAIL_RETRY_SECONDS made every wait the shorter
    one: with 30 and 5, a mail's 8 tries were spent in 40 s and it was given up, and a job whose
    database was away came back every 5 s."""
    monkeypatch.setenv("BLOSSOM_MAIL_RETRY_SECONDS", "30")
    monkeypatch.setenv("BLOSSOM_MAIL_RETRY_MAX_SECONDS", "5")
    with pytest.raises(
        ValueError, match="BLOSSOM_MAIL_RETRY_MAX_SECONDS must be at least BLOSSOM_MAIL_RETRY_SECONDS"
    ):
        WorkerConfig.from_env()
    monkeypatch.setenv("BLOSSOM_MAIL_RETRY_MAX_SECONDS", "30")
    assert WorkerConfig.from_env().retry_max_seconds == 30


@pytest.mark.parametrize("attempts", [0, 3, 1100])
def test_the_wait_after_the_database_was_unreachable_has_its_bound_however_many_tries(
    monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    """The worker's other doubling, of a try that found the database unreachable, counts the
    job's tries: past about a thousand (BLOSSOM_MAIL_MAX_ATTEMPTS allows them) it overflowed a
    float, and procrastinate's retry decision crashed where it should have waited an hour."""
    monkeypatch.setenv("BLOSSOM_MAIL_MAX_ATTEMPTS", str(10**6))
    config = WorkerConfig.from_env()
    job = Job(id=1, queue="mail", lock=None, queueing_lock=None, task_name="deliver", attempts=attempts)
    decision = DeliveryRetry(config).get_retry_decision(exception=psycopg.OperationalError("gone"), job=job)
    assert decision is not None
    assert decision.retry_at is not None
    wanted = min(config.retry_seconds * 2 ** min(attempts, 20), config.retry_max_seconds)
    waited = (decision.retry_at - datetime.now(UTC)).total_seconds()
    assert wanted * 0.8 - 1 <= waited <= wanted * 1.2


def _from_procrastinate(error: psycopg.Error) -> exceptions.ConnectorException:
    """As procrastinate's connector raises every psycopg error of its queries."""
    wrapped = exceptions.ConnectorException()
    wrapped.__cause__ = error
    return wrapped


@pytest.mark.parametrize(
    ("error", "lost", "again"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True, True),
        (psycopg.errors.ConnectionTimeout("connection timeout expired"), True, True),
        (psycopg.errors.ConnectionFailure("broken"), True, True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True, True),
        (psycopg.errors.IdleInTransactionSessionTimeout("idle in transaction too long"), True, True),
        (
            _from_procrastinate(psycopg.errors.CannotConnectNow("the database system is starting up")),
            True,
            True,
        ),
        (_from_procrastinate(psycopg.errors.ForeignKeyViolation("violates foreign key")), False, False),
        (psycopg.errors.UndefinedTable('relation "app.outbox" does not exist'), False, False),
        (psycopg.errors.InsufficientPrivilege("permission denied"), False, False),
        (psycopg.errors.InvalidPassword("password authentication failed"), False, True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False, True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False, True),
    ],
)
def test_a_database_error_is_told_from_the_database_unreachable_by_its_sqlstate(
    error: Exception, lost: bool, again: bool
) -> None:
    """The worker logged a foreign-key violation in its job queue (procrastinate's error, the
    violation its cause) as "database unreachable"; a session Postgres ended for idling in a
    transaction failed its job for good."""
    assert database_lost(error) is lost
    job = Job(id=1, queue="mail", lock=None, queueing_lock=None, task_name="deliver", attempts=0)
    decision = DeliveryRetry(WorkerConfig.from_env()).get_retry_decision(exception=error, job=job)
    assert (decision is not None) is again
