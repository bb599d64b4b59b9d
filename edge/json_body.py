"""The one way the edge reads a request's JSON body, for /rpc (edge/proxy.py) and the edge's own
routes (edge/auth.py) alike: JSON text as RFC 8259 and PostgREST have it.

Python's json.loads reads more: given bytes, it takes UTF-16 and UTF-32 (with or without a byte
order mark) and UTF-8 after one; and it reads NaN, Infinity and -Infinity, which are no JSON.
/rpc refused these (PostgREST reads none of them) while /auth took them: two readers, and a
body one part of the API refused was another's valid request. Here the bytes must be UTF-8
(a byte order mark is then a character, which json refuses), and those constants are refused.
An integer of any length is read (as a Decimal unless the caller says otherwise): json's int()
refuses one of over 4,300 digits, and /auth answered such a body "not JSON" where /rpc read it.
Every object read is a JsonObject, which says which names it gives more than once (json keeps
the last one's value, where Postgres reads each): the caller refuses them where they matter.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any


class JsonObject(dict[str, Any]):
    """A JSON object as read_json reads it, with the names it gives more than once."""

    twice: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    read = JsonObject(pairs)
    if len(read) != len(pairs):
        counted = Counter(name for name, _ in pairs)
        read.twice = tuple(sorted(name for name, times in counted.items() if times > 1))
    return read


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def read_json(
    body: bytes,
    *,
    parse_int: Callable[[str], Any] | None = None,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """The JSON value of a body in UTF-8, each object a JsonObject. Raises ValueError (among them
    UnicodeDecodeError and json's JSONDecodeError) for anything else, and RecursionError for
    arrays or objects nested deeper than Python's stack (about a thousand)."""
    return json.loads(
        body.decode("utf-8"),
        parse_int=parse_int or Decimal,
        parse_float=parse_float,
        parse_constant=_not_json,
        object_pairs_hook=_object,
    )
