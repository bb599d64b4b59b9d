"""The one error every outside-service client raises: what went wrong, in our error shape.

The edge answers it as `{"code", "message"}` with `status` (and `Retry-After` when the provider
asked us to wait); the worker and the pipeline retry it when it is `temporary` and give up
otherwise. Its message never carries a credential or the provider's raw answer body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable


class ServiceError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 502,
        retry_after: float | None = None,
        temporary: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.temporary = temporary


class AnswerTooLarge(Exception):
    """An outside service's answer went past what its client reads of one (each client's
    LARGEST_ANSWER_BYTES); raised while the SDK reads it, which passes it on as it is."""


class CheckFailed(Exception):
    """A caller's check before its message was handed over (SMTP's DATA, a Slack post's request:
    the worker's, that its claim still holds) raised `error`: nothing was handed over. Wrapped,
    so that neither the library in between nor the client's sorting of the service's failures
    takes it for the service's; the client raises `error` itself."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


async def check_before_handing_over(check: Callable[[], Awaitable[None]]) -> None:
    """Awaits `check`; what it raises comes out as CheckFailed."""
    try:
        await check()
    except Exception as error:
        raise CheckFailed(error) from error


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header given in seconds, or None (absent, a date, or nonsense)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86_400 else None
