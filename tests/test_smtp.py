"""services/smtp.py: BLOSSOM_SMTP_URL, and how each answer of a real SMTP server is sorted."""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from services.smtp import Mailer, PermanentFailure, SmtpSettings, TemporaryFailure
from tests.support.smtp_server import SmtpServer
from worker.config import parse_mail_from
from worker.messages import compose


@pytest.mark.parametrize(
    ("url", "host", "port", "username", "password", "implicit_tls", "start_tls"),
    [
        ("smtp://mail.example.com", "mail.example.com", 25, None, None, False, False),
        ("smtp://mail.example.com?starttls=1", "mail.example.com", 587, None, None, False, True),
        ("smtp://mail.example.com:2525?starttls=0", "mail.example.com", 2525, None, None, False, False),
        ("smtp://mail.example.com?starttls=Yes", "mail.example.com", 587, None, None, False, True),
        ("smtps://u%40x:p%3Ass@mail.example.com", "mail.example.com", 465, "u@x", "p:ss", True, False),
        ("smtp://me:secret@127.0.0.1:1025", "127.0.0.1", 1025, "me", "secret", False, False),
    ],
)
def test_the_url_says_where_how_and_as_whom(
    url: str,
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    implicit_tls: bool,
    start_tls: bool,
) -> None:
    settings = SmtpSettings.from_url(url)
    assert (settings.host, settings.port, settings.username, settings.password) == (
        host,
        port,
        username,
        password,
    )
    assert (settings.implicit_tls, settings.start_tls) == (implicit_tls, start_tls)
    assert "secret" not in settings.shown()


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.com", "smtp://", "mail.example.com", "smtps://h?starttls=1", "smtp://h:99999"],
)
def test_a_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="BLOSSOM_SMTP_URL"):
        SmtpSettings.from_url(url)


@pytest.mark.parametrize("url", ["smtp://mail.example.com:0", "smtps://mail.example.com:00"])
def test_port_0_is_refused_not_taken_as_the_default(url: str) -> None:
    """Port 0 was read as no port, and the mail went to 25 (or 465): to a relay its operator
    never named, or to none."""
    with pytest.raises(ValueError, match=r"BLOSSOM_SMTP_URL.*port 0"):
        SmtpSettings.from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example.com?starttls=on",
        "smtp://mail.example.com?starttls=y",
        "smtp://mail.example.com?start_tls=1",
        "smtp://mail.example.com?tls=1",
        "smtp://mail.example.com?starttls=1&starttls=0",
        "smtp://mail.example.com?starttls",
    ],
)
def test_a_query_that_is_not_starttls_1_or_0_is_refused(url: str) -> None:
    """STARTTLS was asked for by `starttls` being exactly 1, true or yes; any other query (a
    misspelt name, `on`, `TRUE`) was read as no, and the mail crossed the network in clear text
    to a relay its operator meant to reach over TLS (a password refused that, no password did
    not). Now `starttls` is 1, true or yes, or 0, false or no, in any case, and nothing else."""
    with pytest.raises(ValueError, match=r"BLOSSOM_SMTP_URL.*starttls"):
        SmtpSettings.from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://me:secret@mail.example.com",
        "smtp://me:secret@192.0.2.25:587",
        "smtp://me:secret@[2001:db8::25]",
    ],
)
def test_a_password_in_clear_text_across_the_network_is_refused(url: str) -> None:
    """smtp:// without ?starttls=1 never upgrades the connection, even where the server offers
    STARTTLS, and logs in over it as it came: the relay's password crossed the network in clear
    text. Refused at start, naming the two ways to send it encrypted; a relay on the loopback
    interface (a local MTA, MailDev) may take it plain."""
    with pytest.raises(ValueError, match=r"smtps:// or \?starttls=1") as refused:
        SmtpSettings.from_url(url)
    assert "secret" not in str(refused.value)
    for encrypted in (url.replace("smtp://", "smtps://"), url + "?starttls=1"):
        assert SmtpSettings.from_url(encrypted).password == "secret"
    assert SmtpSettings.from_url("smtp://me:secret@localhost:2525").password == "secret"


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
    message.set_content("Hello")
    return message


def _send(url: str) -> None:
    asyncio.run(Mailer(SmtpSettings.from_url(url, timeout_seconds=5)).send(_message()))


def test_an_accepted_message_is_received() -> None:
    with SmtpServer() as smtp:
        _send(smtp.url)
        (received,) = smtp.received
        assert received.to == ("b@example.com",)


def test_a_line_of_the_body_that_begins_with_a_period_arrives_as_it_was_written() -> None:
    """The message is written by our own DATA (services/smtp.py, _CheckedClient.data): a line of
    one period, unstuffed, ended the message there, and one beginning with a period lost it."""
    body = "Hello\n.\n.hidden\n..two\nlast line\n"
    message = _message()
    message.set_content(body, cte="7bit")
    with SmtpServer() as smtp:
        asyncio.run(Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(message))
        (received,) = smtp.received
        assert received.part("plain").replace("\r\n", "\n") == body


@pytest.mark.parametrize(
    ("reply", "failure"),
    [("451 4.3.0 Try later", TemporaryFailure), ("452 4.3.1 Out of space", TemporaryFailure),
     ("550 5.1.1 No such user", PermanentFailure), ("554 5.7.1 Rejected as spam", PermanentFailure)],
)  # fmt: skip
def test_a_refusal_is_temporary_or_permanent_by_its_code(reply: str, failure: type[Exception]) -> None:
    with SmtpServer() as smtp:
        smtp.refuse_next(reply)
        with pytest.raises(failure, match=reply.split()[0]):
            _send(smtp.url)
        assert smtp.received == []


def test_no_server_is_a_temporary_failure() -> None:
    smtp = SmtpServer()
    with pytest.raises(TemporaryFailure, match=r"no delivery to smtp://127\.0\.0\.1"):
        _send(smtp.url)


def test_the_login_from_the_url_is_used_and_a_refused_one_is_temporary() -> None:
    with SmtpServer(login=("mailer", "p@ss word")) as smtp:
        _send(f"smtp://mailer:p%40ss%20word@127.0.0.1:{smtp.port}")
        (received,) = smtp.received
        assert received.login == "mailer"
        with pytest.raises(TemporaryFailure, match="refused our login: 535"):
            _send(f"smtp://mailer:wrong@127.0.0.1:{smtp.port}")
        assert len(smtp.received) == 1


class ScriptedSmtp:
    """An SMTP server on loopback that answers as told: its greeting, its answer to MAIL FROM, to
    RCPT TO and to the end of data, and QUIT (or RSET) answered or never (a server that accepted
    or refused the message and then hangs), and DATA answered or never (one that stalls before it
    has the message)."""

    def __init__(
        self,
        greeting: str = "220 ready",
        mail: str = "250 OK",
        rcpt: str = "250 OK",
        answer_quit: bool = True,
        data_end: str = "250 accepted",
        answer_rset: bool = True,
        answer_data: bool = True,
    ) -> None:
        self.greeting, self.mail, self.rcpt, self.answer_quit = greeting, mail, rcpt, answer_quit
        self.data_end, self.answer_rset, self.answer_data = data_end, answer_rset, answer_data
        self.accepted = 0
        # The verbs of the commands received, in order (b"MAIL", b"RCPT", ...).
        self.commands: list[bytes] = []
        scripted = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(f"{scripted.greeting}\r\n".encode())
                for line in self.rfile:
                    verb = line[:4].upper()
                    scripted.commands.append(verb)
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 scripted\r\n")
                    elif verb == b"MAIL":
                        self.wfile.write(f"{scripted.mail}\r\n".encode())
                    elif verb == b"RCPT":
                        self.wfile.write(f"{scripted.rcpt}\r\n".encode())
                    elif verb == b"DATA" and not scripted.answer_data:
                        self.rfile.read()  # unanswered, open until the client drops it
                        return
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go on\r\n")
                        for data in self.rfile:
                            if data == b".\r\n":
                                break
                        scripted.accepted += scripted.data_end.startswith("250")
                        self.wfile.write(f"{scripted.data_end}\r\n".encode())
                    elif verb == b"RSET" and not scripted.answer_rset:
                        self.rfile.read()  # unanswered, open until the client drops it
                        return
                    elif verb == b"QUIT":
                        if scripted.answer_quit:
                            self.wfile.write(b"221 bye\r\n")
                        else:
                            self.rfile.read()  # unanswered, open until the client drops it
                        return
                    else:
                        self.wfile.write(b"250 OK\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"smtp://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ScriptedSmtp:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("greeting", "mail"),
    [("554 5.3.2 Service unavailable, try later", "250 OK"),
     ("220 ready", "530 5.7.0 Authentication required"),
     ("220 ready", "550 5.7.1 Sender not allowed")],
)  # fmt: skip
def test_a_refusal_of_the_connection_or_the_sender_is_temporary(greeting: str, mail: str) -> None:
    """Only a 5xx to the message (its recipients, its data) gives a mail up: a server that refuses
    us or our sender is refused for every mail alike, until it or the settings are mended. Every
    mail sent while a relay answered its greeting 554, or wanted a login, was given up at once."""
    with ScriptedSmtp(greeting=greeting, mail=mail) as smtp, pytest.raises(TemporaryFailure):
        _send(smtp.url)


@pytest.mark.parametrize(
    ("mail", "rcpt", "failure"),
    [("552 5.3.4 Message size exceeds fixed limit", "250 OK", PermanentFailure),
     ("555 5.5.4 Unsupported option", "250 OK", PermanentFailure),
     ("250 OK", "530 5.7.0 Authentication required", TemporaryFailure),
     ("250 OK", "550 5.7.0 Authentication required", TemporaryFailure),
     ("250 OK", "550 5.1.1 No such user", PermanentFailure),
     # A relay that will not relay for us (Postfix, Sendmail, Exim, Exchange): every mail was
     # given up at its first try while its allow-list or login was being mended.
     ("250 OK", "554 5.7.1 <b@example.com>: Relay access denied", TemporaryFailure),
     ("250 OK", "550 5.7.1 <b@example.com>... Relaying denied", TemporaryFailure),
     ("250 OK", "550 relay not permitted", TemporaryFailure),
     ("250 OK", "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain", TemporaryFailure),
     # ... but a relay's own recipient it does not know is refused for good.
     ("250 OK", "550 5.1.1 <b@x.example>: Recipient address rejected: User unknown in relay recipient table",
      PermanentFailure),
     ("250 OK", "550 5.7.1 <b@example.com>: Recipient address rejected: Access denied", PermanentFailure),
     # Postfix answers its client's, HELO's and sender's restrictions at RCPT (smtpd_delay_reject,
     # on by default), each saying which: a refusal of us or of our sender, not of the recipient.
     ("250 OK", "553 5.7.1 <a@example.com>: Sender address rejected: not owned by user mailer",
      TemporaryFailure),
     ("250 OK", "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied", TemporaryFailure),
     ("250 OK", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
      TemporaryFailure),
     ("250 OK", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
      TemporaryFailure)],
)  # fmt: skip
def test_a_refusal_of_this_message_at_mail_or_rcpt_is_sorted_by_what_it_is_about(
    mail: str, rcpt: str, failure: type[Exception]
) -> None:
    """MAIL FROM carries the message's size (SIZE=), and a 552 or 555 there refuses this
    message, as sending it again would be; a recipient refused for want of a login (530, or the
    enhanced status 5.7.0), or by a relay that will not relay for us, is refused for every mail
    alike until the settings are mended."""
    with ScriptedSmtp(mail=mail, rcpt=rcpt) as smtp, pytest.raises(failure):
        _send(smtp.url)


@pytest.mark.parametrize(
    ("data_end", "failure"),
    [("554 5.7.1 Rejected as spam", PermanentFailure),
     ("552 5.2.2 Mailbox full", PermanentFailure),
     ("554 5.7.0 Reject, id=31337-01 - spam", PermanentFailure),
     # A relay that judges our sender once it has the message (its From): Amazon SES refuses one it
     # has not verified so, Microsoft 365 one its login may not send as, and Postfix's data
     # restrictions say which, as they do at RCPT. Every mail was given up at its first try while
     # the sender's identity or the relay was mended.
     ("554 Message rejected: Email address is not verified. The following identities failed the check"
      " in region US-EAST-1: no-reply@blossom.example", TemporaryFailure),
     ("554 5.2.252 SendAsDenied; mailer@blossom.example not allowed to send as no-reply@blossom.example;"
      " STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied", TemporaryFailure),
     ("554 5.7.1 <no-reply@blossom.example>: Sender address rejected: not owned by user mailer",
      TemporaryFailure),
     ("554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Access denied", TemporaryFailure)],
)  # fmt: skip
def test_a_refusal_at_the_end_of_data_is_sorted_by_what_it_is_about(
    data_end: str, failure: type[Exception]
) -> None:
    """A 5xx to the message's data refuses this message, as sending it again would be; one that
    refuses our sender or our host refuses every mail alike, until the settings are mended."""
    with ScriptedSmtp(data_end=data_end) as smtp, pytest.raises(failure, match=data_end.split()[0]):
        _send(smtp.url)


def test_an_accepted_message_does_not_wait_on_a_goodbye_that_never_comes() -> None:
    """Accepted (250 to its data), the message is the server's: send returns, and its QUIT is
    said in a task of its own, dropped after 2 s. Waited for the whole timeout (30 s), a worker
    told to stop meanwhile (given 20 s) gave the delivery up unrecorded, and the mail went again
    (and so it did, later, when a stop's grace ran out in those 2 s: tests/test_worker.py)."""
    with ScriptedSmtp(answer_quit=False) as smtp:
        started = time.monotonic()
        asyncio.run(Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=30)).send(_message()))
        assert smtp.accepted == 1
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("mail", "rcpt", "data_end", "refused"),
    [("250 OK", "550 5.1.1 No such user", "250 accepted", "550"),
     ("552 5.3.4 Message size exceeds fixed limit", "250 OK", "250 accepted", "552"),
     ("250 OK", "250 OK", "554 5.7.1 Rejected as spam", "554")],
)  # fmt: skip
def test_a_refusal_of_this_message_stays_permanent_when_the_server_then_hangs(
    mail: str, rcpt: str, data_end: str, refused: str
) -> None:
    """aiosmtplib answers a refusal with RSET, and a server that never answered it raised the
    RSET's timeout in the refusal's place: a mail refused for good was tried again for an hour,
    each try waiting out the timeout, as if the server had only been slow."""
    with ScriptedSmtp(mail=mail, rcpt=rcpt, data_end=data_end, answer_rset=False) as smtp:
        with pytest.raises(PermanentFailure, match=f"refused: {refused} "):
            asyncio.run(Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=1)).send(_message()))
        assert smtp.accepted == 0


def test_a_server_that_never_answers_data_is_given_up_on_at_the_timeout() -> None:
    """Only the answer to the message's end is waited for END_OF_DATA_SECONDS: the server has the
    message then. The DATA command's own answer (354) comes before it has anything, and was
    waited for as long: a relay stalling there held the worker's slot and the mail's outbox row
    (which an account's deletion waits for) up to the send's bound, 4 minutes with the worker
    role's idle limit, at each try, where BLOSSOM_SMTP_TIMEOUT (30 s) said otherwise."""

    async def send() -> None:
        async with asyncio.timeout(10):  # the old wait, END_OF_DATA_SECONDS, would fail here
            await Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=1)).send(_message())

    with ScriptedSmtp(answer_data=False) as smtp:
        with pytest.raises(TemporaryFailure, match="Timed out"):
            asyncio.run(send())
        assert smtp.commands[-1] == b"DATA"
        assert smtp.accepted == 0


class _ClaimLost(Exception):
    """What a sender's check before DATA raises here (the worker's: its claim lost)."""


@pytest.mark.parametrize("raised", [_ClaimLost("the claim's connection is gone"), OSError("as an OSError")])
def test_a_check_that_fails_before_data_leaves_the_server_without_the_message(raised: Exception) -> None:
    """The worker checks that its claim of the mail still holds just before the message is handed
    over: the check runs once every recipient is taken, and when it fails, the server is told QUIT
    without DATA, and what the check raised reaches the caller as it was (an OSError of the
    check's is not the server's, to be sorted as a failure of it)."""
    seen_before_data: list[list[bytes]] = []

    async def check() -> None:
        seen_before_data.append(list(smtp.commands))
        raise raised

    with ScriptedSmtp() as smtp:
        with pytest.raises(type(raised)) as caught:
            asyncio.run(
                Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(_message(), before_data=check)
            )
        assert caught.value is raised
        assert seen_before_data == [[b"EHLO", b"MAIL", b"RCPT"]]
        assert smtp.accepted == 0
        assert b"DATA" not in smtp.commands
        assert smtp.commands[-1] == b"QUIT"


def test_a_check_that_holds_before_data_lets_the_message_go() -> None:
    checked: list[int] = []

    async def check() -> None:
        checked.append(len(smtp.commands))

    with ScriptedSmtp() as smtp:
        asyncio.run(
            Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(_message(), before_data=check)
        )
        assert checked == [3]
        assert smtp.accepted == 1


def test_a_message_refused_before_data_is_refused_without_the_check() -> None:
    async def check() -> None:
        raise AssertionError("checked although the recipient was refused")

    with ScriptedSmtp(rcpt="550 5.1.1 No such user") as smtp, pytest.raises(PermanentFailure, match="550"):
        asyncio.run(
            Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(_message(), before_data=check)
        )


def test_a_sender_whose_domain_is_not_ascii_reaches_a_server_without_smtputf8() -> None:
    """BLOSSOM_MAIL_FROM with an internationalized domain as typed (`blümchen.example`) was taken
    as it was, and every mail then needed SMTPUTF8 of the relay: one without it refused each
    (SMTPNotSupported, a temporary failure), and after an hour of tries every mail was given up.
    The domain is taken in its ASCII form (IDNA), which every server reads, the Message-ID's too."""
    sender = parse_mail_from("Blossom <no-reply@blümchen.example>")
    payload = {
        "to": "b@example.com",
        "display_name": "Ann",
        "token": "t",
        "expires_at": "2030-01-01T00:00:00+00:00",
    }
    now = datetime(2026, 1, 1, tzinfo=UTC)
    message = compose(
        "evt_1", "mail.password_reset", payload, sender=sender, app_url="https://x.example", now=now
    )
    with ScriptedSmtp() as smtp:
        asyncio.run(Mailer(SmtpSettings.from_url(smtp.url, timeout_seconds=5)).send(message))
        assert smtp.accepted == 1
    assert sender.domain == "xn--blmchen-o2a.example"
    assert str(message["Message-ID"]) == "<evt_1@xn--blmchen-o2a.example>"
    with pytest.raises(ValueError, match="BLOSSOM_MAIL_FROM has a domain"):
        parse_mail_from("Blossom <no-reply@" + "\u00fc" * 70 + ".example>")  # a label too long
