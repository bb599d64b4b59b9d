"""Sending mail over SMTP with aiosmtplib, configured by one URL.

    BLOSSOM_SMTP_URL   smtp://[user[:password]@]host[:port][?starttls=1]   (port 25, or 587 with STARTTLS)
                       smtps://[user[:password]@]host[:port]                (TLS from the start, port 465)
                       user and password percent-encoded; a URL that cannot be read as meant is
                       refused without being quoted (SmtpSettings.from_url), as is a password over
                       smtp:// to a host not on loopback (clear text: STARTTLS only if asked)

A refusal is sorted for the caller to act on: PermanentFailure (a 5xx answer to this message,
to its recipients, its data, or its size at MAIL FROM: sending it again would be refused again)
or TemporaryFailure (a 4xx answer, no server, a timeout, a broken connection, a refused login, a
5xx to the greeting, to EHLO or to our sender, a recipient refused for want of a login, by a
relay that will not relay for us, or for our host, HELO or sender (Postfix answers those at RCPT,
or at the end of the data), or the data refused for a sender the relay has not verified (Amazon
SES, Microsoft 365): what every mail would get alike until the server or the settings are
mended: worth another try later).

A sender may give a check that must still hold when the message is handed over (`before_data`:
the worker's, that its claim of the mail is still held): it runs once the recipients are taken,
just before DATA, the step at which the server takes the message; when it fails, the server is
told QUIT without the message, and what the check raised passes through unchanged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.typing import Default, SMTPStatus

from blossom_db.settings import ENCODE_HINT
from services.errors import CheckFailed, check_before_handing_over

# How long a QUIT is waited for before the connection is dropped: nothing hangs on its answer.
QUIT_SECONDS = 2.0
# How long the answer to a message's end of data is waited for, however short the timeout of the
# other answers (RFC 5321, 4.5.3.2.6: ten minutes). A relay has the message once its end came and
# answers once it has queued it (a content filter, a busy disk: tens of seconds), delivering it
# even if the client hung up meanwhile; given up on at the timeout of any other answer, the try
# failed, and the next one sent the mail again. The DATA command's own answer (354), which comes
# before the server has anything, keeps the timeout of the others. The worker bounds a whole send
# more tightly (worker/delivery.py).
END_OF_DATA_SECONDS = 600.0
# A 5xx to MAIL FROM about this message rather than about us: its size (SIZE=, 552) or its
# parameters (555). Any other refusal of our sender is the settings', as is a refusal of a
# recipient for want of a login (530, or the enhanced status 5.7.0), which every mail would get.
MESSAGE_REFUSED_AT_MAIL = frozenset({552, 555})
LOGIN_WANTED = 530
LOGIN_WANTED_STATUS = "5.7.0"
# A refusal of us that comes as a recipient's, which every mail gets, under the code a refused
# recipient has (5.7.1 is also a policy's refusal of one recipient, so the words tell):
#  - a relay that will not relay for us (our address or login not on its list), as Postfix
#    ("Relay access denied"), Sendmail ("Relaying denied"), Exim ("relay not permitted") and
#    Exchange ("Unable to relay") say it. Not "relay" alone: Postfix refuses a relay's unknown
#    recipient, for good, as "User unknown in relay recipient table";
#  - Postfix's refusals of our host, our HELO or our sender, which it answers at RCPT
#    (smtpd_delay_reject, on by default) naming the restriction ("Client host rejected", "Client
#    host [192.0.2.1] blocked using …", "Helo command rejected", "Sender address rejected": every
#    mail was given up at its first try while a relay's sender or client list was mended). Its
#    refusal of the recipient says "Recipient address rejected", and is the recipient's;
#  - the same words at the end of the data (Postfix's smtpd_data_restrictions and
#    smtpd_end_of_data_restrictions), and a relay that checks our sender once it has the message:
#    Amazon SES answers a From it has not verified (or, in its sandbox, a recipient) "Email
#    address is not verified" there, Microsoft 365 a From its login may not send as
#    "SendAsDenied". Every mail was given up at its first try while the sender's identity was
#    verified, or the settings mended.
REFUSAL_OF_US = re.compile(
    r"\brelay(?:ing)?\s+(?:access\s+)?(?:denied|not\s+(?:permitted|allowed))|\bunable\s+to\s+relay"
    r"|\b(?:client\s+host|helo\s+command|sender\s+address)\s+rejected\b|\bclient\s+host\s+\[[^\]]*\]\s+blocked\b"
    r"|\bemail\s+address\s+is\s+not\s+verified\b|\bSendAsDenied",
    re.I,
)
# What a server's refusal of a command raises (its code and text), and of every recipient.
REFUSALS = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)


class SmtpFailure(Exception):
    """Sending failed; the message says why, without the message's content."""


class TemporaryFailure(SmtpFailure):
    pass


class PermanentFailure(SmtpFailure):
    pass


# What `?starttls=` may say, in any case. Anything else is refused, not read as no: a misspelt
# name or value (`start_tls=1`, `starttls=on`) sent the mail in clear text to a relay meant to be
# reached over TLS.
STARTTLS_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _starttls_asked(query: str) -> bool:
    """Whether the URL's query asks for STARTTLS; ValueError when it says anything but once
    `starttls=` one of STARTTLS_VALUES."""
    fields = parse_qs(query, keep_blank_values=True)
    values = fields.pop("starttls", ["0"])
    if fields or len(values) != 1 or values[0].lower() not in STARTTLS_VALUES:
        raise ValueError("BLOSSOM_SMTP_URL: its query may only be ?starttls=1 (or true, yes; 0, false, no)")
    return STARTTLS_VALUES[values[0].lower()]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    start_tls: bool = False
    timeout_seconds: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout_seconds: float = 30.0) -> SmtpSettings:
        """The settings of BLOSSOM_SMTP_URL. ValueError when it cannot be read as meant, which
        never quotes it, nor any part Python read from it: a password with an unencoded / # or ?
        ends the URL's host part there (`smtp://me:pa/ss@host` is host `me`, port `pa`), and
        Python's own messages name the port so read, or the whole host part."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(
                f"BLOSSOM_SMTP_URL cannot be read as a URL (is its port a number?): {ENCODE_HINT}"
            ) from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("BLOSSOM_SMTP_URL must be smtp:// or smtps://")
        if parts.path not in ("", "/") or parts.fragment or "@" in parts.query:
            raise ValueError(
                "BLOSSOM_SMTP_URL holds more than a user, a password, a host, a port and ?starttls=1:"
                f" {ENCODE_HINT}"
            )
        if not parts.hostname:
            raise ValueError("BLOSSOM_SMTP_URL names no host")
        if port == 0:
            # `port or default` below would read it as no port and send to 25 or 465.
            raise ValueError("BLOSSOM_SMTP_URL: port 0 is no port to send to; leave it out for the default")
        implicit = parts.scheme == "smtps"
        start_tls = _starttls_asked(parts.query)
        if implicit and start_tls:
            raise ValueError("BLOSSOM_SMTP_URL: smtps:// is TLS from the start; starttls goes with smtp://")
        if parts.password and not (implicit or start_tls) and not _is_loopback(parts.hostname):
            # aiosmtplib upgrades only when told to, and logs in over the connection as it is.
            raise ValueError(
                "BLOSSOM_SMTP_URL: a password over smtp:// would cross the network in clear text;"
                " use smtps:// or ?starttls=1 (only a relay on this machine's loopback may take it plain)"
            )
        port = port or (465 if implicit else 587 if start_tls else 25)
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            start_tls=start_tls,
            timeout_seconds=timeout_seconds,
        )

    def shown(self) -> str:
        """Where it sends, fit to print (no password)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}" + ("?starttls=1" if self.start_tls else "")


class _CheckedClient(aiosmtplib.SMTP):
    """aiosmtplib's client, which awaits a check before DATA and waits END_OF_DATA_SECONDS for
    the message's end to be answered. send_message does the conversation as it always did (EHLO,
    SIZE, 8BITMIME and SMTPUTF8, MAIL, each RCPT, and RSET after a refusal) and calls data() once
    the recipients are taken, only then (tests/test_smtp.py)."""

    def __init__(self, before_data: Callable[[], Awaitable[None]] | None, **settings: Any) -> None:
        super().__init__(**settings)
        self._before_data = before_data

    # aiosmtplib's signature, which its sendmail calls (timeout included).
    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,  # noqa: ASYNC109
    ) -> aiosmtplib.SMTPResponse:
        if self._before_data is not None:
            # Told apart from the server's errors, which send sorts: this one is the caller's.
            await check_before_handing_over(self._before_data)
        if timeout is Default.token:
            timeout = self.timeout
        # aiosmtplib waits for DATA's 354 and for the end's answer alike, one timeout for both: the
        # longer one held a relay that stalled at DATA (the message not yet its) up to the send's
        # bound at each try, a worker's slot and the mail's outbox row with it. So DATA is said
        # here, and the message handed to aiosmtplib's own writing of it, only the end waited long.
        started = await self.execute_command(b"DATA", timeout=timeout)
        if started.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(started.code, started.message)
        assert self.protocol is not None  # execute_command raised otherwise
        if isinstance(message, str):
            message = message.encode("ascii")
        self.protocol.write(PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n")
        try:
            answer = await self.protocol.read_response(
                timeout=None if timeout is None else max(timeout, END_OF_DATA_SECONDS)
            )
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            self.close()
            raise
        if answer.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(answer.code, answer.message)
        return answer


class Mailer:
    """One SMTP client for a process: a connection per message (mail is rare, and a connection
    kept open would have to be watched for the server closing it)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tls = ssl.create_default_context() if settings.implicit_tls or settings.start_tls else None
        # The QUITs said after accepted messages, each in a task of its own: kept here until they
        # end, as asyncio keeps no task it runs from being collected.
        self._goodbyes: set[asyncio.Task[None]] = set()

    async def send(
        self, message: EmailMessage, *, before_data: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Returns as soon as the server accepted the message, its QUIT said in a task of its
        own; TemporaryFailure or PermanentFailure otherwise. Cancelled, it drops the connection at
        once (no QUIT that would wait for a server that stopped answering). `before_data`, if
        given, is awaited once the recipients are taken, just before the message is handed over;
        what it raises, it raises, after a QUIT that leaves the server without the message."""
        settings = self.settings
        client = _CheckedClient(
            before_data,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.implicit_tls,
            start_tls=settings.start_tls,
            tls_context=self._tls,
            timeout=settings.timeout_seconds,
        )
        accepted = False
        try:
            await client.connect()
            try:
                await client.send_message(message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                refusal = _refusal_behind(error)
                if refusal is not None:
                    raise refusal from None
                raise
            accepted = True
        except CheckFailed as failed:
            # Not handed over: the server drops the envelope with the session. What the check
            # raised is the caller's to act on, not sorted as the server's (an OSError of its
            # own is no failure of the server's).
            await _goodbye(client)
            raise failed.error from None
        except aiosmtplib.SMTPAuthenticationError as error:
            # The settings are wrong, not the message: it goes once they are mended.
            raise TemporaryFailure(
                f"{settings.shown()} refused our login: {error.code} {error.message}"
            ) from error
        except aiosmtplib.SMTPRecipientsRefused as error:
            refusals = error.recipients
            described = "; ".join(f"{refused.code} {refused.message}" for refused in refusals)
            if refusals and all(
                500 <= refused.code < 600
                and refused.code != LOGIN_WANTED
                and not refused.message.startswith(LOGIN_WANTED_STATUS)
                and not REFUSAL_OF_US.search(refused.message)
                for refused in refusals
            ):
                raise PermanentFailure(f"recipient refused: {described}") from error
            raise TemporaryFailure(f"recipient refused for now: {described}") from error
        except aiosmtplib.SMTPSenderRefused as error:
            text = f"{error.code} {error.message}"
            if error.code in MESSAGE_REFUSED_AT_MAIL:
                raise PermanentFailure(f"refused: {text}") from error
            raise TemporaryFailure(f"{settings.shown()} refused our sender for now: {text}") from error
        except aiosmtplib.SMTPDataError as error:
            text = f"{error.code} {error.message}"
            if 500 <= error.code < 600 and not REFUSAL_OF_US.search(error.message):
                raise PermanentFailure(f"refused: {text}") from error
            raise TemporaryFailure(f"refused for now: {text}") from error
        except aiosmtplib.SMTPResponseException as error:
            # The greeting, EHLO, our sender: a refusal of us, not of this message.
            raise TemporaryFailure(
                f"{settings.shown()} refused for now: {error.code} {error.message}"
            ) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            failure = f"{type(error).__name__}: {error}"
            raise TemporaryFailure(f"no delivery to {settings.shown()}: {failure}") from error
        finally:
            if not accepted:
                client.close()
        # Accepted: the message is the server's now, whatever becomes of a polite goodbye, and the
        # caller records it at once. Awaited here, the QUIT held up that record for up to 2 s, and
        # a stopping worker whose grace ran out meanwhile dropped it unrecorded: the mail went
        # again with the next worker (tests/test_worker.py).
        goodbye = asyncio.create_task(_goodbye(client), name="smtp goodbye")
        self._goodbyes.add(goodbye)
        goodbye.add_done_callback(self._goodbyes.discard)


async def _goodbye(client: aiosmtplib.SMTP) -> None:
    """QUIT, answered within QUIT_SECONDS or not, and the connection closed."""
    try:
        with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=QUIT_SECONDS)
    finally:
        client.close()


def _refusal_behind(error: BaseException) -> BaseException | None:
    """The server's refusal that `error` was raised in the place of, if any. aiosmtplib answers a
    refusal with RSET, and when the server does not answer that in time, raises the RSET's timeout
    instead of the refusal: the refusal is what the try failed for (a mail refused for good was
    tried again for an hour, each try waiting out the timeout, as if the server were only slow)."""
    seen: set[int] = set()
    cause = error.__context__
    while cause is not None and id(cause) not in seen and not isinstance(error, REFUSALS):
        if isinstance(cause, REFUSALS):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None
