"""What codegen generates, from which schemas, and how this project raises coded errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codegen.edge import EdgeSurface
from codegen.raises import RaiseConfig
from edge import routes

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "just codegen"


@dataclass(frozen=True)
class Config:
    # The schema PostgREST exposes: every function in it gets a TypeScript and a Python wrapper,
    # but those marked @internal in their comment; each of the others must be executable by
    # every one of the API roles (codegen refuses it otherwise, naming it).
    api_schema: str = "api"
    api_roles: tuple[str, ...] = ("web_anon", "authenticated")
    # (schema, role): Python wrappers also for the functions of schema that role may execute.
    python_grants: tuple[tuple[str, str], ...] = (
        ("auth", "edge"),
        ("ext", "edge"),
        ("pipeline", "pipeline"),
        ("delivery", "worker"),
    )
    raises: RaiseConfig = field(
        default_factory=lambda: RaiseConfig(
            # util.raise_error(status, code, message, hint, headers);
            # app.spend_quota(kind, key, limit, window, code, message)
            helpers={"util.raise_error": 1, "app.spend_quota": 4},
            pre_request="auth.pre_request",
            # The job queue's (procrastinate's) functions.
            ignored_schemas=frozenset({"jobs"}),
        )
    )
    # The edge's own routes and error codes (edge/routes.py): client functions and error unions.
    edge: EdgeSurface = field(
        default_factory=lambda: EdgeSurface(
            routes.SPECS, routes.SHAPES, routes.EDGE_ERRORS, routes.RPC_ERRORS
        )
    )
    typescript_path: Path = ROOT / "clients" / "typescript" / "src" / "generated.ts"
    python_path: Path = ROOT / "blossom_db" / "generated.py"
    command: str = COMMAND

    @property
    def grants_read(self) -> tuple[tuple[str, str], ...]:
        """Every (schema, role) whose executable functions codegen reads."""
        return tuple((self.api_schema, role) for role in self.api_roles) + self.python_grants
