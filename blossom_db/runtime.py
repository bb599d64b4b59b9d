"""What the generated wrappers share: the coded error, the default marker, the SQL of a call,
and the guard that keeps a failed call from poisoning the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from typing import Any, ClassVar, Final, Literal, TypeAlias, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Json, Jsonb

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
Inet: TypeAlias = IPv4Address | IPv6Address | IPv4Interface | IPv6Interface
Cidr: TypeAlias = IPv4Network | IPv6Network
ArgKind = Literal[
    "",
    "json",
    "json[]",
    "jsonb",
    "jsonb[]",
    "variadic",
    "variadic json",
    "variadic json[]",
    "variadic jsonb",
    "variadic jsonb[]",
]
# A json argument gets the text as psycopg writes it (the caller's key order, as PostgREST passes
# a body's); sent as jsonb, it arrived with jsonb's order of keys instead.
_JSON_ADAPTERS: dict[str, type[Json] | type[Jsonb]] = {"json": Json, "jsonb": Jsonb}
# How a scalar argument is written in JSON when not as a string: by its type (under its domains).
ScalarKind = Literal["int2", "int4", "int8", "oid", "numeric", "float4", "float8", "boolean"]

PGRST_SQLSTATE = "PGRST"
T = TypeVar("T")


@dataclass(frozen=True)
class CallArguments:
    """The arguments an API function takes, by name, as a call through the edge may give them:
    those without a default, those with one, and of all of them those that take a JSON object or
    array (json, jsonb, arrays and composites); every other one takes a JSON scalar or null: a
    number or a boolean for those in `scalars` (by the kind of their type), a string for the
    rest. And whether the function only reads (STABLE or IMMUTABLE), which a GET may call."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    structured: tuple[str, ...] = ()
    scalars: Mapping[str, ScalarKind] = field(default_factory=dict)
    read_only: bool = False


class Default:
    """Leaves an argument out of the call, so that the function's own default applies."""

    _instance: Default | None = None

    def __new__(cls) -> Default:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = Default()


class RpcError(Exception):
    """An error a database function raised with a stable code (PostgREST's JSON form).

    `status` and `headers` are the HTTP status and headers PostgREST would answer with (e.g.
    `Retry-After`); `status` is None when the error did not name one. A wrapper raises its
    function's subclass (`ApiGetOrgError`, `code` typed as the codes it declares) when the code
    is one of `codes`, and a plain RpcError otherwise.
    """

    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None,
        details: JsonValue = None,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.hint = hint
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"RpcError(code={self.code!r}, status={self.status!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle (a process pool's answer) and copy.copy rebuild an exception from its args,
        # which hold only the text: every field, so that it loads back (as its own subclass).
        fields = (self.code, self.message, self.status, self.details, self.hint, self.headers)
        return (_rebuilt_rpc_error, (type(self), *fields))


def _rebuilt_rpc_error(
    cls: type[RpcError],
    code: str,
    message: str,
    status: int | None,
    details: JsonValue,
    hint: str | None,
    headers: dict[str, str],
) -> RpcError:
    return cls(code, message, status=status, details=details, hint=hint, headers=headers)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        decoded = json.loads(text or "")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def rpc_error(error: psycopg.Error, declared: type[RpcError] = RpcError) -> RpcError | None:
    """The coded error in a psycopg error raised with SQLSTATE PGRST, as `declared` when its
    code is one `declared` lists; None for any other error."""
    if error.sqlstate != PGRST_SQLSTATE:
        return None
    body = _json_object(error.diag.message_primary)
    detail = _json_object(error.diag.message_detail)
    code = body.get("code")
    if not isinstance(code, str):
        return None
    status = detail.get("status")
    hint = body.get("hint")
    headers = detail.get("headers")
    return (declared if code in declared.codes else RpcError)(
        code,
        str(body.get("message") or ""),
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        details=body.get("details"),
        hint=hint if isinstance(hint, str) else None,
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None,
    )


def _coded(error: Exception, declared: type[RpcError]) -> Exception:
    coded = rpc_error(error, declared) if isinstance(error, psycopg.Error) else None
    return error if coded is None else coded


# What a call on an idle connection leaves when it began a transaction (not autocommit).
_OPENED = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


@contextmanager
def guarded(conn: psycopg.Connection[Any], declared: type[RpcError] = RpcError) -> Iterator[None]:
    """One wrapper's call: a psycopg error raised with SQLSTATE PGRST becomes an RpcError (others
    pass unchanged), and a failed call does not poison the caller's transaction. Inside a
    transaction the call runs in a savepoint, rolled back to on error; on a connection that was
    idle (not autocommit), a failed call rolls back the transaction it opened, leaving it idle:
    a call fails after its function ran, too, when psycopg cannot load the answer (a date of
    infinity), and the caller's next commit kept what the function wrote."""
    status = conn.info.transaction_status
    try:
        if status == TransactionStatus.INTRANS:
            with conn.transaction():
                yield
        else:
            yield
    except Exception as error:
        if status == TransactionStatus.IDLE and conn.info.transaction_status in _OPENED:
            conn.rollback()
        raise _coded(error, declared) from error


@asynccontextmanager
async def guarded_async(
    conn: psycopg.AsyncConnection[Any], declared: type[RpcError] = RpcError
) -> AsyncIterator[None]:
    """`guarded` for an AsyncConnection."""
    status = conn.info.transaction_status
    try:
        if status == TransactionStatus.INTRANS:
            async with conn.transaction():
                yield
        else:
            yield
    except Exception as error:
        if status == TransactionStatus.IDLE and conn.info.transaction_status in _OPENED:
            await conn.rollback()
        raise _coded(error, declared) from error


def call_query(
    schema: str, name: str, select: str, args: Sequence[tuple[str, object, str, ArgKind]]
) -> tuple[sql.Composed, dict[str, object]]:
    """`select` with `{call}` replaced by `schema.name(arg => %(arg)s::type, ...)`.

    Arguments given as DEFAULT are left out; `select` and the types come from the catalog.
    """
    parts: list[sql.Composable] = []
    params: dict[str, object] = {}
    for arg_name, value, sql_type, kind in args:
        if isinstance(value, Default):
            continue
        variadic = kind.startswith("variadic")
        parts.append(
            sql.SQL(("VARIADIC " if variadic else "") + "{} => {}::" + sql_type).format(
                sql.Identifier(arg_name), sql.Placeholder(arg_name)
            )
        )
        json_kind = kind.removeprefix("variadic").strip()
        adapter = _JSON_ADAPTERS.get(json_kind.removesuffix("[]"))
        if adapter is not None and value is not None and not json_kind.endswith("[]"):
            value = adapter(value)
        elif adapter is not None and isinstance(value, list):
            value = [adapter(item) for item in value]
        params[arg_name] = value
    call = sql.SQL("{}({})").format(sql.Identifier(schema, name), sql.SQL(", ").join(parts))
    return sql.SQL(select).format(call=call), params


def one(row: T | None) -> T:
    """The one row a function that is not `setof` returns."""
    if row is None:
        raise RuntimeError("the function returned no row")
    return row
