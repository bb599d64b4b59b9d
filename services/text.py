"""What a user typed (a display name, an organization's name), made safe to show in a message
we send: a mail (worker/messages.py) or a Slack post (the worker's, the pipeline's digest); and
whether text from outside (a call's argument, a provider's answer) is text Postgres can keep."""

from __future__ import annotations

import re
import unicodedata

LONGEST_TYPED_TEXT = 100
ZERO_WIDTH_SPACE = "\u200b"
# What a program that makes links reads as `.`, `:`, `/` or `@`: these, the ideographic full stop
# that IDNA (UTS #46) takes for a dot between a host's labels, and every character whose NFKC form
# holds one of them (fullwidth, small and vertical forms, "1." in one character, "c/o", "Co.", the
# leaders; the halfwidth ideographic full stop, whose NFKC form is the ideographic one).
_LINK_PARTS = frozenset(".:/@\u3002")
# The start of an RFC 2047 encoded word (`=?utf-8?q?…?=`), which a mail header decodes: CR, LF,
# NUL, bidi controls and the link makers inert takes out would come back in a Subject.
_ENCODED_WORD = re.compile(r"=(?=\?)")
# The zero-width non-joiner and joiner: format characters kept, since a name holds them only
# where they join (app.name_fault allows them there alone: emoji of several, Persian names, Indic
# conjuncts), and neither turns text around nor makes a link of it.
_JOINERS = frozenset("\u200c\u200d")


def storable(text: str) -> bool:
    """Whether Postgres can keep the text as `text`: no NUL, and Unicode (JSON's `\\ud800`, a
    lone surrogate, parses to a str that cannot be encoded)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def quoted(text: str, longest: int) -> str:
    """Text from outside that our errors quote (a server's reply, a provider's error), as a log
    line shows it and Postgres keeps it: printable characters only, each run of white space one
    space (no NUL, no line break, no lone surrogate, which a reply's bytes that are no UTF-8
    become), at most `longest` of them."""
    one_line = " ".join("".join(char for char in text if char.isprintable() or char.isspace()).split())
    return one_line if len(one_line) <= longest else one_line[:longest] + "…"


def inert(typed: str) -> str:
    """User-typed text made safe to show in a message: one line, no control or bidirectional
    formatting characters (but the joiners of emoji and scripts), nothing a mail program or Slack
    would make a link of (a zero-width space follows every `.`, `:`, `/` and `@`, and their
    look-alikes), nor decode as an encoded word (one follows the `=` of every `=?`)."""
    kept = "".join(
        " " if char.isspace() else char
        for char in typed
        if char.isspace() or char in _JOINERS or unicodedata.category(char) not in ("Cc", "Cf")
    )
    one_line = " ".join(kept.split())[:LONGEST_TYPED_TEXT]
    unlinked = "".join(char + ZERO_WIDTH_SPACE if _makes_links(char) else char for char in one_line)
    return _ENCODED_WORD.sub("=" + ZERO_WIDTH_SPACE, unlinked)


def _makes_links(char: str) -> bool:
    return char in _LINK_PARTS or (
        not char.isascii() and not _LINK_PARTS.isdisjoint(unicodedata.normalize("NFKC", char))
    )
