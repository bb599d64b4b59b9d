"""The mail an outbox event becomes: a plain-text and an HTML part from the templates in
worker/templates/ (`<kind>.txt`, whose first line is the subject, and `<kind>.html`).

Templates name values with `$name`. What a user typed (a display name, an organization's name)
reaches the message through `inert` alone (services/text.py): control and direction-changing
characters are dropped, and a zero-width space follows every `.`, `:`, `/` and `@` (and their
look-alikes), so that no mail program turns it into a link, and the `=` of every `=?`, so that
no header decodes it as an encoded word; the HTML part escapes it as well. Links are built here
from BLOSSOM_APP_URL and the event's token, never from anything typed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

from services.text import inert

TEMPLATES = Path(__file__).parent / "templates"
# The longest a header's line should be (RFC 5322), its name included.
LONGEST_HEADER_LINE = 78


class UnsendableMessage(Exception):
    """The event cannot become a message (an unknown topic, a payload without what its message
    needs): trying again would fail the same way."""


def _expiry(value: object, now: datetime) -> str:
    """When the message's link stops working, as the message shows it; UnsendableMessage once
    that is past at `now`. A reset link is valid an hour, about as long as a mail's tries last,
    and a DBA may try a mail again days later (delivery.try_again): a mail whose link is dead
    would only send its reader to a refusal, saying the link "expires" at a time gone by."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UnsendableMessage(f"not a time: {value!r}") from None
    if moment.utcoffset() is None:
        raise UnsendableMessage(f"a time without its zone: {value!r}")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # the first or the last day of datetime's years, in UTC another year
        raise UnsendableMessage(f"not a time: {value!r}") from None
    if moment <= now:
        raise UnsendableMessage(f"its link expired at {value} before it could be sent")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Kind:
    """One kind of mail: its templates, the frontend page its link opens, and the values of
    the payload its templates show (`typed` ones came from a user)."""

    template: str
    page: str
    typed: tuple[str, ...] = ()
    plain: tuple[str, ...] = ()


KINDS: Mapping[str, Kind] = {
    "mail.email_verification": Kind("email_verification", "/verify-email", typed=("display_name",)),
    "mail.password_reset": Kind("password_reset", "/reset-password", typed=("display_name",)),
    "mail.org_invitation": Kind(
        "org_invitation", "/invitations/accept", typed=("org_name",), plain=("role",)
    ),
}


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _field(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise UnsendableMessage(f"the payload has no {name}")
    return value


def _fill(template: Template, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    try:
        return template.substitute({name: escape(value) for name, value in values.items()})
    except (KeyError, ValueError) as error:
        raise UnsendableMessage(f"template {template.template[:40]!r}: {error}") from None


def _subject_as_sent(subject: str) -> str:
    """The Subject header's value as it goes on the wire: as written when it is ASCII and fits on
    its line, else RFC 2047 encoded words, each on a line of its own, whose text holds every
    blank of the subject (a reader drops the folding between two encoded words). Left to fold
    the header by its own rules, the email package made a blank between two words it encoded
    that folding ("Zürich Ltd." read "ZürichLtd."), and folded a long plain one just after
    `Subject:`, its reader's text starting with a blank (tests/test_worker_messages.py)."""
    if subject.isascii() and len(f"Subject: {subject}") <= LONGEST_HEADER_LINE:
        return subject
    # RFC 2047: a line holding encoded words is at most 76 characters, an encoded word at most
    # 75. Header's own limit leaves out the blank that begins a folded line and counts the first
    # line short, so its default of 76 made lines of 77 and 78, words of 76.
    return Header(subject, "utf-8", header_name="Subject").encode(maxlinelen=75)


def compose(
    event_id: str, topic: str, payload: object, *, sender: Address, app_url: str, now: datetime
) -> EmailMessage:
    """The message for one outbox event; UnsendableMessage when there can be none. `now` is the
    database's time, by which the link's expiry was set and is checked (the database refuses
    the token past it), and the message's date: this machine's clock may be off that one's, and
    a worker 2 hours ahead gave up mail whose link had an hour left, one behind mailed links
    already dead."""
    kind = KINDS.get(topic)
    if kind is None:
        raise UnsendableMessage(f"no mail is made for topic {topic!r}")
    if not isinstance(payload, dict):
        raise UnsendableMessage("the payload is not an object")
    to = _field(payload, "to")
    try:
        recipient = Address(addr_spec=to)
    # The email package refuses an address with a ValueError or an IndexError, with its own
    # HeaderParseError or CharsetError (`=?x?q?a?=@example.com`, which the database takes), or
    # with an AttributeError of its own parser's.
    except Exception as error:  # noqa: BLE001
        raise UnsendableMessage(f"not an address: {type(error).__name__}: {error}") from None
    # The expiry before the token: the housekeeping takes the token out of a mail whose link
    # expired (pipeline.purge_auth) while its tries may still go on, and it is given up as expired,
    # not as a payload without its token, which reads as a fault of ours.
    expires_at = _expiry(_field(payload, "expires_at"), now)
    values = {
        "link": f"{app_url}{kind.page}?{urlencode({'token': _field(payload, 'token')})}",
        "expires_at": expires_at,
        **{name: inert(_field(payload, name)) for name in kind.typed},
        **{name: _field(payload, name) for name in kind.plain},
    }
    subject_line, _, text = _fill(_template(f"{kind.template}.txt"), values, str).partition("\n")
    if not subject_line.startswith("Subject: "):
        raise UnsendableMessage(f"{kind.template}.txt must start with a Subject: line")

    message = EmailMessage()
    subject = subject_line.removeprefix("Subject: ")
    message.set_raw("Subject", _subject_as_sent(subject))
    # Read back as a received header is (encoded words decoded): what goes must be what was
    # written, or the mail is not sent.
    if str(message["Subject"]) != subject:
        raise UnsendableMessage("the subject would not be sent as it was written")
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now)
    # The event's id in the Message-ID: a receiving system can tell a repeated message
    # (sent again after a crash between the server's acceptance and our record of it).
    message["Message-ID"] = f"<{event_id}@{sender.domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text.lstrip("\n"))
    message.add_alternative(_fill(_template(f"{kind.template}.html"), values, html.escape), subtype="html")
    return message
