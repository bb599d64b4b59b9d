"""The edge's own routes as codegen sees them: edge/routes.py's specs, with the SQL types they
name looked up in the catalog (an ID domain becomes its branded type)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from codegen.catalog import Catalog, CodegenError, load_types
from edge.routes import RouteSpec


@dataclass(frozen=True)
class EdgeSurface:
    routes: tuple[RouteSpec, ...] = ()
    shapes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    edge_errors: Mapping[str, int] = field(default_factory=dict)  # answered to any request
    rpc_errors: Mapping[str, int] = field(default_factory=dict)  # answered by the /rpc proxy
    types: Mapping[str, int] = field(default_factory=dict)  # SQL type name -> OID

    def type_names(self) -> set[str]:
        specs = [
            *(value for spec in self.routes for value in spec.body.values()),
            *(value for fields in self.shapes.values() for value in fields.values()),
        ]
        return {spec.removesuffix("?") for spec in specs} - set(self.shapes)


def edge_surface(conn: psycopg.Connection, catalog: Catalog, surface: EdgeSurface) -> EdgeSurface:
    """The surface with its SQL type names looked up and loaded into the catalog."""
    types: dict[str, int] = {}
    for name in sorted(surface.type_names()):
        found = conn.execute("select to_regtype(%s)::oid::int", [name]).fetchone()
        if not found or not found[0]:
            raise CodegenError(f"edge/routes.py names a type the database does not have: {name}")
        types[name] = found[0]
    for spec in surface.routes:
        if spec.result is not None and spec.result not in surface.shapes:
            raise CodegenError(f"edge route {spec.name}: its result {spec.result} is not a shape of SHAPES")
    load_types(conn, catalog, types.values())
    return EdgeSurface(surface.routes, surface.shapes, surface.edge_errors, surface.rpc_errors, types)
