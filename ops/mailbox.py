"""`just mail`: the mail the worker delivered to MailDev under `just up`, newest first.

Reads MailDev's REST API (GET /api/email) on BLOSSOM_MAILBOX_PORT; the same messages are in its
web mailbox at that address. Mail that was not delivered (yet) is in app.outbox, as docs/mail.md
("What a DBA sees") shows.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ops.settings import Settings, count_argument, recipe_parser


def messages(mailbox_url: str) -> list[dict[str, Any]]:
    """MailDev's messages, newest first: by `time`, when MailDev received each (an ISO 8601 UTC
    timestamp, which sorts as text; its messages have no `date`), and of one second by the order
    MailDev lists them in, oldest first (the sort keeps the order of equal keys)."""
    with urllib.request.urlopen(f"{mailbox_url}/api/email", timeout=5) as response:
        found = json.load(response)
    return sorted(reversed(found), key=lambda message: str(message.get("time", "")), reverse=True)


def _address_list(field: object) -> list[str]:
    if not isinstance(field, list):
        return []
    return [str(entry.get("address", "")) for entry in field if isinstance(entry, dict)]


def _addresses(field: object) -> str:
    return ", ".join(_address_list(field))


def sent_to(message: dict[str, Any], address: str) -> bool:
    """Whether `address` is one of the message's recipients (in any case). Matched as text in
    the list of them, `--to ann@example.com` showed Joann's mail, and her link, as Ann's."""
    return address.lower() in (recipient.lower() for recipient in _address_list(message.get("to")))


def main() -> None:
    parser = recipe_parser("just mail", __doc__)
    parser.add_argument(
        "--limit",
        type=count_argument("messages"),
        default=10,
        help="at most this many messages (newest first)",
    )
    parser.add_argument("--to", help="only those sent to this address")
    args = parser.parse_args()
    mailbox_url = Settings.from_env().mailbox_url
    try:
        found = messages(mailbox_url)
    except (urllib.error.URLError, OSError) as error:
        raise SystemExit(f"mail: no MailDev at {mailbox_url} ({error}); is `just up` running?") from None
    if not found:
        print(f"mail: the mailbox at {mailbox_url} is empty")
    if args.to:
        sent = found
        found = [m for m in sent if sent_to(m, args.to)]
        if sent and not found:
            print(f"mail: none of the {len(sent)} messages at {mailbox_url} was sent to {args.to}")
    for message in found[: args.limit]:
        print(f"── {message.get('subject', '')}")
        print(f"   to {_addresses(message.get('to'))}  ·  {message.get('time', '')}")
        print()
        print(str(message.get("text") or "").strip())
        print()


if __name__ == "__main__":
    main()
