"""Error answers in the one shape every Blossom error has: PostgREST's `{code, message, ...}`,
for the edge's own refusals and for whatever Starlette would otherwise answer in plain text."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

log = logging.getLogger("edge")


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "details": details, "hint": hint}
    return JSONResponse(body, status_code=status, headers=headers)


def error_body(code: str, message: str) -> bytes:
    """The same shape as bytes, for answers written below the ASGI application (edge.server)."""
    return bytes(error_response(0, code, message).body)


def not_found() -> JSONResponse:
    return error_response(404, "edge.not_found", "There is nothing at this path.")


class Refused(Exception):
    """A request answered with an error before it reached its work: raise it anywhere in a
    route, the route answers `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response

    def __repr__(self) -> str:
        return f"Refused(status={self.response.status_code})"


def too_large(limit: int) -> JSONResponse:
    return error_response(413, "edge.body_too_large", f"The request body is larger than {limit} bytes.")


def unsupported_encoding() -> JSONResponse:
    # RFC 7694: Accept-Encoding on the refusal names the codings a request body may be sent in.
    return error_response(
        415,
        "edge.unsupported_encoding",
        "The request body must be sent without a Content-Encoding (the edge reads none).",
        headers={"Accept-Encoding": "identity"},
    )


def _codings(request: Request, header: str, but: str) -> bool:
    """Whether the request's `header` (each of its lines, each a list) names a coding besides
    `but`."""
    return any(
        coding.strip().lower() not in ("", but)
        for value in request.headers.getlist(header)
        for coding in value.split(",")
    )


def check_no_content_coding(request: Request) -> None:
    """415 for a body in a content coding (gzip, br …; RFC 9110, 15.5.16): the edge reads the
    body as JSON as it came, so a gzip body was answered 400 as if it were not JSON, and a plain
    one that said it was gzip was read as plain. `identity` is no coding."""
    if _codings(request, "content-encoding", but="identity"):
        raise Refused(unsupported_encoding())


def check_no_transfer_coding(request: Request) -> None:
    """501 for a body in a transfer coding besides chunked (RFC 9112, 6.1), whose framing the
    HTTP parser takes off: the edge undoes no other, and read a gzip body as it came."""
    if _codings(request, "transfer-encoding", but="chunked"):
        raise Refused(
            error_response(
                501,
                "edge.unsupported_transfer_coding",
                "The request body must be sent in no transfer coding but chunked.",
            )
        )


# The media ranges that admit application/json, the most specific first (RFC 9110, 12.5.1).
JSON_RANGES = (b"application/json", b"application/*", b"*/*")


def accepts_json(value: bytes) -> bool:
    """Whether an Accept header admits application/json: the most specific of its ranges that
    names JSON (application/json, then application/*, then */*; any case, with parameters) is
    not weighted q=0. `application/json;q=0, */*` refuses JSON: naming it is more specific than
    the wildcard beside it."""
    value = value.strip()
    if not value or value in JSON_RANGES:  # the generated clients' and browsers' own, unread
        return True
    admitted: dict[bytes, bool] = {}
    for item in value.split(b","):
        media, _, parameters = item.partition(b";")
        media = media.strip().lower()
        if media in JSON_RANGES:
            admitted[media] = admitted.get(media, False) or not _weighted_zero(parameters)
    return next((admitted[media] for media in JSON_RANGES if media in admitted), False)


def _weighted_zero(parameters: bytes) -> bool:
    for parameter in parameters.split(b";"):
        name, _, weight = parameter.partition(b"=")
        if name.strip().lower() == b"q":
            try:
                return float(weight) == 0
            except ValueError:
                return False
    return False


def not_acceptable() -> Refused:
    return Refused(
        error_response(
            406,
            "edge.not_acceptable",
            "The API answers in JSON only: send Accept: application/json, or no Accept.",
        )
    )


def check_accepts_json(scope: Scope) -> None:
    """406 for a request whose Accept headers (their lines one list, RFC 9110, 5.3) refuse JSON,
    the one type the edge answers in."""
    lines = [value for name, value in scope["headers"] if name == b"accept"]
    if lines and not accepts_json(b",".join(lines)):
        raise not_acceptable()


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The whole request body, at most `limit` bytes, arrived within `seconds`: 415 in a content
    coding, 501 in a transfer coding besides chunked, 413 past the limit (declared or sent), 408
    when slower, 400 for a Content-Length that is no number."""
    check_no_content_coding(request)
    check_no_transfer_coding(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(error_response(400, "edge.bad_request", "Content-Length must be a number."))
        if int(declared) > limit:
            raise Refused(too_large(limit))
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise Refused(too_large(limit))
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(
            error_response(
                408,
                "edge.request_timeout",
                f"The request body did not arrive within {seconds:g} seconds.",
                headers={"Connection": "close"},
            )
        ) from None
    except ClientDisconnect:
        raise Refused(error_response(400, "edge.bad_request", "The client went away mid-request.")) from None
    return b"".join(chunks)


# Statuses Starlette raises itself (routing, methods), each with our stable code.
FRAMEWORK_CODES = {
    400: ("edge.bad_request", "The request is not valid."),
    404: ("edge.not_found", "There is nothing at this path."),
    405: ("edge.method_not_allowed", "This path does not answer that method."),
}


async def http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = FRAMEWORK_CODES.get(exc.status_code, ("edge.http_error", "The request was refused."))
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


async def internal_error(_request: Request, exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    log.error("unhandled error: %r", exc, exc_info=exc)
    return error_response(500, "edge.internal_error", "The request could not be completed.")


EXCEPTION_HANDLERS = {HTTPException: http_exception, Exception: internal_error}
