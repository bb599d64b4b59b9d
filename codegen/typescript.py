"""The TypeScript client: types for domains, enums and rows, one function per API function.

Mapping (by the OID of the type under any domains):
- boolean -> boolean; smallint, integer, oid, real, double precision -> number;
- bigint, numeric -> string, exact: responses that hold them are parsed keeping every digit;
- text, varchar, char, name, uuid, date/time types, interval, inet, cidr, macaddr, bytea -> string;
- json, jsonb -> Json; an enum -> a union of its labels; an array -> (T | null)[];
- a composite or table row type -> an interface; a domain -> a branded type
  (`string & { readonly __brand: "app.user_id" }`) with an `isX` guard from its CHECK regex.
Anything else stops generation with the type's name.

Nullability: an argument is `| null` unless the function is STRICT or its type is a NOT NULL
domain; an argument with a default is optional. A column is `| null` unless it is NOT NULL (a
table column) or of a NOT NULL domain; attributes of CREATE TYPE composites and RETURNS TABLE
columns cannot be declared NOT NULL in Postgres, so they are nullable unless of a NOT NULL
domain. A scalar result is `| null` unless of a NOT NULL domain: no function can promise more.
"""

from __future__ import annotations

import json

from codegen.catalog import VOID_OID, Catalog, CodegenError, Column, Function, PgType, refuse_overloads
from codegen.naming import Declarations, camel, claim, doc_lines, pascal
from codegen.raises import ErrorCodes
from codegen.regex import js_conditions

_BOOLEAN = {16}
_NUMBER = {21, 23, 26, 700, 701}
_EXACT = {20, 1700}  # bigint, numeric: strings, never a lossy JS number
_STRING = {
    25, 1043, 1042, 18, 19, 2950,  # text, varchar, bpchar, "char", name, uuid
    1082, 1083, 1266, 1114, 1184, 1186,  # date, time, timetz, timestamp, timestamptz, interval
    869, 650, 829, 774, 17,  # inet, cidr, macaddr, macaddr8, bytea
}  # fmt: skip
_JSON = {114, 3802}

CLIENT_CODES = ("client.network", "client.unexpected")

_RUNTIME = r"""
/** A value of a json or jsonb column. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Where the API is and how to reach it. */
export interface Client {
  /** The origin that serves /rpc, e.g. "https://app.example.com", or "" for the page's own. */
  baseUrl: string;
  /** The fetch to call (default: the global one). */
  fetch?: typeof fetch;
  /** Headers sent with every call. */
  headers?: Record<string, string>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** Codes made by the client itself: no answer arrived, or the code is not one the API declares. */
export type ClientErrorCode = "client.network" | "client.unexpected";

export interface RpcError<C extends string> {
  /** A code the function declares, or a client code: switch on it. */
  code: C | ClientErrorCode;
  /** The code as the server sent it (a PostgREST or SQLSTATE code when `code` is client.unexpected). */
  rawCode: string;
  message: string;
  details: Json;
  hint: string | null;
  /** The HTTP status; 0 when no answer arrived. */
  status: number;
}

export type Result<T, C extends string> = { ok: true; data: T } | { ok: false; error: RpcError<C> };

type Decoder = (value: unknown) => unknown;

// Postgres text cannot hold NUL, so no string from the API starts with it.
const NUMBER_MARK = "\u0000";

/** JSON.parse, but every number arrives as its digits behind NUMBER_MARK, for the decoders. */
function parseExact(text: string): unknown {
  return JSON.parse(
    text.replace(/"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, (match, digits?: string) =>
      digits === undefined ? match : `"\\u0000${digits}"`,
    ),
  );
}

function isMarked(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(NUMBER_MARK);
}

const d = {
  id: (value: unknown): unknown => value,
  num: (value: unknown): unknown => (isMarked(value) ? Number(value.slice(1)) : value),
  exact: (value: unknown): unknown => (isMarked(value) ? value.slice(1) : value),
  json: (value: unknown): unknown => {
    if (isMarked(value)) return Number(value.slice(1));
    if (Array.isArray(value)) return value.map(d.json);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, d.json(item)]));
    }
    return value;
  },
  arr:
    (item: Decoder): Decoder =>
    (value) =>
      Array.isArray(value) ? value.map(item) : value,
  obj:
    (fields: Record<string, Decoder>): Decoder =>
    (value) =>
      value !== null && typeof value === "object" && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, (fields[key] ?? d.json)(item)]))
        : value,
};

async function call<T, C extends string>(
  client: Client,
  name: string,
  args: object,
  codes: readonly C[],
  decode: Decoder | null,
  options?: CallOptions,
): Promise<Result<T, C>> {
  let status = 0;
  let text: string;
  try {
    const response = await (client.fetch ?? fetch)(`${client.baseUrl}/rpc/${name}`, {
      method: "POST",
      credentials: "include",
      headers: { ...client.headers, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(args),
      signal: options?.signal ?? null,
    });
    status = response.status;
    text = await response.text();
    if (response.ok) {
      const data = text === "" ? null : decode === null ? JSON.parse(text) : decode(parseExact(text));
      return { ok: true, data: data as T };
    }
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const code = status === 0 ? "client.network" : "client.unexpected";
    return { ok: false, error: { code, rawCode: code, message, details: null, hint: null, status } };
  }
  let body: { [key: string]: Json } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed as typeof body;
  } catch {
    // not JSON: keep the status, say what came
  }
  const rawCode = typeof body.code === "string" ? body.code : `http.${status}`;
  const known = (codes as readonly string[]).includes(rawCode);
  return {
    ok: false,
    error: {
      code: known ? (rawCode as C) : "client.unexpected",
      rawCode,
      message: typeof body.message === "string" ? body.message : text,
      details: body.details ?? null,
      hint: typeof body.hint === "string" ? body.hint : null,
      status,
    },
  };
}
"""


def _doc(lines: list[str], indent: str = "") -> list[str]:
    if not lines:
        return []
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} *{' ' + line if line else ''}" for line in lines), f"{indent} */"]


def _key(name: str) -> str:
    return name if name.isidentifier() and name.isascii() else json.dumps(name)


class _Emitter:
    def __init__(self, catalog: Catalog, codes: ErrorCodes) -> None:
        self.catalog = catalog
        self.codes = codes
        self.decl = Declarations()
        self.names = self.decl.names
        self.declarations = self.decl.lines  # TypeScript name -> its lines

    # -- types -------------------------------------------------------------------------------

    def type(self, oid: int, where: str) -> str:
        """The TypeScript type of values of `oid`, without `| null`."""
        pg = self.catalog.type(oid)
        if pg.kind == "domain":
            return self.domain(pg, where)
        if pg.kind == "enum":
            return self.enum(pg)
        if pg.kind == "composite":
            return self.composite(pg, where)
        if pg.kind == "array":
            assert pg.element_oid is not None
            return f"({self.nullable(pg.element_oid, False, where)})[]"
        if pg.kind == "base":
            if oid in _BOOLEAN:
                return "boolean"
            if oid in _NUMBER:
                return "number"
            if oid in _EXACT or oid in _STRING:
                return "string"
            if oid in _JSON:
                return "Json"
        raise CodegenError(f"cannot map type {pg.sql} to TypeScript (used by {where})")

    def nullable(self, oid: int, not_null: bool, where: str) -> str:
        ts = self.type(oid, where)
        return ts if not_null or self.catalog.not_null(oid) else f"{ts} | null"

    def domain(self, pg: PgType, where: str) -> str:
        return self.decl.of_type(pg, lambda name: self.domain_lines(pg, name))

    def domain_lines(self, pg: PgType, name: str) -> list[str]:
        base = self.catalog.resolve(pg.oid)
        base_ts = self.type(base.oid, f"domain {pg.qualified}")
        lines = _doc(doc_lines(pg.comment) or [f"Domain {pg.qualified}."])
        if base_ts in ("string", "number", "boolean"):
            lines.append(
                f"export type {name} = {base_ts} & {{ readonly __brand: {json.dumps(pg.qualified)} }};"
            )
            checks = self.catalog.domain_checks(pg.oid)
            conditions = js_conditions(checks) if checks else []
            if conditions is None:
                lines.append(f"// No is{name} guard: a CHECK of {pg.qualified} is not a plain regex match.")
            else:
                tests = "".join(f" && {condition}" for condition in conditions)
                lines += [
                    f"/** True when `value` has the shape {pg.qualified} requires. */",
                    f"export function is{name}(value: unknown): value is {name} {{",
                    f'  return typeof value === "{base_ts}"{tests};',
                    "}",
                ]
        else:
            lines.append(f"export type {name} = {base_ts};")
        return lines

    def enum(self, pg: PgType) -> str:
        union = " | ".join(json.dumps(label) for label in pg.labels) or "never"
        return self.decl.of_type(
            pg, lambda name: [*_doc(doc_lines(pg.comment)), f"export type {name} = {union};"]
        )

    def composite(self, pg: PgType, where: str) -> str:
        return self.decl.of_type(pg, lambda name: self.interface(name, pg.comment, pg.columns, pg.qualified))

    def interface(self, name: str, comment: str | None, columns: tuple[Column, ...], where: str) -> list[str]:
        lines = [*_doc(doc_lines(comment)), f"export interface {name} {{"]
        for column in columns:
            lines += _doc(doc_lines(column.comment), "  ")
            ts = self.nullable(column.type_oid, column.not_null, f"{where}.{column.name}")
            lines.append(f"  {_key(column.name)}: {ts};")
        return [*lines, "}"]

    # -- decoders (only for results that hold bigint or numeric) -------------------------------

    def decoder(self, oid: int) -> str:
        pg = self.catalog.resolve(oid)
        if pg.kind == "array":
            assert pg.element_oid is not None
            return f"d.arr({self.decoder(pg.element_oid)})"
        if pg.kind == "composite":
            return self.row_decoder(pg.columns)
        if pg.oid in _EXACT:
            return "d.exact"
        if pg.oid in _NUMBER:
            return "d.num"
        if pg.oid in _JSON:
            return "d.json"
        return "d.id"

    def row_decoder(self, columns: tuple[Column, ...]) -> str:
        fields = ", ".join(f"{_key(column.name)}: {self.decoder(column.type_oid)}" for column in columns)
        return f"d.obj({{ {fields} }})"

    # -- functions ---------------------------------------------------------------------------

    def function(self, function: Function) -> tuple[str, list[str]]:
        where = function.signature
        base = pascal(function.name)
        name = claim(self.names, camel(function.name), function.signature)
        lines: list[str] = []

        args_type = claim(self.names, f"{base}Args", function.signature)
        arg_lines = [f"/** The arguments of {function.qualified}. */", f"export interface {args_type} {{"]
        for arg in function.args:
            ts = self.nullable(arg.type_oid, function.strict, f"{where} argument {arg.name}")
            arg_lines.append(f"  {_key(arg.name)}{'?' if arg.has_default else ''}: {ts};")
        arg_lines.append("}")

        if function.columns is not None:
            row = claim(self.names, f"{base}Row", function.signature)
            comment = f"A row of {function.qualified}."
            self.declarations[row] = self.interface(row, comment, function.columns, where)
            result = f"{row}[]" if function.returns_set else row
            decoder = self.row_decoder(function.columns)
        elif function.return_oid == VOID_OID:
            result, decoder = "null", ""
        else:
            pg = self.catalog.type(function.return_oid)
            composite = self.catalog.resolve(pg.oid).kind == "composite"
            item = self.nullable(pg.oid, composite, f"{where} result")
            result = f"({item})[]" if function.returns_set and "|" in item else item
            result += "[]" if function.returns_set and "|" not in item else ""
            decoder = self.decoder(pg.oid)
        exact = "d.exact" in decoder
        if function.returns_set and exact:
            decoder = f"d.arr({decoder})"

        codes = sorted(self.codes.of(function.oid) | self.codes.common)
        code_type = claim(self.names, f"{base}ErrorCode", function.signature)
        union = " | ".join(json.dumps(code) for code in codes) or "never"
        self.declarations[code_type] = [f"/** The codes {function.qualified} can fail with. */"]
        self.declarations[code_type].append(f"export type {code_type} = {union};")
        if function.args:
            self.declarations[args_type] = arg_lines
        else:
            del self.names[args_type]

        docs = doc_lines(function.comment) or [f"Calls {function.qualified}."]
        docs += ["", f"POST /rpc/{function.name}; fails with: {', '.join(codes) or 'client errors only'}."]
        lines += _doc(docs)
        params = ["client: Client"]
        if function.args:
            optional = all(arg.has_default for arg in function.args)
            params.append(f"args: {args_type}" + (" = {}" if optional else ""))
        params.append("options?: CallOptions")
        lines.append(f"export function {name}(")
        lines += [f"  {param}," for param in params]
        lines.append(f"): Promise<Result<{result}, {code_type}>> {{")
        codes_literal = "[" + ", ".join(json.dumps(code) for code in codes) + "]"
        body_args = "args" if function.args else "{}"
        lines.append(
            f"  return call<{result}, {code_type}>(client, {json.dumps(function.name)}, {body_args}, "
            f"{codes_literal}, {decoder if exact else 'null'}, options);"
        )
        lines.append("}")
        return name, lines


def emit_typescript(catalog: Catalog, codes: ErrorCodes, functions: list[Function], command: str) -> str:
    """The whole generated.ts for the API's functions (catalog.api_functions)."""
    refuse_overloads(functions)
    emitter = _Emitter(catalog, codes)
    bodies = dict(emitter.function(function) for function in functions)
    out = [
        f"// @generated by `{command}` from the database catalog."
        " Do not edit: change the SQL and regenerate.",
        "/* eslint-disable */",
        _RUNTIME.strip("\n"),
        "",
        "// -- Types ---------------------------------------------------------------------------------",
    ]
    for name in sorted(emitter.declarations):
        out += ["", *emitter.declarations[name]]
    out += [
        "",
        "// -- Functions -----------------------------------------------------------------------------",
    ]
    for name in sorted(bodies):
        out += ["", *bodies[name]]
    return "\n".join(out) + "\n"
