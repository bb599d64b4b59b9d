"""`just sql-lint`: static checks over the SQL, for what tests miss; each finding names its object.

- plpgsql: plpgsql_check over every PL/pgSQL function in our schemas (util, app, auth, api,
  pipeline, admin), each trigger function against every table it is a trigger of (and its
  transition tables), on a freshly migrated scratch database: no error, and none of its
  warnings (unused, never read, shadowed or overlapped variables, hidden casts, volatility...).
- foreign keys: on the same database, every foreign key of our schemas has an index that starts
  with its columns (foreign-key-without-index), so a delete of a row it refers to reads no table
  whole.
- migrations: squawk over every migration, `migrations/NNNN.name.sql` (not the rollbacks: a
  rollback drops what its migration made, which is what squawk's rules forbid), with the settings
  in `.squawk.toml`; and a rule of ours squawk lacks, reported as its own: no CHECK written with
  a column added to an existing table (constraint-on-added-column), and timeouts that bound
  something: none set to 0, default or reset before the work (timeout-without-bound), none
  `local` outside a transaction (set-local-outside-transaction), and no lock waited for longer
  than deploy/migrate.py's LOCK_WAIT in a transaction (lock-timeout-too-long: requests queue
  behind the wait, and migrate tries again a migration that gives way); no statement that rewrites a
  table the migration did not make (table-rewrite: set logged, cluster, vacuum full …).
- rollbacks: every migration has one (rollback-missing), and each rollback run in a transaction
  sets lock_timeout and statement_timeout first.
- migration numbers: no two migrations share one (migration-number-taken): yoyo orders them by
  name, and one numbered as a landed one runs among them.
- landed migrations: no file of migrations/ (a migration or its rollback) that main's history
  holds differs from its text in the commit that first added it (migration-edited), but those
  excused by checksum (`[[edited_migration]]`); without git, or in a shallow clone, it says
  what it could not see instead of failing.
- calls: every function call in the stateless layer (the files sql/stateless.txt lists: function
  bodies, PL/pgSQL ones included, views, policies) names its schema, pg_catalog included.
- distribution: the schema stays distributable by tenant (ops/distribution_lint.py, with its
  declarations and known breaches in sql/distribution.toml).

A finding that is meant stays only as an entry in sql/lint-exceptions.toml, with its reason; an
entry that excuses nothing is a finding too. `--no-database` runs the checks that need no
database (`just lint` does); `./dev test` runs them all as its stage `sql-lint`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pglast import parse_plpgsql
from pglast.parser import ParseError, parse_sql_json, scan

from codegen.raises import _expression_sql, _walk, _walk_lines
from deploy.migrate import (
    LOCK_WAIT,
    MIGRATIONS_DIR,
    OUR_CODE_SCHEMAS,
    migrate,
    migration_files,
    stateless_files,
)
from ops.distribution_lint import SCHEMA_DIR
from ops.distribution_lint import findings as distribution_findings
from ops.new_migration import next_number
from ops.scratch import scratch_database, scratch_server
from ops.settings import ROOT, recipe_parser

EXCEPTIONS_FILE = ROOT / "sql" / "lint-exceptions.toml"
SQUAWK_CONFIG = ROOT / ".squawk.toml"


@dataclass(frozen=True)
class Finding:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _line(source: bytes, offset: int) -> int:
    return source.count(b"\n", 0, max(offset, 0)) + 1


@dataclass(frozen=True)
class Excused:
    """One entry of an exceptions file: the findings it excuses, as (rule or message, object)."""

    keys: frozenset[tuple[str, str]]
    label: str
    source: str

    def unused(self, seen: set[tuple[str, str]]) -> list[Finding]:
        return [
            Finding(self.source, f"{self.label} {' in '.join(key)}: nothing breaks it; remove the entry")
            for key in sorted(self.keys - seen)
        ]


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> dict[str, list[Excused]]:
    """The entries per check; each must say why (`reason`)."""
    entries = tomllib.loads(path.read_text()) if path.exists() else {}
    result: dict[str, list[Excused]] = {
        "plpgsql_check": [],
        "squawk": [],
        "foreign_key": [],
        "edited_migration": [],
    }
    for check, items in entries.items():
        if check not in result:
            raise ValueError(
                f"{shown(path)}: unknown check [[{check}]] (plpgsql_check, squawk, foreign_key or"
                " edited_migration)"
            )
        for item in items:
            if not str(item.get("reason", "")).strip():
                raise ValueError(f"{shown(path)}: an entry of [[{check}]] gives no reason: {item}")
            if check == "plpgsql_check":
                keys = {(str(item["message"]), str(item["function"]))}
                label = "plpgsql_check's"
            elif check == "foreign_key":
                keys = {(str(item["constraint"]), str(item["table"]))}
                label = "foreign key"
            elif check == "edited_migration":
                keys = {(str(sha), str(name)) for name, sha in item["sha256"].items()}
                label = "edited migration, sha256"
            else:
                keys = {(str(item["rule"]), str(name)) for name in item["migrations"]}
                label = "squawk rule"
            result[check].append(Excused(frozenset(keys), label, shown(path)))
    return result


def _excuse(found: Iterable[tuple[tuple[str, str], Finding]], excused: Sequence[Excused]) -> list[Finding]:
    """The findings no entry excuses, then the entries that excused none."""
    allowed = {key for entry in excused for key in entry.keys}
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for key, finding in found:
        if key in allowed:
            seen.add(key)
        elif finding not in findings:
            findings.append(finding)
    return findings + [unused for entry in excused for unused in entry.unused(seen)]


# ---- calls: every function call names its schema -------------------------------------------


def _bare_calls(tree: Any) -> Iterator[tuple[str, int]]:
    """(name, location) of each call in a parse tree whose name has no schema. coalesce, nullif,
    greatest, least and the SQL-syntax calls (extract(... from ...), trim, ...) are no FuncCall
    or come out qualified, so they pass."""
    for node in _walk(tree):
        call = node.get("FuncCall")
        if isinstance(call, dict) and len(call["funcname"]) == 1:
            yield call["funcname"][0]["String"]["sval"], int(call.get("location", -1))


def _object_name(stmt: dict[str, Any]) -> str:
    """What a statement makes, as a person names it."""

    def dotted(names: list[dict[str, Any]]) -> str:
        return ".".join(part["String"]["sval"] for part in names)

    def relation(node: dict[str, Any]) -> str:
        return ".".join(node[key] for key in ("schemaname", "relname") if key in node)

    if "CreateFunctionStmt" in stmt:
        return dotted(stmt["CreateFunctionStmt"]["funcname"])
    if "ViewStmt" in stmt:
        return relation(stmt["ViewStmt"]["view"])
    if "CreatePolicyStmt" in stmt:
        policy = stmt["CreatePolicyStmt"]
        return f"policy {policy['policy_name']} on {relation(policy['table'])}"
    return next(iter(stmt))


def _function_body(stmt: dict[str, Any]) -> tuple[str, str] | None:
    """(language, body) of a CREATE FUNCTION whose body is a string (AS $$...$$)."""
    function = stmt.get("CreateFunctionStmt")
    if not isinstance(function, dict):
        return None
    options = {
        option["DefElem"]["defname"]: option["DefElem"].get("arg") for option in function.get("options", [])
    }
    body = options.get("as")
    if not isinstance(body, dict):
        return None
    language = options["language"]["String"]["sval"]
    return language, body["List"]["items"][0]["String"]["sval"]


def _masked(sql: str) -> str:
    """pglast's PL/pgSQL parser knows no schema but pg_catalog and public: every dotted name that
    is not a call (a type, a table, a record's field) becomes `text`, keeping the lines."""
    tokens = scan(sql)

    def is_name(index: int) -> bool:
        return index < len(tokens) and (tokens[index].name == "IDENT" or tokens[index].kind != "NO_KEYWORD")

    pieces: list[str] = []
    done = i = 0
    while i < len(tokens):
        j = i
        while is_name(j) and j + 2 < len(tokens) and tokens[j + 1].name == "ASCII_46" and is_name(j + 2):
            j += 2
        after = tokens[j + 1].name if j + 1 < len(tokens) else ""
        if j > i and after not in ("ASCII_40", "ASCII_37"):  # not a call, nor name%rowtype
            start, end = tokens[i].start, tokens[j].end + 1
            pieces += [sql[done:start], "text" + "\n" * sql.count("\n", start, end)]
            done = end
        i = j + 1
    return "".join([*pieces, sql[done:]])


def _call_sites(body: str) -> dict[str, list[int]]:
    """Where each name stands before "(" without a schema, by line, outside strings and comments."""
    tokens = scan(body)
    sites: dict[str, list[int]] = {}
    for before, token, after in zip([None, *tokens], tokens, [*tokens[1:], None], strict=False):
        if after is not None and after.name == "ASCII_40" and (before is None or before.name != "ASCII_46"):
            word = body[token.start : token.end + 1]
            name = word[1:-1] if word.startswith('"') else word.lower()
            sites.setdefault(name, []).append(body.count("\n", 0, token.start) + 1)
    return sites


def _plpgsql_calls(statement: str, body: str) -> Iterator[tuple[int, str]]:
    """(line in the body, name) of each call without a schema in a PL/pgSQL function."""
    # The body is one string token of the statement: masked on its own.
    tree = parse_plpgsql(_masked(statement).replace(body, _masked(body), 1))
    sites = _call_sites(body)
    for node, lineno in _walk_lines(tree):
        expr = node.get("PLpgSQL_expr")
        if not (isinstance(expr, dict) and "query" in expr):
            continue
        sql = _expression_sql(expr["query"], int(expr.get("parseMode", 0)))
        for name, _ in _bare_calls(json.loads(parse_sql_json(sql))):
            # The parse says it is a call; the first site of the name at or after its statement's
            # line that no other call took says where.
            line = int(lineno) if isinstance(lineno, int) else 1
            candidates = [site for site in sites.get(name, []) if site >= line]
            if candidates:
                sites[name].remove(candidates[0])
                line = candidates[0]
            yield line, name


def _file_calls(source: bytes) -> Iterator[tuple[int, str, str]]:
    """(line, object, name) of each call without a schema in a file of the stateless layer."""
    tree = json.loads(parse_sql_json(source.decode()))
    for raw in tree["stmts"]:
        stmt = raw["stmt"]
        start = int(raw.get("stmt_location", 0))
        end = start + int(raw["stmt_len"]) if raw.get("stmt_len") else len(source)
        made = _object_name(stmt)
        for name, location in _bare_calls(stmt):
            yield _line(source, location), made, name
        function = _function_body(stmt)
        if function is None:
            continue
        language, body = function
        offset = source.find(body.encode(), start)
        first = _line(source, offset)
        if language == "plpgsql":
            for line, name in _plpgsql_calls(source[start:end].decode(), body):
                yield first + line - 1, made, name
        elif language == "sql":
            encoded = body.encode()
            for name, location in _bare_calls(json.loads(parse_sql_json(body))):
                yield first + _line(encoded, location) - 1, made, name


def call_findings(files: Iterable[Path] | None = None) -> list[Finding]:
    """Every call in the stateless layer's files that names no schema, as file:line."""
    findings = []
    for path in stateless_files() if files is None else files:
        try:
            calls = sorted(set(_file_calls(path.read_bytes())))
        except ParseError as error:
            findings.append(Finding(shown(path), f"pglast cannot parse it: {error}"))
            continue
        for line, made, name in calls:
            findings.append(
                Finding(
                    f"{shown(path)}:{line}",
                    f"{made}: {name}(...) names no schema (pg_catalog.{name} for a built-in)",
                )
            )
    return findings


# ---- plpgsql: plpgsql_check over every PL/pgSQL function -----------------------------------

# One query over every function. all_warnings: other (unused variables, overlapped parameters),
# extra (never read, unused parameters, shadowed variables), performance (hidden casts,
# volatility), security (SQL injection in EXECUTE) and compatibility warnings.
_PLPGSQL_CHECK = """
select p.oid::regprocedure::text, t.tgrelid::regclass::text, t.tgname::text,
       r.lineno, r.level, r.message, r.detail
  from pg_proc p
  join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
  left join pg_trigger t on t.tgfoid = p.oid and not t.tgisinternal
  cross join lateral public.plpgsql_check_function_tb(
         p.oid, coalesce(t.tgrelid, 0), fatal_errors => false, all_warnings => true,
         oldtable => t.tgoldtable, newtable => t.tgnewtable) r
 where p.pronamespace::regnamespace::text = any(%(schemas)s)
   and (p.prorettype <> 'trigger'::regtype or t.oid is not null)
   and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
 order by 1, 2, 3, 4
"""

# A trigger function is checked against the table of a trigger; one without a trigger cannot be.
_UNTRIGGERED = """
select p.oid::regprocedure::text from pg_proc p
 where p.pronamespace::regnamespace::text = any(%(schemas)s) and p.prorettype = 'trigger'::regtype
   and p.prolang = (select l.oid from pg_language l where l.lanname = 'plpgsql')
   and not exists (select from pg_trigger t where t.tgfoid = p.oid)
 order by 1
"""


def _definitions(files: Iterable[Path]) -> dict[str, tuple[Path, int, int]]:
    """schema.name of each function of the stateless layer -> its file, the line of its CREATE
    and the line its body starts on (plpgsql_check's line 1). Overloaded names are left out."""
    found: dict[str, list[tuple[Path, int, int]]] = {}
    for path in files:
        source = path.read_bytes()
        for raw in json.loads(parse_sql_json(source.decode()))["stmts"]:
            body = _function_body(raw["stmt"])
            if body is not None:
                start = int(raw.get("stmt_location", 0))
                offset = source.find(body[1].encode(), start)
                place = (path, _line(source, start), _line(source, offset))
                found.setdefault(_object_name(raw["stmt"]), []).append(place)
    return {name: places[0] for name, places in found.items() if len(places) == 1}


def plpgsql_findings(
    url: str, excused: Sequence[Excused] = (), files: Iterable[Path] | None = None
) -> list[Finding]:
    """plpgsql_check's findings on the (migrated) database at `url`, as superuser; the
    extension is created there for it."""
    definitions = _definitions(stateless_files() if files is None else files)
    schemas = {"schemas": list(OUR_CODE_SCHEMAS)}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists plpgsql_check with schema public")
        rows = conn.execute(_PLPGSQL_CHECK, schemas).fetchall()
        untriggered = [name for (name,) in conn.execute(_UNTRIGGERED, schemas).fetchall()]

    def where(function: str, lineno: int | None = None) -> str:
        place = definitions.get(function.split("(", 1)[0])
        if place is None:
            return function
        path, create, body = place
        return f"{shown(path)}:{create if lineno is None else body + lineno - 1}"

    def found() -> Iterator[tuple[tuple[str, str], Finding]]:
        for function in untriggered:
            what = f"{function}: a trigger function that no trigger uses, which plpgsql_check cannot check"
            yield ("", function), Finding(where(function), what)
        for function, table, trigger, lineno, level, message, detail in rows:
            subject = function + (f" on {table} (trigger {trigger})" if table else "")
            what = f"{subject}: {level}: {message}" + (f" ({detail})" if detail else "")
            yield (message, function), Finding(where(function, lineno), what)

    return _excuse(found(), excused)


# ---- foreign keys: each has an index its referencing columns lead --------------------------

# A foreign key's referencing columns, and whether an index of the table (whole: a partial one
# serves only its predicate's rows) starts with exactly those columns, in any order, as key
# columns (an INCLUDE column is stored, not ordered by: indnkeyatts counts the keys). Without one,
# each delete or key update of a referenced row reads the referencing table whole, under the
# row's lock (a cascade, a `set null`, or the check that nothing still refers to it).
_UNINDEXED_FOREIGN_KEYS = """
select c.conrelid::regclass::text, c.conname::text,
       (select pg_catalog.string_agg(a.attname, ', ' order by k.position)
          from pg_catalog.unnest(c.conkey) with ordinality k (attnum, position)
          join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum)
  from pg_constraint c
 where c.contype = 'f' and c.connamespace::regnamespace::text = any(%(schemas)s)
   and not exists (
         select from pg_index i
          where i.indrelid = c.conrelid and i.indpred is null
            and i.indnkeyatts >= pg_catalog.cardinality(c.conkey)
            and (i.indkey::int2[])[0:pg_catalog.cardinality(c.conkey) - 1] @> c.conkey
            and (i.indkey::int2[])[0:pg_catalog.cardinality(c.conkey) - 1] <@ c.conkey)
 order by 1, 2
"""


def foreign_key_findings(url: str, excused: Sequence[Excused] = ()) -> list[Finding]:
    """Each foreign key of our schemas that no index of its table starts with, on the (migrated)
    database at `url`: squawk reads statements one at a time and cannot know which indexes a table
    has. A delete of a referenced row (an account, an organization) reads the whole referencing
    table to find its rows, under the lock of that row, at every such delete."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(_UNINDEXED_FOREIGN_KEYS, {"schemas": list(OUR_CODE_SCHEMAS)}).fetchall()

    def found() -> Iterator[tuple[tuple[str, str], Finding]]:
        for table, constraint, columns in rows:
            what = (
                f"foreign-key-without-index: {constraint} ({columns}): no index of {table} starts with"
                f" {columns}, so each delete of a row it refers to reads {table} whole; add one"
                f" (`create index concurrently … on {table} ({columns})`, in a migration that says"
                " `-- transactional: false`)"
            )
            yield (constraint, table), Finding(table, what)

    return _excuse(found(), excused)


# ---- migrations: squawk --------------------------------------------------------------------


def squawk_binary() -> str:
    """squawk from the virtual environment (squawk-cli, requirements.lock), else from PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if found is None:
        raise RuntimeError("squawk is not installed (squawk-cli in requirements.lock): run ./dev")
    return found


def _transactional(path: Path) -> bool:
    """Whether yoyo runs the migration in a transaction (unless it says `-- transactional: false`)."""
    from yoyo.migrations import read_sql_migration

    directives, _, _ = read_sql_migration(str(path))
    return str(directives.get("transactional", "true")).lower() != "false"


def squawk_findings(files: Iterable[Path] | None = None, excused: Sequence[Excused] = ()) -> list[Finding]:
    """squawk's findings on the migrations, as file:line."""
    paths = migration_files() if files is None else list(files)
    violations: list[dict[str, Any]] = []
    for transactional in (True, False):
        group = [str(path) for path in paths if _transactional(path) == transactional]
        if not group:
            continue
        command = [squawk_binary(), "--config", str(SQUAWK_CONFIG), "--reporter", "json"]
        if not transactional:
            command.append("--no-assume-in-transaction")
        result = subprocess.run([*command, *group], capture_output=True, text=True, cwd=ROOT)
        try:
            violations += json.loads(result.stdout)
        except ValueError:
            raise RuntimeError(f"squawk failed: {result.stderr.strip() or result.stdout.strip()}") from None

    violations += _checks_on_added_columns(paths)
    violations += _timeouts_without_bound(paths)
    violations += _lock_waits_too_long(paths)
    violations += _table_rewrites(paths)

    def found() -> Iterator[tuple[tuple[str, str], Finding]]:
        for violation in sorted(violations, key=lambda v: (v["file"], v["line"], v["rule_name"])):
            path = Path(violation["file"])
            rule = violation["rule_name"]
            where = f"{shown(path)}:{int(violation['line']) + 1}"  # squawk counts lines from 0
            yield (rule, path.name), Finding(where, f"{rule}: {violation['message']}")

    return _excuse(found(), excused)


def _made_table(stmt: dict[str, Any]) -> set[tuple[str | None, str]]:
    """(schema, name) of the table a statement makes (`create table`, `… partition of`, `… as`):
    seen by no one else until the migration commits, its lock keeps no one waiting."""
    relation = stmt.get("CreateStmt", {}).get("relation") or stmt.get("CreateTableAsStmt", {}).get(
        "into", {}
    ).get("rel")
    return {(relation.get("schemaname"), relation["relname"])} if relation else set()


def _statements_of(
    paths: Iterable[Path],
) -> Iterator[tuple[Path, bytes, dict[str, Any], set[tuple[str | None, str]]]]:
    """Each statement of each migration (its raw parse, with stmt_location), with its file's bytes
    and the tables that statement and those before it in the file made (_made_table)."""
    for path in paths:
        source = path.read_bytes()
        made: set[tuple[str | None, str]] = set()
        for raw in json.loads(parse_sql_json(source.decode()))["stmts"]:
            made |= _made_table(raw["stmt"])
            yield path, source, raw, made


def _violation(path: Path, line: int, rule: str, message: str) -> dict[str, Any]:
    """A finding of our own rules, as squawk reports one (its line counted from 0)."""
    return {"file": str(path), "line": line, "rule_name": rule, "message": message}


def _checks_on_added_columns(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """A rule squawk lacks, as squawk reports one: a CHECK written with a column added to a table
    the migration did not make. Postgres validates it by reading the whole table under the
    ALTER's ACCESS EXCLUSIVE lock (0014 did so on app.audit_events); squawk refuses the same
    with `references`, and `add constraint … check` unless `not valid`."""
    violations = []
    for path, source, raw, made in _statements_of(paths):
        altered = raw["stmt"].get("AlterTableStmt")
        if not altered or (altered["relation"].get("schemaname"), altered["relation"]["relname"]) in made:
            continue
        for cmd in altered.get("cmds", []):
            column = cmd["AlterTableCmd"].get("def", {}).get("ColumnDef")
            if cmd["AlterTableCmd"]["subtype"] != "AT_AddColumn" or column is None:
                continue
            for constraint in column.get("constraints", []):
                if constraint["Constraint"]["contype"] == "CONSTR_CHECK":
                    offset = constraint["Constraint"]["location"]  # in bytes, as libpg_query counts
                    violations.append(
                        _violation(
                            path,
                            _line(source, offset) - 1,
                            "constraint-on-added-column",
                            f"the CHECK on {column['colname']} is validated by reading the whole table"
                            " under an ACCESS EXCLUSIVE lock: add the column, then `add constraint … not"
                            " valid`, and `validate constraint` in a migration of its own (in the same"
                            " transaction the lock is held)",
                        )
                    )
    return violations


_TIMEOUTS = frozenset({"lock_timeout", "statement_timeout"})
# What stands between one statement's start (the end of the one before) and its first word.
_BLANKS_AND_COMMENTS = re.compile(rb"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _statement_line(source: bytes, raw: dict[str, Any]) -> int:
    """The line, from 0 as squawk counts, of a statement's first word: the parser's
    stmt_location is the end of the statement before it."""
    offset = int(raw.get("stmt_location", 0))
    blanks = _BLANKS_AND_COMMENTS.match(source, offset)
    return _line(source, blanks.end() if blanks else offset) - 1


def _timeouts_without_bound(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Rules squawk lacks, as squawk reports one: its require-lock-timeout and
    require-statement-timeout pass any `set` of the two, so a migration that set one to 0 or to
    the server's default (none), or reset it before its work, waited without bound behind a long
    transaction for its ACCESS EXCLUSIVE lock, every query of the table queued behind it
    (timeout-without-bound); and one that yoyo runs outside a transaction set them `local`,
    which does nothing there (Postgres only warns), so its work waited the same
    (set-local-outside-transaction). Resetting them after the last statement, as 0018 does,
    is fine."""
    violations = []
    for path in paths:
        source = path.read_bytes()
        transactional = _transactional(path)
        raws = json.loads(parse_sql_json(source.decode()))["stmts"]
        work = [i for i, raw in enumerate(raws) if "VariableSetStmt" not in raw["stmt"]]
        last_work = work[-1] if work else -1
        for i, raw in enumerate(raws):
            setting = raw["stmt"].get("VariableSetStmt")
            if setting is None:
                continue
            names = _TIMEOUTS if setting.get("kind") == "VAR_RESET_ALL" else {setting.get("name")} & _TIMEOUTS
            if not names:
                continue
            shown_names = " and ".join(sorted(names))
            if not transactional and setting.get("is_local"):
                rule = "set-local-outside-transaction"
                message = (
                    f"yoyo runs this migration outside a transaction (`-- transactional: false`), where"
                    f" `set local {shown_names}` does nothing: set it without `local`, reset at the end"
                )
            elif i < last_work and not _bounds(setting):
                rule = "timeout-without-bound"
                message = (
                    f"{shown_names} is left without a bound (0, the server's default or reset) before"
                    " the statements after it, which may then wait behind a long transaction for their"
                    " locks with every query of the table queued behind them: give it a value"
                    f" (`set local lock_timeout = '{LOCK_WAIT}'`, as `just new-migration` writes)"
                )
            else:
                continue
            violations.append(_violation(path, _statement_line(source, raw), rule, message))
    return violations


# A time setting's value as Postgres reads it: a number and its unit, milliseconds when none.
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|min|h|d)?\s*", re.IGNORECASE)
_MILLISECONDS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _milliseconds(value: str) -> float | None:
    """A duration setting's value (`'5s'`, `500`, `'1min'`) in milliseconds; None when Postgres
    would not read it so (it refuses such a SET itself)."""
    found = _DURATION.fullmatch(value)
    if found is None:
        return None
    return float(found[1]) * _MILLISECONDS[(found[2] or "ms").lower()]


def _lock_waits_too_long(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """A rule squawk lacks, as squawk reports one (lock-timeout-too-long): a migration that yoyo
    runs in a transaction waits for each lock at most LOCK_WAIT, as `just new-migration` writes.
    While it waits (behind an admin's open read, a pipeline's transaction) every query of the
    table queues behind it: a wait as long as the API's statement_timeout (5 s, sql/roles.sql)
    made those requests time out. When it gives way, migrate tries it again (deploy/migrate.py,
    ATTEMPTS), rolled back whole. One outside a transaction is not tried again, and
    only makes indexes concurrently, which blocks no query: its longer wait is its own."""
    bound = _milliseconds(LOCK_WAIT)
    assert bound is not None
    violations = []
    for path, source, raw, _made in _statements_of(path for path in paths if _transactional(path)):
        setting = raw["stmt"].get("VariableSetStmt")
        if setting is None or setting.get("name") != "lock_timeout" or not _bounds(setting):
            continue
        text = _set_value(setting)
        waited = _milliseconds(text)
        if waited is not None and waited > bound:
            violations.append(
                _violation(
                    path,
                    _statement_line(source, raw),
                    "lock-timeout-too-long",
                    f"a lock waited for {text} holds every query of its table queued that long (the"
                    f" API's statement_timeout is 5 s): wait at most {LOCK_WAIT}, as `just"
                    " new-migration` writes; migrate tries the migration again when it gives way",
                )
            )
    return violations


# ALTER TABLE's subcommands that copy the whole table into new files under its ACCESS EXCLUSIVE
# lock (squawk knows only a column's new type, changing-column-type).
_REWRITING_SUBCOMMANDS = {
    "AT_SetLogged": "set logged",
    "AT_SetUnLogged": "set unlogged",
    "AT_SetTableSpace": "set tablespace",
    "AT_SetAccessMethod": "set access method",
}


def _rewritten(stmt: dict[str, Any]) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """(relation, what) of each rewrite of a table a statement asks for; relation None for every
    table of the database (`vacuum full` or `cluster` naming none)."""
    altered = stmt.get("AlterTableStmt")
    if altered:
        for cmd in altered.get("cmds", []):
            what = _REWRITING_SUBCOMMANDS.get(cmd["AlterTableCmd"]["subtype"])
            if what:
                yield altered["relation"], f"alter table … {what}"
    cluster = stmt.get("ClusterStmt")
    if cluster is not None:
        yield cluster.get("relation"), "cluster"
    vacuum = stmt.get("VacuumStmt")
    if vacuum and any(option["DefElem"]["defname"] == "full" for option in vacuum.get("options", [])):
        for rel in vacuum.get("rels") or [{"VacuumRelation": {}}]:
            yield rel["VacuumRelation"].get("relation"), "vacuum full"


def _table_rewrites(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """A rule squawk lacks, as squawk reports one (table-rewrite): a statement that rewrites a
    table the migration did not make (`set logged`/`unlogged`, `set tablespace`, `set access
    method`, `cluster`, `vacuum full`) holds its ACCESS EXCLUSIVE lock while it copies every row,
    and every query of the table waits that long."""
    violations = []
    for path, source, raw, made in _statements_of(paths):
        for rewritten, what in _rewritten(raw["stmt"]):
            if rewritten is None:
                table = "every table clustered before" if what == "cluster" else "every table of the database"
            else:
                name = (rewritten.get("schemaname"), rewritten["relname"])
                if name in made:
                    continue
                table = ".".join(part for part in name if part)
            violations.append(
                _violation(
                    path,
                    _statement_line(source, raw),
                    "table-rewrite",
                    f"{what} rewrites {table} whole under an ACCESS EXCLUSIVE lock, which every query of"
                    " the table waits behind: leave it out, or do it in a maintenance window by hand",
                )
            )
    return violations


def _concurrent_index_change(statement: dict[str, Any]) -> bool:
    """Whether a statement makes or drops an index concurrently (or sets a setting)."""
    if "VariableSetStmt" in statement:
        return True
    if "IndexStmt" in statement:
        return bool(statement["IndexStmt"].get("concurrent"))
    drop = statement.get("DropStmt")
    return drop is not None and drop.get("removeType") == "OBJECT_INDEX" and bool(drop.get("concurrent"))


def _bounds(setting: dict[str, Any]) -> bool:
    """Whether a SET gives its setting a bound: a value, not 0 (none), nor DEFAULT or RESET (the
    server's, none by default)."""
    if setting.get("kind") != "VAR_SET_VALUE" or len(setting.get("args", [])) != 1:
        return False
    return re.fullmatch(r"\s*0*\s*[a-z]*\s*", _set_value(setting), re.IGNORECASE) is None


def _set_value(setting: dict[str, Any]) -> str:
    """The value a SET of one value gives, as written (`5000`, `'5s'`; a number 0 as `0`)."""
    value = setting["args"][0].get("A_Const", {})
    if "ival" in value:
        return str(value["ival"].get("ival", 0))
    return str(value.get("sval", {}).get("sval", ""))


def migration_number_findings(folder: Path = MIGRATIONS_DIR) -> list[Finding]:
    """Each migration's number is its own: yoyo orders migrations by name, so one numbered by hand
    as a landed one ran among them (two did, 0026 and 0027 again, after 0036), and a rollback to
    the release before it undid nothing of it. `just new-migration` numbers it after the last."""
    by_number: dict[str, list[Path]] = {}
    for path in migration_files(folder):
        by_number.setdefault(path.name.split(".", 1)[0], []).append(path)
    return [
        Finding(
            f"{shown(paths[0])}:1",
            f"migration-number-taken: {', '.join(path.stem for path in paths)} share {number}: number"
            f" the new one after the last ({next_number(folder):04d}, as `just new-migration` does)",
        )
        for number, paths in sorted(by_number.items())
        if len(paths) > 1
    ]


def rollback_findings(folder: Path = MIGRATIONS_DIR) -> list[Finding]:
    """Each rollback that yoyo runs in a transaction sets `lock_timeout` and `statement_timeout`
    before anything else, as a migration does: squawk reads no rollback, and one run in an incident
    (a `drop column`, a `drop table`) waited behind a long transaction for its ACCESS EXCLUSIVE
    lock, every query of the table queued behind it. One run outside a transaction that only
    makes or drops indexes concurrently blocks no one while it waits; one outside a transaction
    that does anything else (a `drop table` beside its `drop index concurrently`) waits as the
    others do, and sets both, without `local` (which does nothing outside a transaction)."""
    findings = [
        Finding(
            f"{shown(path)}:1",
            f"rollback-missing: no {path.stem}.rollback.sql beside it: `--rollback-to` would mark it"
            " undone and leave what it did (`just new-migration` writes one)",
        )
        for path in migration_files(folder)
        if not path.with_name(f"{path.stem}.rollback.sql").exists()
    ]
    for path in sorted(folder.glob("*.rollback.sql")):
        transactional = _transactional(path)
        statements = [raw["stmt"] for raw in json.loads(parse_sql_json(path.read_text()))["stmts"]]
        if not transactional and all(_concurrent_index_change(statement) for statement in statements):
            continue
        leading = set()
        for statement in statements:
            setting = statement.get("VariableSetStmt")
            if setting is None:
                break
            if (transactional or not setting.get("is_local")) and _bounds(setting):
                leading.add(setting.get("name"))
        if not {"lock_timeout", "statement_timeout"} <= leading:
            findings.append(
                Finding(
                    f"{shown(path)}:1",
                    "rollback-without-timeouts: set local lock_timeout and statement_timeout first,"
                    " as its migration does (`just new-migration` writes both)"
                    if transactional
                    else "rollback-without-timeouts: it runs outside a transaction and does more than"
                    " make or drop indexes concurrently: set lock_timeout and statement_timeout first"
                    " (not `local`, which does nothing outside a transaction)",
                )
            )
    return findings


# ---- landed migrations: none edited since it landed on main ----------------------------------

# The branch a migration lands on, as a clone names it, then as its own branch.
MAIN_REFS = ("refs/remotes/origin/main", "refs/heads/main")


@dataclass(frozen=True)
class Landed:
    """The landed-migrations check's findings, and what it could not check (a shallow clone, a
    tree without git), said rather than failed."""

    findings: list[Finding]
    note: str | None = None


class _NoHistory(Exception):
    """Why the history of the migrations cannot be read at all."""


def _git(folder: Path, *arguments: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *arguments], input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise _NoHistory("git is not installed") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise _NoHistory(said[-1] if said else f"git {arguments[0]} failed")
    return done.stdout


def _is_commit(folder: Path, ref: str) -> bool:
    try:
        _git(folder, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except _NoHistory:
        return False
    return True


def _first_added(folder: Path, base: str) -> dict[str, str]:
    """Path (from the repository's top) of each file of `folder` in `base`'s history -> the commit
    that first added it. --no-renames: a file renamed into the folder counts as added there.
    --first-parent, each merge compared with its first parent: a branch merged into main lands
    its migrations with the merge, as they were then, and its own commits (which may have changed
    them before it landed) are not main's."""
    log = _git(folder, "log", "--first-parent", "--diff-merges=first-parent", "--no-renames",
               "--diff-filter=A", "--reverse", "--format=commit %H", "--name-only", base, "--",
               ".")  # fmt: skip
    added: dict[str, str] = {}
    commit = ""
    for line in log.decode().splitlines():
        if line.startswith("commit "):
            commit = line.removeprefix("commit ")
        elif line:
            added.setdefault(line, commit)
    return added


def _landed_texts(folder: Path, wanted: dict[str, str]) -> dict[str, bytes]:
    """The bytes of each path as the commit that added it holds it, in one `git cat-file`."""
    paths = sorted(wanted)
    batch = _git(folder, "cat-file", "--batch", stdin="".join(f"{wanted[p]}:{p}\n" for p in paths).encode())
    texts: dict[str, bytes] = {}
    at = 0
    for path in paths:
        header_end = batch.index(b"\n", at)
        header = batch[at:header_end].split()
        size = int(header[2])
        texts[path] = batch[header_end + 1 : header_end + 1 + size]
        at = header_end + 1 + size + 1
    return texts


def landed_migration_findings(folder: Path = MIGRATIONS_DIR, excused: Sequence[Excused] = ()) -> Landed:
    """Each file of `folder` (migrations and rollbacks) that main's history holds is compared with
    its text in the commit that first added it there: a landed migration is never edited (docs/
    sql.md). migrate refuses a database that ran an edited one, but a new database (CI,
    schema-check) builds the edited text, and no database guards a rollback file. A file edited
    on purpose before this check stays as an `[[edited_migration]]` entry of the exceptions file,
    with the sha256 of its text: an edit after that one is a finding again. A new migration (not
    on main yet) may change until it lands. With no git, or no repository, nothing is checked;
    a shallow clone is checked against the history it has (its oldest commit stands for the one
    that added each file it holds); both are said in the note."""
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())
        base = next((ref for ref in MAIN_REFS if _is_commit(folder, ref)), "HEAD")
        notes = []
        if base == "HEAD":
            notes.append("no main branch here: HEAD's history stands for main's")
        shallow = _git(folder, "rev-parse", "--is-shallow-repository").decode().strip() == "true"
        if shallow:
            notes.append(
                "a shallow clone: checked against the history it has (an edit older than its"
                " oldest commit is not seen; `git fetch --unshallow` for all of it)"
            )
        added = {
            path: commit
            for path, commit in _first_added(folder, base).items()
            if (top / path).parent.resolve() == folder.resolve() and (top / path).exists()
        }
        texts = _landed_texts(folder, added)
    except _NoHistory as why:
        return Landed([], f"not checked ({why}): an edit of a landed migration is not seen")
    allowed = {key for entry in excused for key in entry.keys}
    excused_names = {name: sha for sha, name in allowed}
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    reported: set[str] = set()
    for path in sorted(added, key=lambda p: (top / p).name):
        file = top / path
        text = file.read_bytes()
        checksum = hashlib.sha256(text).hexdigest()
        if text == texts[path]:
            # In a shallow clone, its oldest commit may hold an edit excused before it: the entry
            # that names this very text cannot be told unneeded there (a full clone tells).
            if shallow and (checksum, file.name) in allowed:
                seen.add((checksum, file.name))
            continue
        if (checksum, file.name) in allowed:
            seen.add((checksum, file.name))
            continue
        reported.add(file.name)
        commit = added[path][:12]
        again = (
            f" edited again since {shown(EXCEPTIONS_FILE)} excused sha256 {excused_names[file.name]};"
            if file.name in excused_names
            else ""
        )
        findings.append(
            Finding(
                f"{shown(file)}:1",
                f"migration-edited:{again} it differs from the text it landed with in {commit}: a"
                " database that ran it keeps what ran (migrate refuses it there), a new one builds"
                f" this; restore it (`git show {commit}:{path} > {path}`) and make the change in a"
                " new migration (`./dev new-migration`); an edit that is meant (a rollback mended)"
                f" is an [[edited_migration]] entry with its reason and sha256 {checksum}",
            )
        )
    unused = [
        finding
        for entry in excused
        for finding, key in zip(entry.unused(seen), sorted(entry.keys - seen), strict=True)
        if key[1] not in reported
    ]
    return Landed(findings + unused, "; ".join(notes) or None)


# ---- all of them ---------------------------------------------------------------------------


def run(server_url: str | None) -> bool:
    """Every check (plpgsql_check only with a server to make a scratch database on); prints the
    findings and how long each check took; whether there were none."""
    exceptions = load_exceptions()

    def landed() -> list[Finding]:
        checked = landed_migration_findings(excused=exceptions["edited_migration"])
        if checked.note:
            print(f"sql-lint: landed migrations: {checked.note}")
        return checked.findings

    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("squawk", lambda: squawk_findings(excused=exceptions["squawk"])),
        ("rollbacks", rollback_findings),
        ("migration numbers", migration_number_findings),
        ("landed migrations", landed),
        ("calls", call_findings),
        ("distribution", lambda: [Finding(shown(SCHEMA_DIR), what) for what in distribution_findings()]),
    ]
    if server_url is not None:
        # Both read the one migrated scratch database that plpgsql_check makes.
        database_findings: list[Finding] = []

        def plpgsql() -> list[Finding]:
            with scratch_database(server_url, "sqllint") as url:
                migrate(url, quiet=True)
                database_findings[:] = foreign_key_findings(url, exceptions["foreign_key"])
                return plpgsql_findings(url, exceptions["plpgsql_check"])

        checks[:0] = [("plpgsql_check", plpgsql), ("foreign keys", lambda: database_findings)]
    ok = True
    for name, check in checks:
        began = time.monotonic()
        findings = check()
        for finding in findings:
            print(finding)
        ok = ok and not findings
        print(f"sql-lint: {name}: {len(findings) or 'no'} finding(s) ({time.monotonic() - began:.2f}s)")
    return ok


def main() -> None:
    parser = recipe_parser("just sql-lint", __doc__)
    parser.add_argument(
        "--no-database",
        action="store_true",
        help="only the checks that need no database (squawk, rollbacks, migration numbers, landed"
        " migrations, calls, distribution)",
    )
    args = parser.parse_args()
    if args.no_database:
        ok = run(None)
    else:
        with scratch_server() as server_url:
            ok = run(server_url)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
