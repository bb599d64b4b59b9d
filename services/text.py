"""What a user typed (a display name, an organization's name), made safe to show in a message
we send: a mail (worker/messages.py) or a Slack post (the worker's, the pipeline's digest)."""

from __future__ import annotations

import re
import unicodedata

LONGEST_TYPED_TEXT = 100
ZERO_WIDTH_SPACE = "\u200b"
_LINK_MAKERS = re.compile(r"([.:/@])")


def inert(typed: str) -> str:
    """User-typed text made safe to show in a message: one line, no control or bidirectional
    formatting characters, nothing a mail program or Slack would make a link of (a zero-width
    space follows every `.`, `:`, `/` and `@`)."""
    kept = "".join(
        " " if char.isspace() else char
        for char in typed
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf")
    )
    one_line = " ".join(kept.split())[:LONGEST_TYPED_TEXT]
    return _LINK_MAKERS.sub(r"\1" + ZERO_WIDTH_SPACE, one_line)
