"""Error answers in the one shape every Blossom error has: PostgREST's `{code, message, ...}`."""

from __future__ import annotations

from typing import Any

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
