"""`/rpc/<name>` forwarded to PostgREST over pooled keep-alive connections (edge/upstream.py).

A request holds one of the few upstream connections only while PostgREST works on it: its body
is read whole first (under a deadline, edge.errors.read_body), a free connection is waited for
a bounded time (503 edge.upstream_busy after), and an answer of up to RESPONSE_BUFFER bytes is
read whole before it is written to the client, so that a client who reads slowly, or sends
slowly, ties up its own socket and nothing that other clients need. A longer answer is streamed
on its upstream connection as fast as the client takes it, and counts in the client's share of
PostgREST (edge.limits.ClientShares) until it is sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from blossom_db import logs
from blossom_db.generated import API_CALL_ARGUMENTS
from blossom_db.runtime import CallArguments, ScalarKind
from edge.config import EdgeConfig
from edge.errors import Refused, accepts_json, error_response, not_acceptable, not_found, read_body
from edge.json_body import JsonObject, read_json
from edge.limits import ClientShares, ShareExceeded, client_key, over_share
from edge.security import client_address
from edge.upstream import (
    Answer,
    Headers,
    Upstream,
    UpstreamBroken,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from services.text import storable

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
# Header names as the ASGI server gives them (bytes, lower case).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The forwarding headers: the edge names the client in X-Forwarded-For (and its scheme in
# X-Forwarded-Proto) itself; those by which other proxies name a client, its host or its scheme,
# sent by the client itself, reached PostgREST and the database's request.headers as it wrote them.
# Authorization: Blossom's credentials are the session cookie and X-Blossom-Session; PostgREST
# would take a bearer token for a JWT it is not configured to check, and answer 500.
# X-Request-Id: the edge's own (edge.tracing) is sent instead.
# Expect: the body is read whole before it is sent; PostgREST need not invite it.
# Content-Encoding: a body in any coding but identity is refused (edge.errors.read_body); the
# body sent on is the one read, as it came.
# Prefer: refused (below), not dropped: a call takes no preferences, and `tx=rollback` asked for
# a dry run that PostgREST, unless configured to allow it, answers with a commit.
# Accept-Profile, Content-Profile: refused as well: PostgREST's choice of another schema than
# `api`, which it answered with its own 406 PGRST106; the API is the one schema.
# Range, Range-Unit: refused as well: PostgREST's paging of a function's rows, what `limit` and
# `offset` in the query (refused by check_query) would do, past the function's own arguments.
# Referer: PostgREST logs it, and a page's address can hold a token (an invitation's link); the
# edge puts the request id in its place, the only field of PostgREST 12.0's access log
# (log-level info) a proxy can fill, so that its line names the request.
# Accept: checked (check_accept), then sent as application/json: PostgREST would answer CSV,
# plain text, bytes or one object instead of the array the clients read.
# Content-Type: JSON's, in whatever case and with whatever parameters the CSRF check took it
# (edge/security.py), is sent as application/json; PostgREST 12.0 refused `APPLICATION/JSON` and
# `application/json ; charset=utf-8` with its PGRST102. The body is UTF-8 JSON (check_body) in any case.
NOT_FORWARDED_UP = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"forwarded",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-forwarded-server",
    b"x-forwarded-prefix",
    b"x-real-ip",
    b"x-client-ip",
    b"true-client-ip",
    b"cf-connecting-ip",
    b"authorization",
    b"x-request-id",
    b"referer",
    b"expect",
    b"content-encoding",
    b"prefer",
    b"range",
    b"range-unit",
    b"accept-profile",
    b"content-profile",
    b"accept",
    b"content-type",
}
# What PostgREST's access log shows in its referer field: the request id after this.
REQUEST_REFERER = b"urn:blossom:request:"
# The pre-request's note that a read-only request's session is due to be marked as used.
SESSION_STALE_HEADER = b"x-blossom-session-stale"
# The ASGI server writes its own Server and Date (RelayedResponse sets Content-Length itself, and
# keeps SESSION_STALE_HEADER for the edge). PostgREST's CORS headers (`Allow-Origin: *` to
# anyone) are not ours: edge/cors.py answers cross-origin calls, for the allowed origins only.
NOT_FORWARDED_DOWN = HOP_BY_HOP | {
    b"server",
    b"date",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"access-control-allow-methods",
    b"access-control-allow-headers",
    b"access-control-expose-headers",
    b"access-control-max-age",
}
# What a call answers: JSON, whatever else an Accept header asks for.
SENT_ACCEPT = (b"accept", b"application/json")
SENT_JSON_TYPE = (b"content-type", b"application/json")
# The only paths forwarded: /rpc/ and a function's name, exactly as sent (no dot segment, no
# escape, no trailing slash can turn it into another of PostgREST's paths).
RPC_PATH = re.compile(rb"/rpc/([A-Za-z_][A-Za-z0-9_]{0,62})")
RESPONSE_BUFFER = 1024 * 1024
# Opening a connection to PostgREST on the same network.
CONNECT_SECONDS = 2.0
# A parameter is named by an identifier (at most 63 bytes) and a function has at most 100. More,
# or longer, names no function: PostgREST would still look for the closest function for each
# (its "did you mean" hint), which took 0.9 s for 100 made-up names and 30 s for 2,000.
MAX_PARAMETERS = 64
MAX_NAME_BYTES = 63
# PostgREST's parsing of `select`, `order` and filters grows with the square of their length:
# 3,500 columns in `select` (20 KB) kept it busy for 15 s before it answered 400. A call's own
# arguments and a select or filter of hundreds of names fit in this.
MAX_QUERY_BYTES = 2048
# Names PostgREST takes for its own options, never for a function's argument (GET
# /rpc/list_audit_events?limit=0 was a LIMIT 0 on its rows, the function's own `limit` never
# seen): these, and any name whose last dot-separated word is one of POSTGREST_OPTION_ENDINGS
# (`not.or`, `actors.limit`). The API has no use for them: its calls are arguments.
POSTGREST_OPTIONS = frozenset({"select", "columns", "on_conflict"})
POSTGREST_OPTION_ENDINGS = frozenset({"order", "limit", "offset", "and", "or"})
# What, before its first dot, makes a query's value a filter on a function's rows rather than an
# argument, in PostgREST 12.0 (asked of it value by value; tests/test_edge_arguments.py keeps the
# two in step): `not`, an operator, one of eight quantified with (any) or (all), or a full-text
# operator, with or without its language in parentheses: letters, digits 0-9, `_`, `$` and
# spaces (filter_language).
FILTER_HEAD = re.compile(
    r"not|eq|neq|gt|gte|lt|lte|like|ilike|match|imatch|in|is|isdistinct|cs|cd|ov|sl|sr|nxr|nxl|adj"
    r"|(?:eq|gt|gte|lt|lte|like|ilike|match|imatch)\((?:any|all)\)"
    r"|(?:fts|plfts|phfts|wfts)(?:\((?P<language>[^()]+)\))?"
)
LANGUAGE_MARKS = frozenset("0123456789_$ ")


def filter_language(language: str) -> bool:
    """A full-text filter's language as PostgREST's parser takes one (Unicode letters, as
    Haskell's isAlpha, and these marks); with any other character the value is an argument."""
    return all(character.isalpha() or character in LANGUAGE_MARKS for character in language)


def rpc_name(scope: Scope) -> bytes:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    match = RPC_PATH.fullmatch(raw_path)
    if match is None:
        raise Refused(not_found())
    return match.group(1)


def bad_request(message: str) -> Refused:
    return Refused(error_response(400, "edge.bad_request", message))


def _check_names(names: list[str]) -> None:
    if len(names) > MAX_PARAMETERS:
        raise bad_request(f"A call has at most {MAX_PARAMETERS} parameters.")
    try:
        too_long = any(len(name.encode()) > MAX_NAME_BYTES for name in names)
    except UnicodeEncodeError:  # a lone surrogate, "\ud800", written as an escape in JSON
        raise bad_request("A parameter's name is not Unicode text.") from None
    if too_long:
        raise bad_request(f"A parameter's name has at most {MAX_NAME_BYTES} bytes.")


def _query_pairs(query: bytes) -> list[tuple[str, str | None]]:
    """The query's names and values as PostgREST reads them (http-types' parseQuery): split at
    `&` and `;`, `+` a space, percent-decoded UTF-8; a name without `=` has no value (None)."""
    pairs: list[tuple[str, str | None]] = []
    for piece in re.split(rb"[&;]", query):
        if piece:
            name, equals, value = piece.partition(b"=")
            pairs.append((_query_text(name), _query_text(value) if equals else None))
    return pairs


def _query_text(part: bytes) -> str:
    return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")


def is_filter(name: str, value: str | None) -> bool:
    """Whether PostgREST reads a query's name and value as a filter on the rows a function
    returns: a name with a value is one when the name has a dot or the value a FILTER_HEAD
    (`eq.1`, `not.eq.1`, `in.(1,2)`, `eq(any).{1,2}`, `fts(english).cat`); any other name with
    a value is an argument."""
    if value is None:
        return False
    if "." in name:
        return True
    head, dot, _ = value.partition(".")
    filter_head = FILTER_HEAD.fullmatch(head) if dot else None
    return filter_head is not None and filter_language(filter_head["language"] or "")


def query_arguments(pairs: list[tuple[str, str | None]]) -> dict[str, str]:
    """The arguments of a GET's query that check_query passed (it refuses every filter): each
    name with its value. PostgREST passes over a name without one, and so did the edge: one the
    function does not take was answered as if it were not there, one it takes was a call
    without it."""
    bare = sorted({name for name, value in pairs if value is None})
    if bare:
        raise bad_request(f"{', '.join(bare)}: a name without a value (name=value) is not part of a call.")
    return {name: value for name, value in pairs if value is not None}


def check_query(query: bytes) -> list[tuple[str, str | None]]:
    """The query string's names and values: at most MAX_QUERY_BYTES, percent-encoded UTF-8 (else
    PostgREST answers a plain-text 500), at most MAX_PARAMETERS names of at most MAX_NAME_BYTES,
    none of them one of PostgREST's options, and no filter."""
    if not query:
        return []
    if len(query) > MAX_QUERY_BYTES:
        raise Refused(
            error_response(
                414, "edge.query_too_long", f"The query string is longer than {MAX_QUERY_BYTES} bytes."
            )
        )
    try:
        pairs = _query_pairs(query)
    except UnicodeDecodeError:
        raise bad_request("The query string is not percent-encoded UTF-8.") from None
    names = [name for name, _ in pairs]
    _check_names(names)
    options = sorted(
        {
            name
            for name in names
            if name in POSTGREST_OPTIONS or name.rsplit(".", 1)[-1] in POSTGREST_OPTION_ENDINGS
        }
    )
    if options:
        raise bad_request(
            f"{', '.join(options)}: PostgREST's query options are not part of a call;"
            " pass an argument of that name in a POST body."
        )
    # A filter is no argument the function checks: Postgres's own errors answered a wrong one,
    # and `match` ran the caller's regular expression on every row (a backreference pattern kept
    # one of PostgREST's few connections busy for minutes).
    filters = sorted({name for name, value in pairs if is_filter(name, value)})
    if filters:
        raise bad_request(
            f"{', '.join(filters)}: filters on a function's rows are not part of a call;"
            " a function takes what it selects by as arguments."
        )
    return pairs


def _check_utf8(value: bytes) -> None:
    """A header value PostgREST can read: it answers a plain-text 500 to one that is not UTF-8."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("A header's value is not UTF-8.") from None


def _loggable_user_agent(value: bytes) -> bytes:
    """The User-Agent as PostgREST may log it: PostgREST writes it into its access line as it
    came, between double quotes. A C1 control in it (U+009B is CSI, a terminal's escape), a bidi
    override or a line separator reached every terminal and reader of that log: they are dropped,
    as in the user agent sessions keep (edge/auth.py); the HTTP parser refuses the ASCII controls
    already. A `"` closed the field, and the client wrote fields of its own after it, another
    request's id where the line's referer names its own: it becomes a `'`."""
    if not value.isascii():
        _check_utf8(value)
        text = value.decode("utf-8")
        if not text.isprintable():
            value = "".join(char for char in text if char.isprintable()).encode()
    return value.replace(b'"', b"'") if b'"' in value else value


class JsonInteger(str):
    """An integer of a call's JSON body, as its text (int() refuses one of 5,000 digits)."""


class JsonFraction(str):
    """A number of a call's JSON body with a fraction or an exponent, as its text."""


def check_body(body: bytes) -> dict[str, Any]:
    """A POST body's arguments: one JSON object (PostgREST called a function with an array's
    first element and dropped the rest), its names as check_query's, each named once. An empty
    body, or JSON that is not an object (`null`, `1`), holds none, as PostgREST reads it. Numbers
    are JsonInteger or JsonFraction, their text, so that a string is told from a number.

    A body that is not UTF-8 JSON (edge.json_body: Python's json would read UTF-16, a byte
    order mark, NaN) is a 400 edge.bad_request: PostgREST answered it with its own PGRST102,
    which no document of the API lists. So is a name given twice: the edge would check the last
    value only, while Postgres reads each (a NUL in the first answered its own 22P05)."""
    if not body:  # PostgREST's "no arguments"; spaces alone are no JSON, to it as to json.loads
        return {}
    if body.lstrip()[:1] == b"[":
        raise bad_request("A call's arguments are one JSON object, not an array.")
    try:
        data = read_json(body, parse_int=JsonInteger, parse_float=JsonFraction)
    except RecursionError:
        raise bad_request("A call's arguments are nested too deeply.") from None
    except ValueError:  # UnicodeDecodeError among them
        raise bad_request("A call's arguments are one JSON object in UTF-8: the body is not JSON.") from None
    if not isinstance(data, JsonObject):  # every JSON object is read as one
        return {}
    _check_names(list(data))
    if data.twice:
        raise bad_request(f"A call names each argument once: {', '.join(data.twice)} given more than once.")
    return data


# The integer types' ranges, the first included, the last not.
INTEGER_RANGES = {
    "int2": (-(2**15), 2**15),
    "int4": (-(2**31), 2**31),
    "int8": (-(2**63), 2**63),
}
# oidin reads with C's strtoul, which takes a negative text as the unsigned long of its bits (-1 is
# 2**64 - 1), and keeps the value that is an oid's 32 bits or an int4's sign-extended to 64.
UNSIGNED_LONG = 2**64
OID_LIMIT = 2**32
# real's limits as strtof rounds to nearest (float4in): from FLT_MAX and half its last place on a
# text rounds to an infinity, and up to half the least subnormal to zero; both are 22003.
REAL_OVERFLOW = 2**128 - 2**103
REAL_UNDERFLOW = Fraction(1, 2**150)
# What Postgres's input functions skip around a value (isspace in the C locale).
SPACES = " \t\n\r\v\f"
# An integer as Postgres's input functions read it (int2in, int4in, int8in): ASCII digits only.
INTEGER_TEXT = re.compile(rf"[{SPACES}]*+[+-]?[0-9]+[{SPACES}]*")
# A number as numeric_in reads it: NaN takes no sign, Infinity may; digits with a point somewhere,
# or a point and digits; an exponent, which it reads with strtol (spaces before its sign).
# Each pattern here says one way only to match a text (the spaces before a number are taken all
# at once, `*+`, as no number begins with one; the digits before a point are its whole part):
# with two ways, a text that fails at its end was tried in every split of its run of digits or
# spaces, the square of its length (a body's 64 KiB string of digits, a minute of the edge's CPU).
NUMERIC_TEXT = re.compile(
    rf"[{SPACES}]*+(?:(?i:nan)|[+-]?(?i:infinity|inf)"
    rf"|[+-]?(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?(?:[eE][{SPACES}]*(?P<exponent>[+-]?[0-9]+))?)"
    rf"[{SPACES}]*"
)
# numeric's limits (src/backend/utils/adt/numeric.c): an exponent as written, the digits after
# the point (the display scale), and the place of the first significant digit.
NUMERIC_EXPONENT_LIMIT = 2**31 // 2 - 1
NUMERIC_SCALE_MAX = 16383
NUMERIC_LEADING_PLACE_MAX = 131071
# A number as float4in and float8in read it (C's strtof and strtod, with glibc): decimal, or hex
# after 0x with an optional binary exponent; an infinity; NaN, optionally with characters in
# parentheses.
FLOAT_TEXT = re.compile(
    rf"[{SPACES}]*+[+-]?(?:(?P<decimal>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<hex>0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    rf"|(?i:infinity|inf)|(?i:nan)(?:\([A-Za-z0-9_]*\))?)[{SPACES}]*"
)
# Postgres's words for a boolean (boolin, parse_bool), any case: any beginning of these,
BOOLEAN_WORDS = ("true", "false", "yes", "no")
# and these whole (`o` alone is either).
BOOLEAN_EXACT = frozenset({"on", "of", "off", "1", "0"})
# What each kind of argument takes, for the refusal's message.
TAKES: dict[ScalarKind | None, str] = {
    "int2": f"an integer from {-(2**15)} to {2**15 - 1}",
    "int4": f"an integer from {-(2**31)} to {2**31 - 1}",
    "int8": f"an integer from {-(2**63)} to {2**63 - 1}",
    "oid": f"an oid, an integer up to {2**32 - 1}",
    "numeric": "a number",
    "float4": "a number of real's range",
    "float8": "a number of double precision's range",
    "boolean": "true or false",
    None: "a string of Unicode text without NUL",
}


def fits(kind: ScalarKind | None, value: object, from_query: bool) -> bool:
    """Whether a scalar argument's value (JSON null aside) is of the kind its function takes, as
    Postgres will read it. In a body: a JSON string for text; true or false for a boolean; for an
    integer or a number, a JSON number or a JSON string of one (the generated TypeScript client
    sends bigint and numeric so, which a JavaScript number cannot carry exactly), of the type's
    range. In a query, whose values are all text: what Postgres's input function for the type
    takes. Text holds no NUL and no lone surrogate (\\u0000 and \\ud800 are JSON, but no Postgres
    text): PostgREST answered those with Postgres's own 22P05 or PGRST102. A number that Postgres
    would not take answered its 22P02 or 22003."""
    if value is None:
        return True
    if not isinstance(value, str):  # a JSON true or false
        return kind == "boolean"
    if kind is None:
        return (from_query or type(value) is str) and storable(value)
    if kind in INTEGER_RANGES:
        return type(value) is not JsonFraction and _integer_fits(value, *INTEGER_RANGES[kind])
    if kind == "oid":
        return type(value) is not JsonFraction and _oid_fits(value)
    if kind == "numeric":
        return _numeric_fits(value)
    if kind in ("float4", "float8"):
        return _float_fits(value, single=kind == "float4")
    return from_query and _boolean_fits(value.strip(SPACES).lower())


def _boolean_fits(word: str) -> bool:
    # Postgres folds ASCII letters only (Python's lower() makes "k" of the Kelvin sign).
    if not word.isascii():
        return False
    return word in BOOLEAN_EXACT or (word != "" and any(whole.startswith(word) for whole in BOOLEAN_WORDS))


def _integer_fits(text: str, low: int, high: int) -> bool:
    value = _integer(text)
    return value is not None and low <= value < high


def _oid_fits(text: str) -> bool:
    value = _integer(text)
    if value is None or abs(value) >= UNSIGNED_LONG:
        return False
    bits = value % UNSIGNED_LONG
    return bits < OID_LIMIT or bits >= UNSIGNED_LONG - 2**31


def _integer(text: str) -> int | None:
    """The integer of an INTEGER_TEXT; None for another text, or one of more than 20 digits (the
    widest type's, which int() of thousands of digits would refuse anyway)."""
    if not INTEGER_TEXT.fullmatch(text):
        return None
    written = text.strip(SPACES)
    digits = written.lstrip("+-").lstrip("0")
    if len(digits) > 20:
        return None
    value = int(digits or "0")
    return -value if written.startswith("-") else value


def _float_fits(text: str, *, single: bool) -> bool:
    """FLOAT_TEXT, of the type's range: a value that would round to an infinity, or to zero when
    its digits are not all zeros, is out of it (22003), as float4in and float8in say."""
    match = FLOAT_TEXT.fullmatch(text)
    if match is None:
        return False
    decimal, hexadecimal = match["decimal"], match["hex"]
    if decimal is None and hexadecimal is None:
        return True  # an infinity or NaN
    written = text.strip(SPACES)
    mantissa = re.split("[eE]", decimal)[0] if decimal is not None else re.split("[pP]", hexadecimal[2:])[0]
    if mantissa.strip("0.") == "":
        return True  # a zero
    try:
        # Python rounds a text to the nearest double, as strtod does.
        value = abs(float(written) if decimal is not None else float.fromhex(written))
    except OverflowError:
        return False
    if not single:
        return not math.isinf(value) and value != 0
    # The double is within one part in 2**53 of the text's value: it tells all but the texts about
    # real's limits, which rounded to a double and then to a real could round otherwise.
    if 2**-149 <= value <= 2**127:
        return True
    if not 2**-151 < value < 2**129:
        return False
    exact = _exact_value(written, hexadecimal)
    return REAL_UNDERFLOW < exact < REAL_OVERFLOW


def _exact_value(written: str, hexadecimal: str | None) -> Decimal | Fraction:
    """The magnitude a FLOAT_TEXT of a finite number says, exactly (what the limits are compared
    with, without rounding)."""
    if hexadecimal is None:
        return Decimal(written).copy_abs()  # exact (abs() would round to the context), and compared exactly
    digits, *exponent = re.split("[pP]", hexadecimal[2:])
    whole, _, fraction = digits.partition(".")
    power = int(exponent[0] if exponent else "0") - 4 * len(fraction)
    return int(whole + fraction, 16) * Fraction(2) ** power


def _numeric_fits(text: str) -> bool:
    """numeric_in's grammar and its overflow: an exponent past about a billion, more than
    NUMERIC_SCALE_MAX digits after the point (counting the exponent's shift, even for a zero), or
    a first significant digit past the 10^NUMERIC_LEADING_PLACE_MAX place."""
    match = NUMERIC_TEXT.fullmatch(text)
    if match is None:
        return False
    whole, fraction, exponent = match["whole"], match["fraction"], match["exponent"]
    if whole is None:  # NaN or Infinity
        return True
    fraction = fraction or ""
    if not whole and not fraction:
        return False  # "", ".", "e5"
    shift = 0
    if exponent is not None:
        exponent_digits = exponent.lstrip("+-").lstrip("0")
        if len(exponent_digits) > 10:
            return False
        shift = int(exponent_digits or "0") * (-1 if exponent.startswith("-") else 1)
        if abs(shift) >= NUMERIC_EXPONENT_LIMIT:
            return False
    if len(fraction) - shift > NUMERIC_SCALE_MAX:
        return False
    significant_whole = whole.lstrip("0")
    if significant_whole:
        leading_place = len(significant_whole) - 1 + shift
    elif fraction.strip("0"):
        leading_place = -(len(fraction) - len(fraction.lstrip("0")) + 1) + shift
    else:
        return True  # a zero
    return leading_place <= NUMERIC_LEADING_PLACE_MAX


def check_arguments(
    expected: CallArguments, function: str, given: Mapping[str, object], *, from_query: bool
) -> None:
    """The call's arguments against the function's (API_CALL_ARGUMENTS, generated from the
    catalog): none unknown, every one without a default given, no JSON object or array where
    the function takes a scalar (PostgREST would pass its text: {"name": {"a": 1}} named an
    organization '{"a": 1}'), and each scalar of its type (`fits`; PostgREST passed 123 as
    "123", and answered "abc" for an integer with Postgres's 22P02, before the function could
    say who may call it). PostgREST answered the first two 404 PGRST202, as if there were no
    such function."""
    known = (*expected.required, *expected.optional)
    missing = [name for name in expected.required if name not in given]
    unknown, not_scalar, wrong_type = [], [], []
    for name, value in sorted(given.items()):
        if name not in known:
            unknown.append(name)
        elif name in expected.structured:
            continue
        elif isinstance(value, dict | list):
            not_scalar.append(name)
        elif not fits(expected.scalars.get(name), value, from_query):
            wrong_type.append(name)
    if not (unknown or missing or not_scalar or wrong_type):
        return
    takes = ", ".join(expected.required) or "no argument"
    if expected.optional:
        takes += f" (and optionally {', '.join(expected.optional)})"
    typed = [f"{name} ({TAKES[expected.scalars.get(name)]})" for name in wrong_type]
    problems = [
        f"{what}: {', '.join(names)}"
        for what, names in (
            ("unknown", unknown),
            ("missing", missing),
            ("not a JSON scalar", not_scalar),
            ("not of its type", typed),
        )
        if names
    ]
    raise Refused(
        error_response(
            400,
            "edge.invalid_arguments",
            f"{function} takes {takes}; {'; '.join(problems)}.",
            details={
                "unknown": unknown,
                "missing": missing,
                "not_scalar": not_scalar,
                "wrong_type": wrong_type,
            },
        )
    )


def calling_methods(function: CallArguments | None) -> str:
    """The methods that call `function` (all four for a function the table does not know).
    PostgREST runs a GET read-only, so a function that writes ran up to its first write and
    failed there (405, SQLSTATE 25006), or answered whatever it met first: it takes POST alone."""
    return "POST, OPTIONS" if function is not None and not function.read_only else "GET, HEAD, POST, OPTIONS"


def rpc_methods(scope: Scope) -> str | None:
    """The methods that call the function `/rpc/<name>` names; None for a path that names none."""
    try:
        name = rpc_name(scope)
    except Refused:
        return None
    return calling_methods(API_CALL_ARGUMENTS.get(name.decode()))


def methods_answer(function: CallArguments | None, method: str) -> Response:
    """OPTIONS, or another method than calls the function: the methods that do. PostgREST
    answered OPTIONS 404 PGRST202 for a function with arguments, as if there were none."""
    allow = calling_methods(function)
    if method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    return error_response(
        405, "edge.method_not_allowed", f"Call this function with {allow}.", headers={"Allow": allow}
    )


def other_method(scope: Scope) -> Response:
    """`/rpc/<name>` with a method that calls no function (PUT, DELETE …): 405, with the methods
    that call this one."""
    return methods_answer(API_CALL_ARGUMENTS.get(rpc_name(scope).decode()), scope["method"])


# When PostgREST gave no answer: the status, code and message the client gets.
UPSTREAM_REFUSALS: dict[type[UpstreamError], tuple[int, str, str]] = {
    UpstreamBusy: (
        503,
        "edge.upstream_busy",
        "Every connection to the API server is busy; try again shortly.",
    ),
    UpstreamUnavailable: (
        503,
        "edge.upstream_unavailable",
        "The API server is not reachable; try again shortly.",
    ),
    UpstreamTimeout: (504, "edge.upstream_timeout", "The API server did not answer in time."),
    UpstreamBroken: (502, "edge.bad_gateway", "The API server gave no valid answer."),
}


class PostgrestProxy:
    def __init__(self, config: EdgeConfig, count_error: Callable[[str], None] = lambda _code: None) -> None:
        self.config = config
        self.upstream = Upstream(
            config.postgrest_url,
            size=config.upstream_connections,
            wait_seconds=config.upstream_wait_seconds,
            connect_seconds=CONNECT_SECONDS,
            read_seconds=config.upstream_timeout_seconds,
            buffer=RESPONSE_BUFFER,
        )
        self.shares = ClientShares(config.client_upstream_share, config.upstream_wait_seconds)
        # Called with the code of each upstream failure the edge answers (edge/metrics.py).
        self.count_error = count_error

    @property
    def in_use(self) -> int:
        """Connections to PostgREST taken by requests now."""
        return self.upstream.in_use

    async def close(self) -> None:
        await self.upstream.close()

    def _upstream_headers(self, request: Request) -> tuple[Headers, bool]:
        """The headers PostgREST gets, and whether the client announced a body (Content-Length,
        or chunked Transfer-Encoding): one pass over the client's headers, on the hot path."""
        scope = request.scope
        headers = []
        announced = False
        accepted: list[bytes] = []
        for name, value in scope["headers"]:
            if name not in NOT_FORWARDED_UP:
                if name == b"user-agent":
                    value = _loggable_user_agent(value)
                elif not value.isascii():
                    _check_utf8(value)
                headers.append((name, value))
            elif name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
                announced = True
            elif name == b"prefer":
                raise bad_request("A call takes no Prefer header: its arguments say what it does.")
            elif name in (b"range", b"range-unit"):
                raise bad_request("A call takes no Range header: its arguments say which rows it answers.")
            elif name in (b"accept-profile", b"content-profile"):
                raise bad_request(
                    "A call takes no Accept-Profile or Content-Profile header: the API is one schema."
                )
            elif name == b"accept":
                accepted.append(value)
            elif name == b"content-type":
                if value.split(b";", 1)[0].strip().lower() == b"application/json":
                    headers.append(SENT_JSON_TYPE)
                else:  # refused by the CSRF check unless the method is a safe one
                    if not value.isascii():
                        _check_utf8(value)
                    headers.append((name, value))
        if accepted:
            # Two Accept lines are one list (RFC 9110, section 5.3).
            accept = b",".join(accepted)
            if not accept.isascii():
                _check_utf8(accept)
            if not accepts_json(accept):
                raise not_acceptable()
        headers.append(SENT_ACCEPT)
        client = client_address(request, self.config)
        if client is not None:
            # The peer (or a trusted proxy's entry); a client-sent X-Forwarded-For is dropped above.
            headers.append((b"x-forwarded-for", client.encode()))
        headers.append((b"x-forwarded-proto", scope["scheme"].encode()))
        request_id = logs.request_id.get()
        if request_id is not None:
            encoded = request_id.encode()
            headers.append((b"x-request-id", encoded))
            headers.append((b"referer", REQUEST_REFERER + encoded))
        return headers, announced

    async def forward(self, request: Request) -> RelayedResponse:
        """PostgREST's answer to the request; Refused for what the edge answers itself."""
        scope = request.scope
        name = rpc_name(scope)
        config = self.config
        query: bytes = scope["query_string"]
        query_pairs = check_query(query)
        headers, announced = self._upstream_headers(request)
        body = None
        if announced:
            body = await read_body(request, config.max_body_bytes, config.body_timeout_seconds)
        # A GET's arguments are in its query; a POST's are its body. OPTIONS is no call.
        method = scope["method"]
        function = name.decode()
        known = API_CALL_ARGUMENTS.get(function)
        if known is not None and (method == "OPTIONS" or (method in ("GET", "HEAD") and not known.read_only)):
            raise Refused(methods_answer(known, method))
        # A function the table does not know (one added after this edge was built) is left to
        # PostgREST.
        if method in ("GET", "HEAD"):
            if known is not None:
                check_arguments(known, function, query_arguments(query_pairs), from_query=True)
        elif method == "POST":
            # PostgREST reads a POST's query as filters on the function's rows (a plain name and
            # value answered its own PGRST100), and its options: what check_query refuses.
            if query:
                raise bad_request("A POST call takes its arguments in its JSON body: send no query string.")
            arguments = check_body(body or b"")
            if known is not None:
                check_arguments(known, function, arguments, from_query=False)
        # PostgREST's access line quotes the request line: a `"` of the query (which the HTTP
        # parser lets through) would close it, as one of the User-Agent would (_loggable_user_agent).
        # Percent-encoded, PostgREST reads the same argument.
        if b'"' in query:
            query = query.replace(b'"', b"%22")
        target = b"/rpc/" + name + (b"?" + query if query else b"")
        client = client_key(scope, config)
        try:
            await self.shares.take(client)
        except ShareExceeded:
            self.count_error("edge.too_many_requests")
            raise Refused(over_share()) from None
        try:
            # A HEAD is asked as its GET: PostgREST answers a HEAD with no body, a failure's too,
            # whose code the edge reads (server_error), and runs no function of a scalar for it.
            # RelayedResponse sends a HEAD's client no body.
            upstream_method = "GET" if method == "HEAD" else method
            answer = await self.upstream.request(upstream_method, target, headers, body)
        except UpstreamError as error:
            self.shares.give_back(client)
            status, code, message = UPSTREAM_REFUSALS[type(error)]
            self.count_error(code)
            retry = {"Retry-After": "1"} if status == 503 else None
            raise Refused(error_response(status, code, message, headers=retry)) from None
        except BaseException:
            self.shares.give_back(client)
            raise
        if not answer.complete:
            # Streamed, it is read from PostgREST no faster than the client takes it, on one of
            # the edge's connections to PostgREST, so it counts in the client's share until sent:
            # a client that asked for such answers and read none held a connection for each.
            return RelayedResponse(answer, finished=lambda: self.shares.give_back(client))
        # PostgREST answers once its transaction is over: a whole answer frees its connections.
        self.shares.give_back(client)
        answer.release()
        if answer.status >= 500 or (answer.status >= 400 and _lost_mid_call(answer)):
            self.count_error(f"postgrest_{answer.status}")
            raise Refused(server_error(answer.status, answer.head))
        if answer.status >= 400 and not _is_json(answer):
            # PostgREST's own plain-text refusals (e.g. of headers too large for it).
            raise Refused(
                error_response(answer.status, "edge.bad_request", "The API server refused the request.")
            )
        return RelayedResponse(answer)


def _is_json(answer: Answer) -> bool:
    content_type = (answer.header(b"content-type") or b"").decode("latin-1")
    return content_type.split(";", 1)[0].strip().endswith("json")


# PostgREST's answer to a call whose connection to Postgres ended under it (Postgres stopped at
# once, or crashed): libpq's own error for the lost connection has no SQLSTATE, and PostgREST 12
# answers it with status 400 and an empty code and message.
LOST_MID_CALL_CODE = ""


def _lost_mid_call(answer: Answer) -> bool:
    if not _is_json(answer):
        return False
    try:
        parsed = json.loads(answer.head)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("code") == LOST_MID_CALL_CODE


# Postgres's query_canceled: a statement past its timeout (PostgREST answers it with a 500).
QUERY_CANCELED = "57014"
# PostgREST's: no connection to Postgres came free within db-pool-acquisition-timeout (504);
# the call did not run.
POOL_TIMEOUT = "PGRST003"
# Postgres ended the call, undone, for a state that passes (PostgREST answers each 500): chosen to
# break a deadlock, or past its lock timeout. Tried again it may well pass, as an /auth call so
# ended is told (503). (A serialization failure PostgREST tries again itself.)
PASSING_STATES = frozenset({"40P01", "55P03"})


def server_error(status: int, body: bytes) -> Response:
    """PostgREST's 5xx answer with its code and message but not its details and hint, which
    can name the database's host and port or quote its internal errors. An outage to wait out
    gets one of the edge's stable codes, which every RPC's error union holds (edge/routes.py),
    so that a client tells it from a bug: passed on, PGRST001 or 53300 was an undeclared code,
    which the generated client answers client.unexpected."""
    try:
        parsed = json.loads(body)
        code, message = str(parsed["code"]), str(parsed["message"])
    except (ValueError, TypeError, KeyError):
        return error_response(502, "edge.bad_gateway", "The API server gave no valid answer.")
    if code == QUERY_CANCELED:
        # Postgres ended the call at the API's statement timeout (sql/roles.sql), before the
        # edge stopped waiting: the same for the client as the edge's own timeout.
        status, code, message = UPSTREAM_REFUSALS[UpstreamTimeout]
        return error_response(status, code, message)
    if code == POOL_TIMEOUT:
        # Nothing ran, as when the edge's own wait for a connection to PostgREST ends.
        status, code, message = UPSTREAM_REFUSALS[UpstreamBusy]
        return error_response(status, code, message, headers={"Retry-After": "1"})
    if (status == 503 and not is_ours(code)) or code in (LOST_MID_CALL_CODE, *PASSING_STATES):
        # PostgREST's 503s are all the database out of reach or of resources: its connection
        # lost or refused (PGRST000, PGRST001, 08xxx), its schema cache not loaded yet
        # (PGRST002), Postgres shutting down (57P01 …) or out of slots, memory or disk (53xxx).
        # And the connection lost within the call, whatever status PostgREST gave it (no code),
        # and a call ended for a state that passes (PASSING_STATES).
        # Their code, which names no address, stays in the details for whoever reports it.
        return error_response(
            503,
            "edge.database_unavailable",
            "The database is not reachable; try again shortly.",
            details={"upstream_code": code},
            headers={"Retry-After": "1"},
        )
    # A function's own (util.raise_error), such as api.delete_organization's 503 org.busy.
    return error_response(status, code, message, headers={"Retry-After": "1"} if status == 503 else None)


def is_ours(code: str) -> bool:
    """Whether an error code is one of the API's own (`area.what`, docs/api.md), not PostgREST's
    (PGRST…) or a Postgres SQLSTATE, neither of which holds a dot."""
    return "." in code


class RelayedResponse(Response):
    """PostgREST's answer: status, every header (Set-Cookie twice stays twice), and the body
    unchanged (not decompressed). The answer's first RESPONSE_BUFFER bytes are here; when that
    is not all of it, the rest is streamed after them, and the connection is given back at the
    end, and then `finished` is called (the client's share given back).

    Sent straight to the ASGI server rather than through StreamingResponse, which costs a
    task group per request to watch for disconnects; a vanished client fails `send` instead.
    """

    def __init__(self, answer: Answer, finished: Callable[[], None] | None = None) -> None:
        self.answer = answer
        self.finished = finished
        self.status_code = answer.status
        self.background = None
        self.session_stale = False
        # As they came (bytes, not decoded and encoded again), but for a Content-Length of our
        # own when the whole body is here (upstream may have sent it chunked).
        self.raw_headers = []
        content_length = None
        for name, value in answer.headers:
            if name == SESSION_STALE_HEADER:
                self.session_stale = True
            elif name == b"content-length":
                content_length = value
            elif name not in NOT_FORWARDED_DOWN:
                self.raw_headers.append((name, value))
        if answer.status in (204, 304):
            pass  # no body, and no Content-Length either (RFC 9110 section 8.6)
        elif answer.complete:  # a HEAD's too: the length of its GET's body (RFC 9110, 8.6)
            self.raw_headers.append((b"content-length", b"%d" % len(answer.head)))
        elif content_length is not None:
            self.raw_headers.append((b"content-length", content_length))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answer
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            streaming = not answer.complete
            await send({"type": "http.response.body", "body": answer.head, "more_body": streaming})
            if streaming:
                async for chunk in answer.rest():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            answer.release()
            if self.finished is not None:
                self.finished()
