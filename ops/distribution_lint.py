"""The schema stays distributable by tenant (Citus, by org_id; docs/deployment.md), read from
sql/schema/ with pglast, no database needed (`just lint`, `./dev test`'s lint and sql-lint).

In schema `app`, a table with an `org_id` column is a tenant table (the tenants' own table,
sql/distribution.toml's `root`, is distributed by its `id`); any other table must be named in
`[reference]` with its reason, as one Citus would copy to every node. Then:

- a tenant table's primary key and every unique constraint or unique index include its
  distribution column (Citus can only enforce uniqueness within one tenant's shard);
- a tenant table's foreign key to another tenant table includes the distribution column on both
  sides (the rows it joins then live on the same node);
- a reference table has no foreign key to a tenant table.

A breach that is known and meant stays only as a `[[breach]]` of sql/distribution.toml, with its
reason; an entry that excuses nothing is a finding too.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast.parser import parse_sql_json

from ops.settings import ROOT

SCHEMA_DIR = ROOT / "sql" / "schema"
DECLARATIONS = ROOT / "sql" / "distribution.toml"
TENANT_COLUMN = "org_id"
SCHEMA = "app"


@dataclass(frozen=True)
class Key:
    """A primary key, unique constraint or unique index, or a foreign key, as written."""

    kind: str  # "primary key", "unique", "foreign key"
    name: str
    columns: tuple[str, ...]  # None-free: an expression in an index counts as "(expression)"
    references: str = ""
    referenced_columns: tuple[str, ...] = ()


@dataclass
class Table:
    name: str
    columns: list[str] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)


def _names(nodes: Iterable[dict[str, Any]] | None) -> tuple[str, ...]:
    return tuple(str(node["String"]["sval"]) for node in nodes or ())


def _relation(node: dict[str, Any]) -> str:
    return f"{node.get('schemaname', 'public')}.{node['relname']}"


def _key(table: str, constraint: dict[str, Any], column: str | None = None) -> Key | None:
    """The key a constraint makes (None for NOT NULL, CHECK, DEFAULT ...), named as Postgres
    names it when the SQL gives no name."""
    kind = constraint["contype"]
    short = table.split(".", 1)[1]
    if kind in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
        columns = (column,) if column else _names(constraint.get("keys"))
        default = f"{short}_pkey" if kind == "CONSTR_PRIMARY" else f"{short}_{'_'.join(columns)}_key"
        label = "primary key" if kind == "CONSTR_PRIMARY" else "unique"
        return Key(label, str(constraint.get("conname") or default), columns)
    if kind == "CONSTR_FOREIGN":
        columns = (column,) if column else _names(constraint.get("fk_attrs"))
        return Key(
            "foreign key",
            str(constraint.get("conname") or f"{short}_{'_'.join(columns)}_fkey"),
            columns,
            _relation(constraint["pktable"]),
            _names(constraint.get("pk_attrs")),
        )
    return None


def read_tables(files: Iterable[Path]) -> dict[str, Table]:
    """The tables the files create in schema `app`, with their columns and keys."""
    tables: dict[str, Table] = {}
    for path in files:
        for item in json.loads(parse_sql_json(path.read_text()))["stmts"]:
            ((kind, stmt),) = item["stmt"].items()
            if kind == "CreateStmt" and stmt["relation"].get("schemaname") == SCHEMA:
                table = tables.setdefault(_relation(stmt["relation"]), Table(_relation(stmt["relation"])))
                for element in stmt.get("tableElts", []):
                    if "ColumnDef" in element:
                        column = element["ColumnDef"]
                        table.columns.append(column["colname"])
                        for constraint in column.get("constraints", []):
                            key = _key(table.name, constraint["Constraint"], column["colname"])
                            if key is not None:
                                table.keys.append(key)
                    elif "Constraint" in element:
                        key = _key(table.name, element["Constraint"])
                        if key is not None:
                            table.keys.append(key)
            elif kind == "IndexStmt" and stmt.get("unique") and _relation(stmt["relation"]) in tables:
                columns = tuple(
                    str(param["IndexElem"].get("name") or "(expression)") for param in stmt["indexParams"]
                )
                tables[_relation(stmt["relation"])].keys.append(Key("unique", str(stmt["idxname"]), columns))
            elif kind == "AlterTableStmt" and _relation(stmt["relation"]) in tables:
                table = tables[_relation(stmt["relation"])]
                for command in stmt["cmds"]:
                    definition = command["AlterTableCmd"].get("def", {})
                    if (
                        command["AlterTableCmd"]["subtype"] == "AT_AddConstraint"
                        and "Constraint" in definition
                    ):
                        key = _key(table.name, definition["Constraint"])
                        if key is not None:
                            table.keys.append(key)
    return tables


@dataclass(frozen=True)
class Declarations:
    root: str
    root_column: str
    reference: frozenset[str]
    breaches: frozenset[tuple[str, str]]  # (table, constraint)


def load_declarations(path: Path = DECLARATIONS) -> Declarations:
    data = tomllib.loads(path.read_text())
    for name, reason in data.get("reference", {}).items():
        if not str(reason).strip():
            raise ValueError(f"{path.name}: [reference] {name} gives no reason")
    for entry in data.get("breach", []):
        if not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path.name}: a [[breach]] gives no reason: {entry}")
    return Declarations(
        root=str(data["root"]["table"]),
        root_column=str(data["root"]["column"]),
        reference=frozenset(data.get("reference", {})),
        breaches=frozenset((str(e["table"]), str(e["constraint"])) for e in data.get("breach", [])),
    )


def _breaches(tables: dict[str, Table], declared: Declarations) -> Iterator[tuple[str, str, str]]:
    """(table, constraint or '', what is wrong) for each breach of the rules above."""

    def distribution_column(table: Table) -> str | None:
        if table.name == declared.root:
            return declared.root_column
        return TENANT_COLUMN if TENANT_COLUMN in table.columns else None

    for table in sorted(tables.values(), key=lambda t: t.name):
        column = distribution_column(table)
        if column is None:
            if table.name not in declared.reference:
                yield (
                    table.name,
                    "",
                    (f"has no {TENANT_COLUMN} and is not declared a reference table in {DECLARATIONS.name}"),
                )
            for key in table.keys:
                target = tables.get(key.references)
                if key.kind == "foreign key" and target is not None and distribution_column(target):
                    yield (
                        table.name,
                        key.name,
                        f"a reference table's foreign key to tenant table {target.name}",
                    )
            continue
        if table.name in declared.reference:
            yield table.name, "", f"is declared a reference table but has {column}: it is a tenant table"
        for key in table.keys:
            if key.kind in ("primary key", "unique") and column not in key.columns:
                yield table.name, key.name, f"{key.kind} ({', '.join(key.columns)}) does not include {column}"
            target = tables.get(key.references)
            if key.kind == "foreign key" and target is not None:
                target_column = distribution_column(target)
                if target_column is None:
                    continue  # to a reference table: any node has it
                pairs = dict(zip(key.columns, key.referenced_columns, strict=False))
                if pairs.get(column) != target_column:
                    what = f"foreign key to tenant table {target.name} does not include {column}"
                    yield table.name, key.name, what


def findings(files: Iterable[Path] | None = None, declarations: Path = DECLARATIONS) -> list[str]:
    """Each breach not declared, then each declared breach that no longer happens."""
    declared = load_declarations(declarations)
    tables = read_tables(files if files is not None else sorted(SCHEMA_DIR.glob("*.sql")))
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    for table, constraint, what in _breaches(tables, declared):
        if (table, constraint) in declared.breaches:
            seen.add((table, constraint))
        else:
            found.append(f"{table}{f' {constraint}' if constraint else ''}: {what}")
    for table, constraint in sorted(declared.breaches - seen):
        found.append(
            f"{declarations.name}: [[breach]] {table} {constraint}: nothing breaks it; remove the entry"
        )
    return found
