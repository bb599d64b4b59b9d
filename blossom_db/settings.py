"""Settings read from the environment, the same way in every process (the edge, the worker): a
malformed value stops the process at start with the variable's name, never a silent default."""

from __future__ import annotations

import os
import re


def split_list(value: str) -> tuple[str, ...]:
    """A list setting: entries separated by commas and/or white space."""
    return tuple(item for item in re.split(r"[\s,]+", value.strip()) if item)


def env_number(name: str, default: float) -> float:
    """A positive number; `default` when the variable is unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number, got {raw!r}")
    return value


def env_count(name: str, default: int) -> int:
    """A positive whole number; `default` when the variable is unset or empty."""
    value = env_number(name, default)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)
