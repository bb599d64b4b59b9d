"""Error answers in the one shape every Blossom error has: PostgREST's `{code, message, ...}`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


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


class BodyTooLarge(Exception):
    pass


def too_large(limit: int) -> JSONResponse:
    return error_response(413, "edge.body_too_large", f"The request body is larger than {limit} bytes.")


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body as it arrives; BodyTooLarge once it passes `limit` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk
