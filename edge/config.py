"""The edge's settings, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import os
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class EdgeConfig:
    postgrest_url: str
    postgrest_admin_url: str
    database_url: str
    max_body_bytes: int = MIB
    upstream_timeout_seconds: float = 30.0
    readiness_timeout_seconds: float = 2.0

    @classmethod
    def from_env(cls) -> EdgeConfig:
        return cls(
            postgrest_url=os.environ.get("BLOSSOM_POSTGREST_URL", "http://127.0.0.1:3000").rstrip("/"),
            postgrest_admin_url=os.environ.get("BLOSSOM_POSTGREST_ADMIN_URL", "http://127.0.0.1:3001").rstrip(
                "/"
            ),
            database_url=os.environ.get(
                "BLOSSOM_EDGE_DATABASE_URL", "postgresql://edge@127.0.0.1:54329/blossom"
            ),
        )
