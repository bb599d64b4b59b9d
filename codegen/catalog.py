"""Reading functions and the types they use from a migrated database's pg_catalog, by OID.

The wire protocol reports only a domain's base type, so everything here comes from the
catalog: domains (with their NOT NULL and CHECK constraints), enums, composite types and table
row types (with column nullability), arrays, and each function's arguments, defaults, result
shape and comments. Nothing here maps to a target language; the emitters do that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import psycopg

from codegen.tags import TagError, Tags, parse_tags

TypeKind = Literal["base", "domain", "enum", "composite", "array", "pseudo", "range", "multirange"]

_KINDS: dict[str, TypeKind] = {
    "b": "base",
    "d": "domain",
    "e": "enum",
    "c": "composite",
    "p": "pseudo",
    "r": "range",
    "m": "multirange",
}

VOID_OID = 2278


# An attribute of a composite type cannot be declared NOT NULL; its comment can promise it.
NOT_NULL_TAG = re.compile(r"(?:^|\s)@notnull(?=\s|$)")


def not_null_tag(comment: str | None) -> tuple[bool, str | None]:
    """(whether the comment carries the @notnull tag, the comment without it)."""
    if comment is None or not NOT_NULL_TAG.search(comment):
        return False, comment
    return True, NOT_NULL_TAG.sub("", comment).strip() or None


class CodegenError(RuntimeError):
    """Generation cannot go on; the message names the object at fault."""


@dataclass(frozen=True)
class Column:
    """An attribute of a composite or row type, or a column of a RETURNS TABLE result."""

    name: str
    type_oid: int
    not_null: bool  # attnotnull; a NOT NULL domain is accounted for by Catalog.not_null
    comment: str | None = None


@dataclass(frozen=True)
class PgType:
    oid: int
    schema: str
    name: str
    kind: TypeKind
    # format_type(oid, -1): how SQL spells it in a cast, schema-qualified when needed. Without a
    # typmod (null) bpchar is `character` and bit is `bit`, which a cast reads as their (1).
    sql: str
    comment: str | None = None
    base_oid: int | None = None  # domain: the type it is over
    element_oid: int | None = None  # array: its element type
    domain_not_null: bool = False
    checks: tuple[str, ...] = ()  # domain: pg_get_constraintdef of each CHECK, by name
    labels: tuple[str, ...] = ()  # enum: labels in their sort order
    columns: tuple[Column, ...] = ()  # composite: attributes in order

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Arg:
    name: str
    type_oid: int
    has_default: bool
    variadic: bool = False


@dataclass(frozen=True)
class Function:
    oid: int
    schema: str
    name: str
    identity: str  # pg_get_function_identity_arguments: the argument list that identifies it
    args: tuple[Arg, ...]  # input arguments, in order
    return_oid: int
    returns_set: bool
    # RETURNS TABLE / OUT arguments: the row's columns, one or more. PostgREST answers rows
    # for these even with one column ({"x": 1}), though Postgres returns that one as a scalar.
    columns: tuple[Column, ...] | None
    strict: bool
    comment: str | None
    # STABLE or IMMUTABLE: it writes nothing, so a GET may call it (PostgREST runs GETs read-only).
    read_only: bool = False
    tags: Tags = field(default_factory=Tags)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def signature(self) -> str:
        return f"{self.schema}.{self.name}({self.identity})"

    @property
    def row_columns(self) -> tuple[Column, ...] | None:
        """The columns when there are two or more: a row in SQL, not a scalar."""
        return self.columns if self.columns is not None and len(self.columns) > 1 else None


@dataclass
class Catalog:
    functions: list[Function]
    types: dict[int, PgType] = field(default_factory=dict)
    # (schema, role) -> oids of the functions in schema that role may execute
    executable: dict[tuple[str, str], frozenset[int]] = field(default_factory=dict)

    def type(self, oid: int) -> PgType:
        return self.types[oid]

    def resolve(self, oid: int) -> PgType:
        """The type under any number of domains."""
        found = self.types[oid]
        while found.kind == "domain" and found.base_oid is not None:
            found = self.types[found.base_oid]
        return found

    def not_null(self, oid: int) -> bool:
        """True when a domain anywhere in the chain says NOT NULL."""
        found = self.types[oid]
        while found.kind == "domain":
            if found.domain_not_null:
                return True
            assert found.base_oid is not None
            found = self.types[found.base_oid]
        return False

    def domain_checks(self, oid: int) -> list[str]:
        """Every CHECK of the domain and of the domains under it."""
        checks: list[str] = []
        found = self.types[oid]
        while found.kind == "domain":
            checks.extend(found.checks)
            assert found.base_oid is not None
            found = self.types[found.base_oid]
        return checks


_FUNCTIONS = """
select p.oid::int, n.nspname::text, p.proname::text,
       pg_get_function_identity_arguments(p.oid),
       coalesce(p.proallargtypes, p.proargtypes::oid[])::int[],
       p.proargmodes::text[], p.proargnames, p.pronargdefaults::int, p.pronargs::int,
       p.prorettype::int, p.proretset, p.proisstrict, obj_description(p.oid, 'pg_proc'),
       p.provolatile <> 'v'
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = any(%(schemas)s) and p.prokind = 'f'
   and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
 order by n.nspname, p.proname, p.oid
"""

_TYPES = """
select t.oid::int, n.nspname::text, t.typname::text, t.typtype::text, format_type(t.oid, -1),
       obj_description(t.oid, 'pg_type'), t.typbasetype::int,
       case when t.typsubscript = 'pg_catalog.array_subscript_handler'::regproc then t.typelem::int end,
       t.typnotnull, t.typrelid::int
  from pg_type t
  join pg_namespace n on n.oid = t.typnamespace
 where t.oid = any(%(oids)s)
"""

_CHECKS = """
select contypid::int, pg_get_constraintdef(oid) from pg_constraint
 where contypid = any(%(oids)s) and contype = 'c' order by contypid, conname
"""

_LABELS = """
select enumtypid::int, enumlabel::text from pg_enum
 where enumtypid = any(%(oids)s) order by enumtypid, enumsortorder
"""

_ATTRIBUTES = """
select a.attrelid::int, a.attname::text, a.atttypid::int, a.attnotnull, col_description(a.attrelid, a.attnum)
  from pg_attribute a
 where a.attrelid = any(%(oids)s) and a.attnum > 0 and not a.attisdropped
 order by a.attrelid, a.attnum
"""

_EXECUTABLE = """
select n.nspname::text, r.rolname::text, array_agg(p.oid::int order by p.oid)
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  cross join pg_roles r
 where n.nspname = any(%(schemas)s) and r.rolname = any(%(roles)s)
   and has_function_privilege(r.oid, p.oid, 'EXECUTE')
 group by 1, 2
"""


def _function(row: tuple[object, ...]) -> Function:
    (oid, schema, name, identity, all_types, modes, names, n_defaults, n_inputs) = row[:9]
    (return_oid, returns_set, strict, comment, read_only) = row[9:]
    assert isinstance(all_types, list)
    assert isinstance(n_defaults, int)
    assert isinstance(n_inputs, int)
    qualified = f"{schema}.{name}"
    arg_modes: list[str] = list(modes) if isinstance(modes, list) else ["i"] * len(all_types)
    arg_names: list[str] = list(names) if isinstance(names, list) else [""] * len(all_types)
    first_default = n_inputs - n_defaults
    inputs: list[Arg] = []
    outputs: list[Column] = []
    for position, (type_oid, mode) in enumerate(zip(all_types, arg_modes, strict=True)):
        arg_name = arg_names[position] if position < len(arg_names) else ""
        if mode in ("i", "b", "v"):
            if not arg_name:
                raise CodegenError(f"{qualified}({identity}): argument {position + 1} has no name")
            inputs.append(Arg(arg_name, int(type_oid), len(inputs) >= first_default, mode == "v"))
        if mode in ("o", "b", "t"):
            # Postgres names an unnamed output column by its position: column1, column2 ...
            outputs.append(Column(arg_name or f"column{len(outputs) + 1}", int(type_oid), False))
    assert len(inputs) == n_inputs
    columns = tuple(outputs) if outputs else None
    try:
        tags = parse_tags(str(comment) if comment is not None else None)
    except TagError as error:
        raise CodegenError(f"{qualified}({identity}): {error}") from None
    known = {arg.name for arg in inputs}
    unknown = sorted(set(tags.args) - known)
    if unknown:
        raise CodegenError(f"{qualified}({identity}): @arg names no argument: {', '.join(unknown)}")
    return Function(
        oid=int(str(oid)),
        schema=str(schema),
        name=str(name),
        identity=str(identity),
        args=tuple(inputs),
        return_oid=int(str(return_oid)),
        returns_set=bool(returns_set),
        columns=columns,
        strict=bool(strict),
        comment=str(comment) if comment is not None else None,
        read_only=bool(read_only),
        tags=tags,
    )


def _type_oids(function: Function) -> Iterable[int]:
    yield from (arg.type_oid for arg in function.args)
    yield function.return_oid
    yield from (column.type_oid for column in function.columns or ())
    yield from (tag.oid for tag in [*function.tags.args.values(), function.tags.result] if tag)


def _resolve_tags(conn: psycopg.Connection, functions: list[Function]) -> list[Function]:
    """The functions with their tags' type names looked up (CodegenError names an unknown one)."""
    names = sorted({name for function in functions for name in function.tags.type_names()})
    oids: dict[str, int] = {}
    for name in names:
        found = conn.execute("select to_regtype(%s)::oid::int", [name]).fetchone()
        oids[name] = found[0] if found and found[0] else 0
    resolved = []
    for function in functions:
        missing = [name for name in function.tags.type_names() if not oids[name]]
        if missing:
            raise CodegenError(f"{function.signature}: a tag names no type: {', '.join(missing)}")
        resolved.append(replace(function, tags=function.tags.resolved(oids)) if names else function)
    return resolved


def load_types(conn: psycopg.Connection, catalog: Catalog, wanted: Iterable[int]) -> None:
    """Load the types and, recursively, every type they are made of."""
    pending = {oid for oid in wanted if oid not in catalog.types}
    while pending:
        oids = sorted(pending)
        checks: dict[int, list[str]] = {}
        for type_oid, definition in conn.execute(_CHECKS, {"oids": oids}):
            checks.setdefault(type_oid, []).append(definition)
        labels: dict[int, list[str]] = {}
        for type_oid, label in conn.execute(_LABELS, {"oids": oids}):
            labels.setdefault(type_oid, []).append(label)
        rows = conn.execute(_TYPES, {"oids": oids}).fetchall()
        relids = [row[9] for row in rows if row[9]]
        attributes: dict[int, list[Column]] = {}
        for relid, name, type_oid, not_null, comment in conn.execute(_ATTRIBUTES, {"oids": relids}):
            promised, doc = not_null_tag(comment)
            attributes.setdefault(relid, []).append(Column(name, type_oid, not_null or promised, doc))
        missing = set(oids) - {row[0] for row in rows}
        if missing:
            raise CodegenError(f"types not found in the catalog: {sorted(missing)}")
        pending = set()
        for oid, schema, name, typtype, sql, comment, base, element, not_null, relid in rows:
            kind = _KINDS.get(typtype)
            if kind is None:
                raise CodegenError(f"type {sql} has an unknown typtype {typtype!r}")
            if element:
                kind = "array"
            pg_type = PgType(
                oid=oid,
                schema=schema,
                name=name,
                kind=kind,
                sql=sql,
                comment=comment,
                base_oid=base or None,
                element_oid=element or None,
                domain_not_null=bool(not_null) and kind == "domain",
                checks=tuple(checks.get(oid, ())),
                labels=tuple(labels.get(oid, ())),
                columns=tuple(attributes.get(relid, ())) if relid else (),
            )
            catalog.types[oid] = pg_type
            refs = [base, element, *(column.type_oid for column in pg_type.columns)]
            pending.update(ref for ref in refs if ref and ref not in catalog.types)


def read_catalog(
    conn: psycopg.Connection,
    schemas: Iterable[str],
    grants: Iterable[tuple[str, str]] = (),
) -> Catalog:
    """Every function of the schemas (with the types they use) and which roles may run them."""
    schema_list = sorted(set(schemas) | {schema for schema, _ in grants})
    rows = conn.execute(_FUNCTIONS, {"schemas": schema_list}).fetchall()
    catalog = Catalog(functions=_resolve_tags(conn, [_function(row) for row in rows]))
    load_types(conn, catalog, (oid for function in catalog.functions for oid in _type_oids(function)))
    roles = sorted({role for _, role in grants})
    if roles:
        for schema, role, oids in conn.execute(_EXECUTABLE, {"schemas": schema_list, "roles": roles}):
            catalog.executable[(schema, role)] = frozenset(oids)
    return catalog


# In a function's comment: not part of the API's surface; no grant expected, no client made.
INTERNAL_MARKER = re.compile(r"(?<![\w@])@internal\b")


def is_internal(function: Function) -> bool:
    return function.comment is not None and INTERNAL_MARKER.search(function.comment) is not None


def api_functions(catalog: Catalog, schema: str, roles: Iterable[str]) -> list[Function]:
    """The functions of the API schema that the clients get: those some API role may execute,
    but those whose comment says @internal. A function no API role may execute is no part of
    the API (its call answers 401 42501), so it gets no client. One that some API roles may
    execute and others not is a grant forgotten: CodegenError names each such."""
    # PostgREST sees every function of the schema, internal or not granted: any two of one name
    # make each call of that name ambiguous (PGRST203).
    refuse_overloads(function for function in catalog.functions if function.schema == schema)
    roles = tuple(roles)
    chosen = []
    ungranted = []
    for function in catalog.functions:
        if function.schema != schema or is_internal(function):
            continue
        missing = [
            role for role in roles if function.oid not in catalog.executable.get((schema, role), frozenset())
        ]
        if len(missing) == len(roles):
            continue
        chosen.append(function)
        if missing:
            ungranted.append(f"{function.signature} (not by {', '.join(missing)})")
    if ungranted:
        raise CodegenError(
            "functions of the API that an API role may not execute: "
            + "; ".join(sorted(ungranted))
            + f". Grant them (sql/grants/{schema}.sql) or mark their comment @internal."
        )
    return chosen


def refuse_overloads(functions: Iterable[Function]) -> None:
    """PostgREST and the clients call by name: two functions of one name are ambiguous."""
    by_name: dict[str, list[str]] = {}
    for function in functions:
        by_name.setdefault(function.qualified, []).append(function.signature)
    overloaded = sorted(", ".join(sorted(group)) for group in by_name.values() if len(group) > 1)
    if overloaded:
        raise CodegenError(f"overloaded functions are not supported: {'; '.join(overloaded)}")
