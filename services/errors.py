"""The one error every outside-service client raises: what went wrong, in our error shape.

The edge answers it as `{"code", "message"}` with `status` (and `Retry-After` when the provider
asked us to wait); the worker and the pipeline retry it when it is `temporary` and give up
otherwise. Its message never carries a credential or the provider's raw answer body.
"""

from __future__ import annotations


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


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header given in seconds, or None (absent, a date, or nonsense)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86_400 else None
