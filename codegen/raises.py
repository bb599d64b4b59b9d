"""The error codes each function can raise, found by parsing function bodies with pglast.

The catalog keeps no record of what a function raises, so this reads every PL/pgSQL and SQL
function body (as `pg_get_functiondef` prints it, so it is what the database runs) and finds:

- `raise sqlstate 'PGRST' using message = '<json>'`: the JSON's `"code"`; the message may also
  be a `json_build_object('code', '<code>', ...)` expression;
- calls to a *raise helper* (e.g. `util.raise_error(401, 'auth.not_signed_in', ...)`), whose
  code is a literal argument at a configured position;
- calls to other functions (and procedures, with CALL), whose codes are added transitively
  (`auth.require_user()` makes every caller able to raise `auth.not_signed_in`); an
  unqualified name is looked up along the function's own `set search_path` (or
  `default_search_path` when it sets none), as Postgres would;
- `insert`, `update`, `delete` and `merge` statements: the trigger functions that fire on that
  table for that event are callees too, and so are those that fire on the tables its foreign
  keys' actions write in turn (a delete that cascades deletes there, set null updates), and on
  the table under a view it writes through;
- every relation a statement names, read or written (a CTE's name is none): the functions
  that what it has attached runs for that statement call are callees (_ATTACHED_RUNS: a view's
  definition and SELECT policies for any; the policies of its command; column defaults,
  CHECKs and its columns' domains' CHECKs for an insert or update), and so are those of the
  relations these read in turn (a view's tables, a policy's subquery). A domain's CHECK is
  followed there only, not for a variable or an argument of that domain.

Dynamic SQL (`EXECUTE`, `RETURN QUERY EXECUTE`, `FOR ... IN EXECUTE`, `OPEN ... FOR EXECUTE`)
cannot be read: a function that runs it, or calls one that does, has codes no one can list, and
`opaque` says why, unless its comment declares them (`@raises code, ...`, codegen/tags.py).

A coded raise whose code is not a literal stops generation with the function and line: the
list must be exact or say why it cannot be. The result is a superset: a code raised by a
callee counts even if the caller catches it. pglast is GPL: only codegen imports this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import parse_plpgsql
from pglast.parser import ParseError, parse_sql_json, scan

from codegen.catalog import CodegenError
from codegen.tags import TagError, parse_tags

PGRST = "PGRST"
_RAISE_ERRCODE, _RAISE_MESSAGE = 0, 1
_ASSIGNMENT = re.compile(r"^\s*[^:=]+?:=", re.DOTALL)
_ASSIGNMENT_EQ = re.compile(r"^\s*[A-Za-z_][\w.\"\[\]]*\s*=", re.DOTALL)

_SCHEMAS = """
select nspname::text from pg_namespace
 where nspname not in ('pg_catalog', 'public', 'information_schema') and nspname not like 'pg\\_%%'
"""

_BODIES = """
select p.oid::int, n.nspname::text, p.proname::text, l.lanname::text, pg_get_functiondef(p.oid), p.prosrc,
       p.proconfig::text[], obj_description(p.oid, 'pg_proc')
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_language l on l.oid = p.prolang
 where p.prokind in ('f', 'p') and l.lanname in ('plpgsql', 'sql')
   and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%%'
   and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
 order by n.nspname, p.proname, p.oid
"""

_TRIGGERS = """
select n.nspname::text || '.' || c.relname::text, f.nspname::text || '.' || p.proname::text, t.tgtype::int
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_proc p on p.oid = t.tgfoid
  join pg_namespace f on f.oid = p.pronamespace
 where not t.tgisinternal
"""

# Foreign keys whose actions write the referencing table: (referenced, referencing, on delete,
# on update), pg_constraint's letters (c cascade, n set null, d set default).
_REFERENTIAL_ACTIONS = """
select r.nspname::text || '.' || rc.relname::text, n.nspname::text || '.' || c.relname::text,
       k.confdeltype::text, k.confupdtype::text
  from pg_constraint k
  join pg_class c on c.oid = k.conrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_class rc on rc.oid = k.confrelid
  join pg_namespace r on r.oid = rc.relnamespace
 where k.contype = 'f'
"""

# What a statement that reads or writes a relation runs besides its triggers: the functions its
# column defaults, policies, CHECK constraints and (a view) rewrite rule call, and those of the
# CHECKs of the domains its columns are of (or of their arrays' elements); and the relations
# these read (a view's base tables, a policy's subquery), whose own are run in turn. `via` says
# which of them, a policy with its command (pg_policy.polcmd: r, a, w, d or *).
_ATTACHED = """
with recursive column_domains(rel, typid) as (
  select a.attrelid, d.oid
    from pg_attribute a
    join pg_type t on t.oid = a.atttypid
    join pg_type d on d.oid in (t.oid, t.typelem) and d.typtype = 'd'
   where a.attnum > 0 and not a.attisdropped
  union
  select c.rel, t.typbasetype from column_domains c join pg_type t on t.oid = c.typid
   where t.typtype = 'd'
),
attached(rel, via, classid, objid) as (
  select adrelid, 'default', 'pg_attrdef'::regclass, oid from pg_attrdef
  union all select polrelid, 'policy ' || polcmd::text, 'pg_policy'::regclass, oid from pg_policy
  union all select ev_class, 'rule', 'pg_rewrite'::regclass, oid from pg_rewrite
  union all select conrelid, 'check', 'pg_constraint'::regclass, oid from pg_constraint
             where contype = 'c' and conrelid <> 0
  union all select c.rel, 'domain', 'pg_constraint'::regclass, k.oid
              from column_domains c join pg_constraint k on k.contypid = c.typid
)
select distinct n.nspname::text || '.' || c.relname::text, a.via,
       coalesce(pn.nspname::text || '.' || p.proname::text, rn.nspname::text || '.' || rc.relname::text),
       d.refclassid = 'pg_proc'::regclass
  from attached a
  join pg_depend d on d.classid = a.classid and d.objid = a.objid
  join pg_class c on c.oid = a.rel
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_proc p on d.refclassid = 'pg_proc'::regclass and p.oid = d.refobjid
  left join pg_namespace pn on pn.oid = p.pronamespace
  left join pg_class rc on d.refclassid = 'pg_class'::regclass and rc.oid = d.refobjid
       and rc.relkind in ('r', 'p', 'v', 'f', 'm') and rc.oid <> a.rel
  left join pg_namespace rn on rn.oid = rc.relnamespace
 where p.oid is not null or rc.oid is not null
"""

_RELATIONS = """
select n.nspname::text || '.' || c.relname::text from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%%'
"""

# pg_trigger.tgtype's bits for the events a statement fires.
_INSERT, _DELETE, _UPDATE = 4, 8, 16
# A statement that reads a relation (no trigger has this bit).
_READ = 1 << 10
_ANY = _READ | _INSERT | _UPDATE | _DELETE
# For which statements each attached object runs: a view's definition and a SELECT policy (which
# also filters the rows an UPDATE or DELETE reads) for any; a column default, a CHECK and a
# domain's CHECK when a row is written; other policies for their command.
_ATTACHED_RUNS = {
    "rule": _ANY,
    "policy r": _ANY,
    "policy *": _ANY,
    "policy a": _INSERT,
    "policy w": _UPDATE,
    "policy d": _DELETE,
    "default": _INSERT | _UPDATE,
    "check": _INSERT | _UPDATE,
    "domain": _INSERT | _UPDATE,
}
_WRITES = {"InsertStmt": _INSERT, "UpdateStmt": _UPDATE, "DeleteStmt": _DELETE}
_MERGE = _INSERT | _UPDATE | _DELETE
# What a foreign key's actions do to the referencing rows: a delete's cascade deletes them, set
# null and set default update them, as an update's cascade does; no action and restrict write
# nothing.
_ON_DELETE_WRITES = {"c": _DELETE, "n": _UPDATE, "d": _UPDATE}
_ON_UPDATE_WRITES = {"c": _UPDATE, "n": _UPDATE, "d": _UPDATE}
_DYNAMIC = ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors")


_COMMENTS = ("SQL_COMMENT", "C_COMMENT")


def _is_name(token: Any) -> bool:
    """An identifier, or a keyword, which names a schema, type or table unquoted (`admin`)."""
    return bool(token.name == "IDENT" or token.kind != "NO_KEYWORD")


def _types_as_text(sql: str, schemas: frozenset[str], *, in_body: bool = False) -> str:
    """`sql`, a function's definition as `pg_get_functiondef` prints it, with every type
    qualified with one of `schemas` written `text`: pglast's PL/pgSQL parser refuses
    declarations of types qualified with a schema other than pg_catalog and public, and for
    finding raises and calls the types do not matter. (Not a name in public: the parser would
    then drop a declaration's default value, which may call a function.)

    Types are declared in the header and in the body's DECLARE sections, and only there are
    names rewritten: the body's statements are parsed as SQL, which takes any name, and the
    tables they write are what finds the triggers that fire. Names are found by Postgres's own
    scanner, so nothing inside a comment, a string or a quoted identifier is touched, and a name
    followed by "(" is a call, which stays. The body, the dollar-quoted string, is scanned in
    turn."""
    tokens = [token for token in scan(sql) if token.name not in _COMMENTS]
    pieces, copied, skip_to = [], 0, 0
    declaring = not in_body
    for i, token in enumerate(tokens):
        if in_body and token.name in ("DECLARE", "BEGIN_P"):
            declaring = token.name == "DECLARE"
        if i < skip_to:
            continue
        text = sql[token.start : token.end + 1]
        if token.name == "SCONST" and text.startswith("$") and not in_body:
            tag = text[: text.index("$", 1) + 1]
            inner_start, inner_end = token.start + len(tag), token.end + 1 - len(tag)
            pieces += [
                sql[copied:inner_start],
                _types_as_text(sql[inner_start:inner_end], schemas, in_body=True),
            ]
            copied = inner_end
        elif (
            declaring
            and _is_name(token)
            and text.lower() in schemas
            and len(tokens) > i + 2
            and tokens[i + 1].name == "ASCII_46"
            and _is_name(tokens[i + 2])
            and (i + 3 == len(tokens) or tokens[i + 3].name != "ASCII_40")
        ):
            pieces += [sql[copied : token.start], "text"]
            copied, skip_to = tokens[i + 2].end + 1, i + 3
    return "".join([*pieces, sql[copied:]])


def search_path(config: list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """The schemas a function's unqualified names are looked up in: its `set search_path`."""
    for setting in config or ():
        name, _, value = setting.partition("=")
        if name == "search_path":
            schemas = (part.strip().strip('"') for part in value.split(","))
            return tuple(schema for schema in schemas if schema and schema != "$user")
    return default


@dataclass(frozen=True)
class RaiseConfig:
    """Which functions raise coded errors for others, and what every API call can raise."""

    # qualified name of a raise helper -> 0-based position of its code argument
    helpers: Mapping[str, int] = field(default_factory=dict)
    # PostgREST's db-pre-request function: what it raises, every API call can raise
    pre_request: str | None = None
    # Schemas of someone else's code (a library's functions), which raise no code of ours.
    ignored_schemas: frozenset[str] = frozenset()
    # Where unqualified names of a function without its own `set search_path` are looked up.
    default_search_path: tuple[str, ...] = ("public",)


@dataclass(frozen=True)
class _Body:
    oid: int
    qualified: str
    direct: frozenset[str]
    callees: frozenset[str]
    dynamic: str | None  # where it runs dynamic SQL, if it does and declares no codes
    declared: bool  # its comment says what it raises (@raises)


@dataclass
class ErrorCodes:
    """Codes per function (by OID), transitively closed over calls; and the pre-request's."""

    by_oid: dict[int, frozenset[str]]
    common: frozenset[str]
    # Functions whose codes cannot all be known (dynamic SQL, theirs or a callee's): why.
    opaque: dict[int, str] = field(default_factory=dict)
    by_name: dict[str, frozenset[str]] = field(default_factory=dict)  # by qualified name

    def of_name(self, qualified: str) -> frozenset[str]:
        """What the function(s) of that name can raise (the edge's routes name their function)."""
        return self.by_name.get(qualified, frozenset())

    def of(self, oid: int) -> frozenset[str]:
        """What a function can raise: its own codes and its callees', without the common ones."""
        return self.by_oid.get(oid, frozenset())


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _walk_lines(node: Any, line: object = None) -> Iterator[tuple[dict[str, Any], object]]:
    """Every dict with the line of the innermost PL/pgSQL statement around it."""
    if isinstance(node, dict):
        line = node.get("lineno", line)
        yield node, line
        for value in node.values():
            yield from _walk_lines(value, line)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_lines(item, line)


def _name(func_call: dict[str, Any]) -> str:
    return ".".join(part["String"]["sval"] for part in func_call["funcname"])


def _string_constant(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    if "TypeCast" in node:
        return _string_constant(node["TypeCast"]["arg"])
    constant = node.get("A_Const")
    if isinstance(constant, dict) and "sval" in constant:
        return str(constant["sval"]["sval"])
    return None


def _parse(sql: str) -> Any:
    return json.loads(parse_sql_json(sql))


def _expression(query: str) -> Any:
    """The parsed node of a PL/pgSQL expression's value (`select <query>`'s one target)."""
    return _parse(f"select {query}")["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]


def _expression_sql(query: str, parse_mode: int) -> str:
    """A PL/pgSQL expression as a statement pglast can parse."""
    if parse_mode == 0:
        return query
    if parse_mode in (3, 4, 5):  # `target := expression`
        match = _ASSIGNMENT.match(query) or _ASSIGNMENT_EQ.match(query)
        if match:
            query = query[match.end() :]
    return f"select {query}"


@dataclass(frozen=True)
class _Names:
    """What unqualified names can resolve to: functions with a body, helpers, relations."""

    functions: frozenset[str]
    relations: frozenset[str]
    triggers: Mapping[str, tuple[tuple[str, int], ...]]  # relation -> (trigger function, tgtype)
    # relation -> (referencing relation, the events a delete of it fires there, an update's)
    cascades: Mapping[str, tuple[tuple[str, int, int], ...]] = field(default_factory=dict)
    # relation -> (the statements it runs for, function or relation, its name): what its
    # defaults, policies, checks and rule call, and the relations they read (_ATTACHED)
    attached: Mapping[str, tuple[tuple[int, bool, str], ...]] = field(default_factory=dict)
    # view -> its base relations, whose triggers a write through it fires
    view_bases: Mapping[str, frozenset[str]] = field(default_factory=dict)


class _Analysis:
    def __init__(self, qualified: str, config: RaiseConfig, path: tuple[str, ...], names: _Names) -> None:
        self.qualified = qualified
        self.config = config
        self.path = path
        self.names = names
        self.codes: set[str] = set()
        self.callees: set[str] = set()
        self.dynamic: str | None = None

    def resolve(self, name: str, known: frozenset[str]) -> str | None:
        if "." in name:
            return name
        return next((f"{schema}.{name}" for schema in self.path if f"{schema}.{name}" in known), None)

    def relation(self, relation: Any, ctes: frozenset[str]) -> str | None:
        """The relation a statement names (a RangeVar), qualified; None when it is none of ours
        (a name of one of the statement's CTEs, say)."""
        if not isinstance(relation, dict) or "relname" not in relation:
            return None
        name = relation["relname"]
        if relation.get("schemaname"):
            name = f"{relation['schemaname']}.{name}"
        elif name in ctes:
            return None
        return self.resolve(name, self.names.relations)

    def writes(self, relation: Any, events: int, ctes: frozenset[str]) -> None:
        """A statement that writes `relation`: the triggers that fire on it are callees, and
        what its attached objects run for the write."""
        table = self.relation(relation, ctes)
        if table is not None:
            self.fires(table, events, set())
            self.uses(table, events, set())

    def uses(self, table: str, events: int, reached: set[tuple[str, int]]) -> None:
        """A statement that reads `table` (events _READ) or writes it: what its defaults,
        policies, checks and rule run for that statement are callees, and so is what the
        relations they read run for a read, in turn."""
        if (table, events) in reached:
            return
        reached.add((table, events))
        for runs, is_function, name in self.names.attached.get(table, ()):
            if not runs & events:
                continue
            if is_function:
                self.callees.add(name)
            else:
                self.uses(name, _READ, reached)

    def fires(self, table: str, events: int, reached: set[tuple[str, int]]) -> None:
        """The triggers a write fires on `table`, and on the tables its foreign keys' actions
        write in turn (a delete that cascades deletes, one that sets null updates)."""
        if (table, events) in reached:
            return
        reached.add((table, events))
        for function, tgtype in self.names.triggers.get(table, ()):
            if tgtype & events:
                self.callees.add(function)
        for base in self.names.view_bases.get(table, ()):  # a write through a view writes its table
            self.fires(base, events, reached)
        for referencing, on_delete, on_update in self.names.cascades.get(table, ()):
            cascaded = (on_delete if events & _DELETE else 0) | (on_update if events & _UPDATE else 0)
            if cascaded:
                self.fires(referencing, cascaded, reached)

    def fail(self, line: object, what: str) -> CodegenError:
        where = f"{self.qualified}" + (f" line {line}" if line else "")
        return CodegenError(f"{where}: {what}")

    def sql(self, tree: Any, line: object = None) -> None:
        """Calls in a parsed SQL statement: raise helpers give codes, others are callees."""
        ctes = frozenset(
            str(node["CommonTableExpr"]["ctename"])
            for node in _walk(tree)
            if isinstance(node.get("CommonTableExpr"), dict)
        )
        for node in _walk(tree):
            for statement, events in _WRITES.items():
                if isinstance(node.get(statement), dict):
                    write = node[statement]
                    upsert = write.get("onConflictClause", {}).get("action") == "ONCONFLICT_UPDATE"
                    self.writes(write.get("relation"), events | (_UPDATE if upsert else 0), ctes)
            if isinstance(node.get("MergeStmt"), dict):
                self.writes(node["MergeStmt"].get("relation"), _MERGE, ctes)
            # A relation read (a write's target is a bare RangeVar, which writes() takes).
            table = self.relation(node.get("RangeVar"), ctes)
            if table is not None:
                self.uses(table, _READ, set())
            call = node.get("FuncCall")
            if isinstance(node.get("CallStmt"), dict):  # CALL's procedure is no FuncCall node
                call = node["CallStmt"].get("funccall")
            if not isinstance(call, dict):
                continue
            name = self.resolve(_name(call), self.names.functions)
            if name is None:
                continue  # a built-in, or a function of no schema we read
            position = self.config.helpers.get(name)
            if position is None:
                self.callees.add(name)
                continue
            args = call.get("args") or []
            code = _string_constant(args[position]) if position < len(args) else None
            if code is None:
                raise self.fail(line, f"{name}(...) is called with a code that is not a literal")
            self.codes.add(code)

    def message_code(self, message: Any, line: object) -> str:
        """The code in a PGRST raise's message: a JSON literal or a json_build_object(...)."""
        literal = _string_constant(message)
        if literal is not None:
            try:
                decoded = json.loads(literal)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict) and isinstance(decoded.get("code"), str):
                return str(decoded["code"])
            raise self.fail(line, f"RAISE SQLSTATE 'PGRST' message is not JSON with a code: {literal}")
        for node in _walk(message):
            call = node.get("FuncCall")
            if isinstance(call, dict) and _name(call).split(".")[-1] in (
                "json_build_object",
                "jsonb_build_object",
            ):
                args = call.get("args") or []
                for key, value in zip(args[::2], args[1::2], strict=False):
                    if _string_constant(key) == "code":
                        code = _string_constant(value)
                        if code is not None:
                            return code
        raise self.fail(line, "cannot tell the code of this RAISE SQLSTATE 'PGRST' (not a literal)")

    def plpgsql(self, definition: str, schemas: frozenset[str]) -> None:
        try:
            tree = parse_plpgsql(_types_as_text(definition, schemas))
        except ParseError as error:
            raise self.fail(None, f"pglast cannot parse the body: {error}") from error
        for node, line in _walk_lines(tree):
            dynamic = any(key in node for key in _DYNAMIC) or any(
                isinstance(node.get(key), dict) and node[key].get("dynquery")
                for key in ("PLpgSQL_stmt_return_query", "PLpgSQL_stmt_open")
            )
            if dynamic and self.dynamic is None:
                self.dynamic = f"{self.qualified} line {line} runs dynamic SQL (EXECUTE)"
            raise_stmt = node.get("PLpgSQL_stmt_raise")
            if isinstance(raise_stmt, dict):
                self.raise_statement(raise_stmt)
            expr = node.get("PLpgSQL_expr")
            if isinstance(expr, dict) and "query" in expr:
                statement = _expression_sql(expr["query"], int(expr.get("parseMode", 0)))
                try:
                    tree = _parse(statement)
                except ParseError as error:
                    raise self.fail(None, f"cannot parse {expr['query']!r}: {error}") from error
                self.sql(tree, line)

    @staticmethod
    def constant(expression: str) -> str | None:
        """The string an expression is, when it is a literal (cast or not): `'PGRST'::text`."""
        try:
            return _string_constant(_expression(expression))
        except ParseError:
            return None

    def raise_statement(self, stmt: dict[str, Any]) -> None:
        options = {
            option["PLpgSQL_raise_option"]["opt_type"]: option["PLpgSQL_raise_option"]["expr"]["PLpgSQL_expr"]
            for option in stmt.get("options") or []
        }
        errcode = options.get(_RAISE_ERRCODE)
        coded = stmt.get("condname") == PGRST or (
            errcode is not None and self.constant(errcode["query"]) == PGRST
        )
        if not coded:
            return
        line = stmt.get("lineno")
        message = options.get(_RAISE_MESSAGE)
        if message is None:
            raise self.fail(line, "RAISE SQLSTATE 'PGRST' without a MESSAGE")
        self.codes.add(self.message_code(_expression(message["query"]), line))


def _analyse(row: tuple[Any, ...], config: RaiseConfig, schemas: frozenset[str], names: _Names) -> _Body:
    oid, schema, name, language, definition, source, proconfig, comment = row
    qualified = f"{schema}.{name}"
    path = search_path(proconfig, config.default_search_path)
    analysis = _Analysis(qualified, config, path, names)
    try:
        declared = parse_tags(comment).raises
    except TagError as error:
        raise CodegenError(f"{qualified}: {error}") from None
    if qualified not in config.helpers:  # a helper raises the code its caller gives it
        if language == "plpgsql":
            analysis.plpgsql(definition, schemas)
        else:
            analysis.sql(_parse(source if source.strip() else definition))
    analysis.callees.discard(qualified)
    return _Body(
        oid,
        qualified,
        frozenset(analysis.codes | (declared or set())),
        frozenset(analysis.callees),
        analysis.dynamic if declared is None else None,
        declared is not None,
    )


def error_codes(conn: psycopg.Connection, config: RaiseConfig) -> ErrorCodes:
    """Parse every PL/pgSQL and SQL function of the database and close codes over calls."""
    schemas = frozenset(name for (name,) in conn.execute(_SCHEMAS))
    rows = [row for row in conn.execute(_BODIES) if row[1] not in config.ignored_schemas]
    triggers: dict[str, list[tuple[str, int]]] = {}
    for table, function, tgtype in conn.execute(_TRIGGERS):
        triggers.setdefault(table, []).append((function, tgtype))
    cascades: dict[str, list[tuple[str, int, int]]] = {}
    for referenced, referencing, on_delete, on_update in conn.execute(_REFERENTIAL_ACTIONS):
        cascades.setdefault(referenced, []).append(
            (referencing, _ON_DELETE_WRITES.get(on_delete, 0), _ON_UPDATE_WRITES.get(on_update, 0))
        )
    attached: dict[str, list[tuple[int, bool, str]]] = {}
    view_bases: dict[str, set[str]] = {}
    for relation, via, referenced, is_function in conn.execute(_ATTACHED):
        attached.setdefault(relation, []).append((_ATTACHED_RUNS[via], bool(is_function), referenced))
        if via == "rule" and not is_function:
            view_bases.setdefault(relation, set()).add(referenced)
    names = _Names(
        functions=frozenset(f"{row[1]}.{row[2]}" for row in rows) | frozenset(config.helpers),
        relations=frozenset(name for (name,) in conn.execute(_RELATIONS)),
        triggers={table: tuple(found) for table, found in triggers.items()},
        cascades={table: tuple(found) for table, found in cascades.items()},
        attached={table: tuple(sorted(found)) for table, found in attached.items()},
        view_bases={table: frozenset(found) for table, found in view_bases.items()},
    )
    bodies = [_analyse(row, config, schemas, names) for row in rows]
    by_oid = {body.oid: set(body.direct) for body in bodies}
    opaque = {body.oid: body.dynamic for body in bodies if body.dynamic}
    changed = True
    while changed:  # fixpoint: propagate callees' codes (and opacity) until nothing grows
        changed = False
        by_name: dict[str, set[str]] = {}
        opaque_names: dict[str, str] = {}
        for body in bodies:
            by_name.setdefault(body.qualified, set()).update(by_oid[body.oid])
            if body.oid in opaque:
                opaque_names.setdefault(body.qualified, opaque[body.oid])
        for body in bodies:
            codes = by_oid[body.oid]
            before = len(codes)
            for callee in sorted(body.callees):
                codes.update(by_name.get(callee, ()))
                if callee in opaque_names and not body.declared and body.oid not in opaque:
                    opaque[body.oid] = opaque_names[callee]
                    changed = True
            changed = changed or len(codes) != before
    # The last pass changed nothing, so by_name is closed too.
    common = by_name.get(config.pre_request, set()) if config.pre_request else set()
    return ErrorCodes(
        by_oid={oid: frozenset(codes) for oid, codes in by_oid.items()},
        common=frozenset(common),
        opaque=opaque,
        by_name={name: frozenset(codes) for name, codes in by_name.items()},
    )
