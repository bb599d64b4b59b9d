"""Modules imported when first used, not when a test module that names them is collected."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Module `name`, imported when one of its public names is first read.

    Every pytest-xdist process imports every test module to collect it, though only one of them
    runs that module's tests: a package imported at a test module's top is imported six times
    over. Dagster costs each process 1.1-1.5 s of CPU that way, Playwright 0.3 s (measured).

    Private and special names answer AttributeError without importing: collecting reads such
    names (`__test__`, `_fixture_function_marker`) of every object a test module holds."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
