"""The TypeScript client: types for domains, enums and rows, one function per API function
and one per route of the edge (edge/routes.py), over a small runtime (`_request`, decoders,
`orThrow`) whose private names start with `_`, which no SQL name can give.

Mapping (by the OID of the type under any domains):
- boolean -> boolean; smallint, integer, real, double precision -> number;
- bigint, numeric -> string, exact: responses that hold them are parsed keeping every digit (a
  numeric's NaN and infinities arrive as the strings "NaN", "Infinity", "-Infinity");
- real, double precision: NaN and the infinities go and come back as themselves (JSON has no
  word for them: Postgres writes strings, and JSON.stringify would send null);
- text, varchar, char, name, uuid, date/time types, interval, inet, cidr, macaddr, bytea -> string;
- oid -> string, which is how PostgREST answers it (Postgres's to_json writes "26");
- json, jsonb -> Json; an enum -> a union of its labels; an array -> (T | null)[], one dimension
  unless a tag declares more (`@result integer[][]`): Postgres keeps none in the type, and the
  decoders read an answer of any depth;
- a composite or table row type -> an interface; a domain -> a branded type
  (`string & { readonly __brand: "app.user_id" }`) with an `isX` guard from its CHECK regex;
- OUT arguments or RETURNS TABLE, even of one column, -> rows, as PostgREST answers them; but
  one column of a composite type -> that composite, which PostgREST answers unwrapped.
Anything else stops generation with the type's name, unless a comment tag (codegen/tags.py)
gives the type or skips the function.

Each call's answer is checked against its result type by the decoder that reads it (`_d`, one
per call, mirroring the type: `decoder` below), and a mismatch is the call's client.unexpected.

Nullability: an argument is `| null` unless the function is STRICT or its type is a NOT NULL
domain (Postgres refuses a null for it); an argument with a default is optional. What a function
answers is `| null` unless known otherwise: a column unless it is NOT NULL (a table column);
attributes of CREATE TYPE composites and RETURNS TABLE columns cannot be declared NOT NULL in
Postgres, and a NOT NULL domain does not stop a function from answering null (Postgres checks it
where a value is made or cast: an SQL function that finds no row answers null), nor the
elements of an array it answers, of a domain over the array too. An `@arg` or
`@result` tag says it instead (`TYPE?`: nullable).
"""

from __future__ import annotations

import json

from codegen.catalog import VOID_OID, Arg, Catalog, CodegenError, Column, Function, PgType, refuse_overloads
from codegen.edge import EdgeSurface
from codegen.naming import Declarations, camel, claim, doc_lines, pascal
from codegen.raises import ErrorCodes
from codegen.regex import js_conditions
from codegen.tags import without_tags
from edge.routes import RouteSpec

_BOOLEAN = {16}
_NUMBER = {21, 23, 700, 701}
_EXACT = {20, 1700}  # bigint, numeric: strings, never a lossy JS number
_FLOAT = {700, 701}  # real, double precision: NaN and the infinities arrive as strings
_STRING = {
    25, 1043, 1042, 18, 19, 2950,  # text, varchar, bpchar, "char", name, uuid
    1082, 1083, 1266, 1114, 1184, 1186,  # date, time, timetz, timestamp, timestamptz, interval
    869, 650, 829, 774, 17,  # inet, cidr, macaddr, macaddr8, bytea
    26,  # oid: Postgres's to_json, and so PostgREST, writes it as a string ("26")
}  # fmt: skip
_JSON = {114, 3802}

CLIENT_CODES = ("client.aborted", "client.network", "client.unexpected")

# The names the runtime exports, and the globals it and the declarations use: an SQL object
# whose name would be one of these is given its schema in front (api.result -> ApiResult).
RUNTIME_NAMES = frozenset({
    "Json", "Client", "CallOptions", "ClientErrorCode", "RpcError", "Result", "BlossomError",
    "orThrow", "RpcCommonErrorCode", "EdgeErrorCode",
    "Promise", "Record", "Error", "AbortSignal", "Headers", "Response",
    "JSON", "Number", "Object", "Array", "String", "Boolean", "TextEncoder", "fetch",
    "undefined", "NaN", "Infinity", "arguments", "eval", "globalThis",
})  # fmt: skip
# The types made from a function's name (`getOrganization`): its arguments, its row, its codes.
DERIVED_ENDINGS = ("Args", "Row", "ErrorCode")
# ECMAScript's reserved words (strict mode and modules), which no declaration may be named.
RESERVED_WORDS = frozenset(
    [
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "implements",
        "import",
        "in",
        "instanceof",
        "interface",
        "let",
        "new",
        "null",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ]
)

_RUNTIME = r"""
/** A value of a json or jsonb column. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Where the API is and how to reach it. */
export interface Client {
  /** The origin that serves /rpc and /auth, e.g. "https://app.example.com", or "" for the page's own
   * (a trailing slash is dropped). */
  baseUrl: string;
  /** The fetch to call (default: the global one). */
  fetch?: typeof fetch;
  /** Headers sent with every call (outside a browser: the session, as a Cookie or X-Blossom-Session). */
  headers?: Record<string, string>;
  /** Whether a browser sends its cookies (default "include", which a separate dev server's origin needs). */
  credentials?: "omit" | "same-origin" | "include";
}

/** Per call: an AbortSignal (an abort answers client.aborted), and headers added to the client's
 * (one of the same name, in any case, replaces the client's; Accept and Content-Type stay JSON). */
export interface CallOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** Codes made by the client itself: the call was aborted, no answer arrived (or it was cut off
 * before its end), or the answer's code is not one the call declares (`rawCode` keeps it). */
export type ClientErrorCode = "client.aborted" | "client.network" | "client.unexpected";

export interface RpcError<C extends string> {
  /** A code the call declares, or a client code: switch on it. */
  code: C | ClientErrorCode;
  /** The code as the server sent it (a PostgREST or SQLSTATE code when `code` is client.unexpected). */
  rawCode: string;
  message: string;
  details: Json;
  hint: string | null;
  /** The HTTP status; 0 when no answer arrived (an answer cut off mid-body keeps its own). */
  status: number;
  /** The answer's headers, names in lower case (e.g. "retry-after"); empty when no answer arrived. */
  headers: Record<string, string>;
}

export type Result<T, C extends string> = { ok: true; data: T } | { ok: false; error: RpcError<C> };

/** The error `orThrow` throws: the call's typed error in `error`. */
export class BlossomError<C extends string> extends Error {
  readonly error: RpcError<C>;
  constructor(error: RpcError<C>) {
    super(`${error.code}: ${error.message}`);
    this.name = "BlossomError";
    this.error = error;
  }
}

/** The data of a call, or a thrown BlossomError: for libraries that expect a rejected promise
 * (React Query, SWR). `await orThrow(getOrganization(client, { org_id }))`. */
export async function orThrow<T, C extends string>(call: Promise<Result<T, C>> | Result<T, C>): Promise<T> {
  const result = await call;
  if (result.ok) return result.data;
  throw new BlossomError(result.error);
}

type _Decoder = (value: unknown) => unknown;

/** A JSON number as its digits, until a decoder makes it a number or an exact string. (No
 * parameter property: type stripping, Node's and `erasableSyntaxOnly`'s, cannot remove one.) */
class _Exact {
  readonly digits: string;
  constructor(digits: string) {
    this.digits = digits;
  }
}

/** JSON.parse, but every number arrives as an _Exact, for the decoders. The text is marked
 * first: a number becomes the string NUL "n" digits; a string value that itself starts with
 * NUL (a json value can hold one) gets NUL "s" in front, so the reviver tells them apart and
 * no marked string is ever left in the result (keys, which the reviver never sees, stay as
 * they are). */
const _TOKENS = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function _parseExact(text: string): unknown {
  const marked = text.replace(_TOKENS, (match, string?: string, key?: string, digits?: string) => {
    if (digits !== undefined) return `"\\u0000n${digits}"`;
    if (key !== undefined || string === undefined || !string.startsWith('"\\u0000')) return match;
    return `"\\u0000s${match.slice(1)}`;
  });
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === "string" && value.startsWith("\u0000")
      ? value[1] === "n"
        ? new _Exact(value.slice(2))
        : value.slice(2)
      : value,
  );
}

/** A 200 answer's value where it is not what the call's type says: `path` grows, from the
 * value out, as the decoders it passes through add their key or index. */
class _Mismatch extends Error {
  readonly path: (string | number)[] = [];
}

function _expected(what: string, got: unknown): _Mismatch {
  return new _Mismatch(`expected ${what}, got ${_describe(got)}`);
}

/** A value as a mismatch's message shows it: short, and never the whole of a big answer. */
function _describe(value: unknown): string {
  if (value instanceof _Exact) return value.digits;
  if (Array.isArray(value)) return "an array";
  if (value !== null && typeof value === "object") return "an object";
  const shown = JSON.stringify(value) ?? String(value);
  return shown.length > 40 ? `${shown.slice(0, 37)}...` : shown;
}

/** The JSONPath of a mismatch: `$[3].role`, `$.details["a b"]`. */
function _jsonPath(path: readonly (string | number)[]): string {
  const step = (key: string | number): string => {
    if (typeof key === "number") return `[${key}]`;
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  };
  return `$${path.map(step).join("")}`;
}

/** `decode(value)`, adding `key` to the path of a mismatch found inside. */
function _at(key: string | number, decode: _Decoder, value: unknown): unknown {
  try {
    return decode(value);
  } catch (error) {
    if (error instanceof _Mismatch) error.path.unshift(key);
    throw error;
  }
}

function _hasOwn(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof _Exact);
}

/** A JavaScript kind, checked: a branded domain by its kind alone (its guard, `isUserId`, is the
 * caller's to call). */
function _kind(kind: "string" | "boolean"): _Decoder {
  const expected = `a ${kind}`;
  return (value) => {
    if (typeof value !== kind) throw _expected(expected, value);
    return value;
  };
}

/** Decoders of an answer, from JSON.parse (when its type holds no bigint or numeric) or from
 * _parseExact (numbers as _Exact): each checks that the value is what the call's type says,
 * throwing a _Mismatch where it is not, and makes it that type's value in place (the parsed
 * tree is the client's own), in the one pass. What the type leaves open (a Json value, a field
 * the type does not name: a newer server's) is only made plain JSON, so no _Exact reaches the
 * caller's data. */
const _d = {
  /** Any JSON, numbers as numbers. */
  plain: (value: unknown): unknown => {
    if (value instanceof _Exact) return Number(value.digits);
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) value[index] = _d.plain(value[index]);
    } else if (value !== null && typeof value === "object") {
      // Every key is the object's own (JSON.parse made it), "__proto__" too: a plain assignment.
      const object = value as Record<string, unknown>;
      for (const key of Object.keys(object)) object[key] = _d.plain(object[key]);
    }
    return value;
  },
  string: _kind("string"),
  boolean: _kind("boolean"),
  /** A void call's answer, or an empty one. */
  null: (value: unknown): unknown => {
    if (value !== null) throw _expected("null", value);
    return value;
  },
  number: (value: unknown): unknown => {
    if (value instanceof _Exact) return Number(value.digits);
    if (typeof value !== "number") throw _expected("a number", value);
    return value;
  },
  /** A bigint or numeric, every digit kept (only _parseExact's output has them); a numeric's
   * NaN and infinities, which JSON has no number for, Postgres writes as these strings. */
  exact: (value: unknown): unknown => {
    if (value instanceof _Exact) return value.digits;
    if (value === "NaN" || value === "Infinity" || value === "-Infinity") return value;
    throw _expected("an exact number", value);
  },
  /** A float: Postgres writes NaN and the infinities as JSON strings. */
  float: (value: unknown): unknown =>
    value === "NaN" || value === "Infinity" || value === "-Infinity" ? Number(value) : _d.number(value),
  /** An enum: one of its labels. */
  oneOf:
    (labels: readonly string[]): _Decoder =>
    (value) => {
      if (typeof value === "string" && labels.includes(value)) return value;
      throw _expected(`one of ${labels.map((label) => JSON.stringify(label)).join(" | ")}`, value);
    },
  orNull:
    (decode: _Decoder): _Decoder =>
    (value) =>
      value === null ? null : decode(value),
  /** The rows of a setof, each decoded by `item`. */
  rows:
    (item: _Decoder): _Decoder =>
    (value) => {
      if (!Array.isArray(value)) throw _expected("an array", value);
      for (let index = 0; index < value.length; index++) value[index] = _at(index, item, value[index]);
      return value;
    },
  /** A Postgres array, of any depth: its type keeps no dimensions (integer[][] is integer[]),
   * and PostgREST answers the nested arrays a value holds; `item` decodes each element. */
  array: (item: _Decoder): _Decoder => {
    const each: _Decoder = (value) => (Array.isArray(value) ? nested(value) : item(value));
    const nested = _d.rows(each);
    return nested;
  },
  /** A row: every field the type names must be there (null only where its decoder takes one);
   * a field it does not name is kept, as plain JSON. */
  obj: (fields: Record<string, _Decoder>): _Decoder => {
    const names = Object.keys(fields);
    return (value) => {
      if (!_isObject(value)) throw _expected("an object", value);
      for (const name of names) {
        if (_hasOwn(value, name)) continue;
        const missing = new _Mismatch("missing");
        missing.path.push(name);
        throw missing;
      }
      for (const key of Object.keys(value)) {
        value[key] = _at(key, _hasOwn(fields, key) ? (fields[key] as _Decoder) : _d.plain, value[key]);
      }
      return value;
    };
  },
};

/** JSON.stringify's replacer: NaN and the infinities, which JSON writes as null, as the strings
 * Postgres reads for a float (an integer argument refuses them: no call is made with a null). */
function _nonFinite(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? String(value) : value;
}

/** The header sets, a later one's value replacing an earlier one's of the same name in any
 * case: fetch sends two spellings of one name as one header with both values ("old, new"). */
function _mergedHeaders(sets: readonly (Record<string, string> | undefined)[]): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const set of sets) {
    for (const [name, value] of Object.entries(set ?? {})) merged[name.toLowerCase()] = value;
  }
  return merged;
}

function _headers(headers: Headers): Record<string, string> {
  const all: Record<string, string> = {};
  headers.forEach((value, name) => {
    all[name] = value;
  });
  return all;
}

async function _request<T, C extends string>(
  client: Client,
  method: "GET" | "POST",
  path: string,
  body: object | null,
  codes: readonly string[],
  // How the answer is parsed: "exact" keeps every digit of its numbers (its type holds a bigint
  // or numeric), at the cost of a pass over the text; "json" is JSON.parse.
  parse: "json" | "exact",
  // Checks the answer against the call's result type and makes it that type's value; an empty
  // answer (a proxy's 204) is taken as null, which only a result type that admits null passes.
  decode: _Decoder,
  options: CallOptions | undefined,
): Promise<Result<T, C>> {
  let status = 0;
  let headers: Record<string, string> = {};
  let text = "";
  // Whether the answer's body arrived to its end: a connection dropped before that is the
  // network's failure (client.network), even when the status had come.
  let whole = false;
  try {
    // An origin as new URL(x).href writes it ends in a slash: "//rpc/…" is no path of the API.
    const response = await (client.fetch ?? fetch)(`${client.baseUrl.replace(/\/+$/, "")}${path}`, {
      method,
      credentials: client.credentials ?? "include",
      // No redirect is followed: the edge answers none, and a 3xx of a proxy in front would
      // take the session header (X-Blossom-Session, which fetch keeps) to the place it names.
      // It is client.unexpected with its status (0 in a browser, which hides it).
      redirect: "manual",
      headers: _mergedHeaders([
        client.headers,
        options?.headers,
        body === null ? undefined : { "Content-Type": "application/json" },
        { Accept: "application/json" },
      ]),
      ...(body === null ? {} : { body: JSON.stringify(body, _nonFinite) }),
      signal: options?.signal ?? null,
    });
    status = response.status;
    headers = _headers(response.headers);
    text = await response.text();
    whole = true;
    if (response.ok) {
      // A mismatch, as an answer that is not JSON, is client.unexpected, below, with the status
      // and headers: a proxy's answer, or an older server's during a deploy, is no success.
      const parsed = text === "" ? null : parse === "exact" ? _parseExact(text) : JSON.parse(text);
      return { ok: true, data: decode(parsed) as T };
    }
  } catch (cause) {
    const message =
      cause instanceof _Mismatch
        ? `${_jsonPath(cause.path)}: ${cause.message}${text === "" ? " (an empty answer)" : ""}`
        : cause instanceof Error
          ? cause.message
          : String(cause);
    const named = cause instanceof Error ? cause.name : "";
    const aborted = Boolean(options?.signal?.aborted) || named === "AbortError";
    const code = aborted ? "client.aborted" : whole ? "client.unexpected" : "client.network";
    return { ok: false, error: { code, rawCode: code, message, details: null, hint: null, status, headers } };
  }
  // The fields of the error shape, named (not an index signature, which a project under
  // noPropertyAccessFromIndexSignature would refuse to read with a dot); any may be missing.
  let answer: { code?: Json; message?: Json; details?: Json; hint?: Json } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    const object = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
    if (object) answer = parsed as typeof answer;
  } catch {
    // not JSON: keep the status, say what came
  }
  const rawCode = typeof answer.code === "string" ? answer.code : `http.${status}`;
  return {
    ok: false,
    error: {
      code: codes.includes(rawCode) ? (rawCode as C) : "client.unexpected",
      rawCode,
      message: typeof answer.message === "string" ? answer.message : text,
      details: answer.details ?? null,
      hint: typeof answer.hint === "string" ? answer.hint : null,
      status,
      headers,
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


def _field(name: str) -> str:
    """A key of an object literal the runtime builds (a decoder's fields). `__proto__:`, bare or
    quoted, sets the literal's prototype instead: the decoder would have no such field, and read
    the column as plain JSON (a bigint's digits lost, its absence passed); computed, it is a key."""
    return '["__proto__"]' if name == "__proto__" else _key(name)


def _member(name: str) -> str:
    """How an object's property `name` is read: `.name`, or `["a b"]`."""
    return f".{name}" if _key(name) == name else f"[{json.dumps(name)}]"


class _Emitter:
    def __init__(self, catalog: Catalog, codes: ErrorCodes, edge: EdgeSurface) -> None:
        self.catalog = catalog
        self.codes = codes
        self.edge = edge
        self.decl = Declarations(reserved=RUNTIME_NAMES | RESERVED_WORDS)
        self.names = self.decl.names
        self.declarations = self.decl.lines  # TypeScript name -> its lines
        self.enum_values: dict[int, str] = {}  # an enum's OID -> the name of its values' list

    # -- types -------------------------------------------------------------------------------

    def type(self, oid: int, where: str, *, answered: bool = False) -> str:
        """The TypeScript type of values of `oid`, without `| null` (`answered`: as `nullable`'s,
        for the elements of an array)."""
        pg = self.catalog.type(oid)
        if pg.kind == "domain":
            return self.answered_array(pg, where) if answered else self.domain(pg, where)
        if pg.kind == "enum":
            return self.enum(pg)
        if pg.kind == "composite":
            return self.composite(pg, where)
        if pg.kind == "array":
            assert pg.element_oid is not None
            return f"({self.nullable(pg.element_oid, False, where, answered=answered)})[]"
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

    def nullable(
        self, oid: int, not_null: bool, where: str, *, answered: bool = False, dimensions: int = 0
    ) -> str:
        """The type, `| null` unless known not null. A NOT NULL domain is believed of what the
        client sends (Postgres refuses a null for it), not of what a function answers
        (`answered`): an SQL function that finds no row, or a column of an outer join, is null
        whatever the domain says; nor are the elements of an array it answers (an array_agg over
        an outer join holds nulls). `dimensions` (a tag's `integer[][]`) nests an array as deep:
        the sub-arrays of a Postgres array are never null, its elements may be."""
        ts = self.type(oid, where, answered=answered) + "[]" * max(dimensions - 1, 0)
        believed = not answered and self.catalog.not_null(oid)
        return ts if not_null or believed else f"{ts} | null"

    def domain(self, pg: PgType, where: str) -> str:
        return self.decl.of_type(pg, lambda name: self.domain_lines(pg, name))

    def answered_array(self, pg: PgType, where: str) -> str:
        """A domain as a function answers it. Over an array, its own CHECKs hold but not its
        elements' NOT NULL domain (an array_agg over an outer join holds nulls), which its
        declaration, the array as Postgres takes it from a client, believes: the array itself
        then, with its elements as answered."""
        base = self.catalog.resolve(pg.oid)
        if base.kind == "array":
            as_answered = self.type(base.oid, where, answered=True)
            if as_answered != self.type(base.oid, where):
                return as_answered
        return self.domain(pg, where)

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
                lines.append(
                    f"// No is{name} guard: a CHECK of {pg.qualified} is not one JavaScript reads alike."
                )
            else:
                guard = claim(self.names, f"is{name}", f"the guard of {pg.qualified}")
                tests = "".join(f" && {condition}" for condition in conditions)
                lines += [
                    f"/** True when `value` has the shape {pg.qualified} requires. */",
                    f"export function {guard}(value: unknown): value is {name} {{",
                    f'  return typeof value === "{base_ts}"{tests};',
                    "}",
                ]
        else:
            lines.append(f"export type {name} = {base_ts};")
        return lines

    def enum(self, pg: PgType) -> str:
        def make(name: str) -> list[str]:
            values = claim(self.names, camel(f"{name}_values"), f"the values of {pg.qualified}")
            self.enum_values[pg.oid] = values
            labels = ", ".join(json.dumps(label) for label in pg.labels)
            return [
                *_doc(doc_lines(pg.comment)),
                f"export type {name} = {' | '.join(json.dumps(label) for label in pg.labels) or 'never'};",
                f"/** The values of {name}, in their SQL order. */",
                f"export const {values}: readonly {name}[] = [{labels}];",
            ]

        return self.decl.of_type(pg, make)

    def composite(self, pg: PgType, where: str) -> str:
        return self.decl.of_type(pg, lambda name: self.interface(name, pg.comment, pg.columns, pg.qualified))

    def interface(self, name: str, comment: str | None, columns: tuple[Column, ...], where: str) -> list[str]:
        lines = [*_doc(doc_lines(comment)), f"export interface {name} {{"]
        for column in columns:
            lines += _doc(doc_lines(column.comment), "  ")
            ts = self.nullable(column.type_oid, column.not_null, f"{where}.{column.name}", answered=True)
            lines.append(f"  {_key(column.name)}: {ts};")
        return [*lines, "}"]

    # -- decoders: each mirrors a type above, and checks an answer against it -----------------

    def decoder(self, oid: int, not_null: bool, *, answered: bool = False) -> str:
        """The decoder of `nullable(oid, not_null, answered=answered)`'s type. Any `dimensions`
        are the array decoder's: it reads every depth."""
        decoder = self.value_decoder(oid, answered=answered)
        believed = not answered and self.catalog.not_null(oid)
        return decoder if not_null or believed else f"_d.orNull({decoder})"

    def value_decoder(self, oid: int, *, answered: bool) -> str:
        """The decoder of `type(oid, answered=answered)`'s type: a domain's is its base type's
        (its CHECKs are not the client's to hold an answer to), as answered over an array."""
        pg = self.catalog.type(oid)
        if pg.kind == "domain":
            base = self.catalog.resolve(oid)
            return self.value_decoder(base.oid, answered=answered and base.kind == "array")
        if pg.kind == "enum":
            self.enum(pg)
            return f"_d.oneOf({self.enum_values[pg.oid]})"
        if pg.kind == "composite":
            return self.row_decoder(pg.columns)
        if pg.kind == "array":
            assert pg.element_oid is not None
            return f"_d.array({self.decoder(pg.element_oid, False, answered=answered)})"
        for decoder, oids in (("_d.boolean", _BOOLEAN), ("_d.float", _FLOAT), ("_d.number", _NUMBER)):
            if oid in oids:
                return decoder
        if oid in _EXACT:
            return "_d.exact"
        if oid in _STRING:
            return "_d.string"
        assert oid in _JSON, pg.sql  # type() refused any other
        return "_d.plain"

    def row_decoder(self, columns: tuple[Column, ...]) -> str:
        fields = ", ".join(
            f"{_field(column.name)}: {self.decoder(column.type_oid, column.not_null, answered=True)}"
            for column in columns
        )
        return f"_d.obj({{ {fields} }})"

    # -- functions ---------------------------------------------------------------------------

    def argument_type(self, function: Function, arg: Arg) -> str:
        where = f"{function.signature} argument {arg.name}"
        tag = function.tags.args.get(arg.name)
        if tag is None:
            return self.nullable(arg.type_oid, function.strict, where)
        own = self.json_kind(arg.type_oid)
        if own is not None and own != self.json_kind(tag.oid):
            raise CodegenError(
                f"{where}: @arg {tag.sql} is not sent in JSON as the argument's own type"
                f" {self.catalog.type(arg.type_oid).sql} is"
            )
        return self.nullable(tag.oid, not tag.nullable, where, dimensions=tag.dimensions)

    def json_kind(self, oid: int) -> str | None:
        """How values of the type travel in JSON (string, number ...); None: not mapped."""
        pg = self.catalog.resolve(oid)
        if pg.kind == "array":
            # Its elements travel too: `text[]` over an `integer[]` sent ["a"], refused with 22P02.
            assert pg.element_oid is not None
            element = self.json_kind(pg.element_oid)
            return None if element is None else f"array of {element}"
        if pg.kind in ("enum", "composite"):
            return "string" if pg.kind == "enum" else pg.kind
        for kind, oids in (("boolean", _BOOLEAN), ("number", _NUMBER), ("string", _EXACT | _STRING)):
            if pg.oid in oids:
                return kind
        return "json" if pg.oid in _JSON else None

    def composite_itself(self, function: Function) -> bool:
        """One output column of a composite type (or a domain over one): PostgREST answers it
        unwrapped ({"ok": true}, not {"m": {"ok": true}}), as Postgres does (its result type is the
        composite's)."""
        columns = function.columns or ()
        return len(columns) == 1 and self.catalog.resolve(columns[0].type_oid).kind == "composite"

    def function(self, function: Function) -> tuple[str, list[str]]:
        where = function.signature
        if function.oid in self.codes.opaque:
            raise CodegenError(
                f"{where}: the codes it can raise cannot be known ({self.codes.opaque[function.oid]}):"
                " declare them in its comment (@raises code, ...) or leave it out (@skip)"
            )
        raw = self.decl.raw_name(function.name, function.schema, camel, DERIVED_ENDINGS)
        base = pascal(raw)
        name = claim(self.names, camel(raw), function.signature)
        lines: list[str] = []

        args_type = claim(self.names, f"{base}Args", function.signature)
        arg_lines = [f"/** The arguments of {function.qualified}. */", f"export interface {args_type} {{"]
        for arg in function.args:
            optional = "?" if arg.has_default else ""
            arg_lines.append(f"  {_key(arg.name)}{optional}: {self.argument_type(function, arg)};")
        arg_lines.append("}")

        result_tag = function.tags.result
        if function.columns is not None and result_tag is None and not self.composite_itself(function):
            row = claim(self.names, f"{base}Row", function.signature)
            comment = f"A row of {function.qualified}."
            self.declarations[row] = self.interface(row, comment, function.columns, where)
            result = f"{row}[]" if function.returns_set else row
            decoder = self.row_decoder(function.columns)
        elif function.return_oid == VOID_OID and result_tag is None:
            result, decoder = "null", "_d.null"
        else:
            oid = result_tag.oid if result_tag else function.return_oid
            composite = self.catalog.resolve(oid).kind == "composite"
            not_null = composite or (result_tag is not None and not result_tag.nullable)
            dimensions = result_tag.dimensions if result_tag else 0
            item = self.nullable(oid, not_null, f"{where} result", answered=True, dimensions=dimensions)
            result = f"({item})[]" if function.returns_set and "|" in item else item
            result += "[]" if function.returns_set and "|" not in item else ""
            decoder = self.decoder(oid, not_null, answered=True)
        if function.returns_set:
            decoder = f"_d.rows({decoder})"

        codes = sorted(self.codes.of(function.oid))
        code_type = claim(self.names, f"{base}ErrorCode", function.signature)
        union = " | ".join([*(json.dumps(code) for code in codes), "RpcCommonErrorCode"])
        self.declarations[code_type] = [f"/** The codes {function.qualified} can fail with. */"]
        self.declarations[code_type].append(f"export type {code_type} = {union};")
        if function.args:
            self.declarations[args_type] = arg_lines
        else:
            del self.names[args_type]

        docs = doc_lines(without_tags(function.comment)) or [f"Calls {function.qualified}."]
        docs += ["", f"POST /rpc/{function.name}; fails with: {', '.join(codes) or 'the common codes only'}."]
        lines += _doc(docs)
        params = ["client: Client"]
        if function.args:
            all_optional = all(arg.has_default for arg in function.args)
            params.append(f"args: {args_type}" + (" = {}" if all_optional else ""))
        params.append("options?: CallOptions")
        lines.append(f"export function {name}(")
        lines += [f"  {param}," for param in params]
        lines.append(f"): Promise<Result<{result}, {code_type}>> {{")
        codes_literal = "[" + "".join(f"{json.dumps(code)}, " for code in codes) + "..._RPC_COMMON]"
        # The arguments by name, as the edge checks them: an object of a wider type (TypeScript
        # takes one) sent whole carried names the function does not take, a call refused.
        picked = ", ".join(f"{_field(arg.name)}: args{_member(arg.name)}" for arg in function.args)
        body_args = f"{{ {picked} }}" if function.args else "{}"
        path = json.dumps(f"/rpc/{function.name}")
        lines.append(
            f'  return _request<{result}, {code_type}>(client, "POST", {path}, {body_args}, '
            f"{codes_literal}, {_parse(decoder)}, {decoder}, options);"
        )
        lines.append("}")
        return name, lines

    # -- the edge's own routes (edge/routes.py) ------------------------------------------------

    def edge_type(self, spec: str, where: str) -> str:
        nullable = spec.endswith("?")
        name = spec.removesuffix("?")
        ts = self.shape(name) if name in self.edge.shapes else self.type(self.edge.types[name], where)
        return f"{ts} | null" if nullable else ts

    def edge_decoder(self, spec: str) -> str:
        """The decoder of `edge_type(spec)`'s type."""
        name = spec.removesuffix("?")
        if name in self.edge.shapes:
            fields = ", ".join(
                f"{_field(key)}: {self.edge_decoder(field)}" for key, field in self.edge.shapes[name].items()
            )
            decoder = f"_d.obj({{ {fields} }})"
        else:
            decoder = self.value_decoder(self.edge.types[name], answered=False)
        return f"_d.orNull({decoder})" if spec.endswith("?") else decoder

    def shape(self, name: str) -> str:
        if name not in self.declarations:
            claim(self.names, name, f"the edge's shape {name}")
            self.declarations[name] = []  # taken before its fields, which may refer to it
            fields = self.edge.shapes[name]
            lines = [
                f"/** {name}, an answer of the edge's routes (edge/routes.py). */",
                f"export interface {name} {{",
            ]
            lines += [
                f"  {_key(key)}: {self.edge_type(spec, f'{name}.{key}')};" for key, spec in fields.items()
            ]
            self.declarations[name] = [*lines, "}"]
        return name

    def route(self, spec: RouteSpec) -> tuple[str, list[str]]:
        where = f"the edge's route {spec.method} {spec.path} ({spec.name})"
        base = pascal(spec.name)
        name = claim(self.names, camel(spec.name), where)
        codes = set(spec.errors)
        if spec.function is not None:
            codes |= self.codes.of_name(spec.function)
        code_list = sorted(codes - set(self.edge.edge_errors))
        code_type = claim(self.names, f"{base}ErrorCode", where)
        union = " | ".join([*(json.dumps(code) for code in code_list), "EdgeErrorCode"])
        self.declarations[code_type] = [
            f"/** The codes {spec.method} {spec.path} can fail with. */",
            f"export type {code_type} = {union};",
        ]
        params = ["client: Client"]
        if spec.body:
            body_type = claim(self.names, f"{base}Body", where)
            body_lines = [
                f"/** The body of {spec.method} {spec.path}. */",
                f"export interface {body_type} {{",
            ]
            body_lines += [
                f"  {_key(key)}: {self.edge_type(value, f'{where} field {key}')};"
                for key, value in spec.body.items()
            ]
            self.declarations[body_type] = [*body_lines, "}"]
            params.append(f"body: {body_type}")
        params.append("options?: CallOptions")
        result = self.shape(spec.result) if spec.result else "null"
        decoder = self.edge_decoder(spec.result) if spec.result else "_d.null"
        statuses = ", ".join(sorted({f"{status} {code}" for code, status in spec.errors.items()}))
        docs = [spec.summary, "", f"{spec.method} {spec.path}: {spec.status} on success."]
        docs += (
            [f"Fails with: {statuses or 'the common codes only'}, and what {spec.function} raises."]
            if spec.function
            else []
        )
        lines = [*_doc(docs), f"export function {name}(", *(f"  {param}," for param in params)]
        lines.append(f"): Promise<Result<{result}, {code_type}>> {{")
        codes_literal = "[" + "".join(f"{json.dumps(code)}, " for code in code_list) + "..._EDGE_COMMON]"
        body = "body" if spec.body else ("{}" if spec.method == "POST" else "null")
        lines.append(
            f"  return _request<{result}, {code_type}>(client, {json.dumps(spec.method)}, "
            f"{json.dumps(spec.path)}, "
            f"{body}, {codes_literal}, {_parse(decoder)}, {decoder}, options);"
        )
        return name, [*lines, "}"]


def _parse(decoder: str) -> str:
    """`_request`'s parse: "exact" only for an answer that holds a bigint or numeric, whose
    digits JSON.parse would lose."""
    return '"exact"' if "_d.exact" in decoder else '"json"'


def _union(codes: list[str]) -> str:
    return " | ".join(json.dumps(code) for code in codes) or "never"


def emit_typescript(
    catalog: Catalog, codes: ErrorCodes, functions: list[Function], command: str, edge: EdgeSurface
) -> str:
    """The whole generated.ts for the API's functions (catalog.api_functions) and the edge's routes."""
    refuse_overloads(functions)
    emitter = _Emitter(catalog, codes, edge)
    bodies: dict[str, list[str]] = {}
    refusals: list[str] = []
    for function in functions:
        if function.tags.skips("typescript"):
            continue
        try:
            name, lines = emitter.function(function)
        except CodegenError as error:
            refusals.append(str(error))
            continue
        bodies[name] = lines
    for spec in edge.routes:
        try:
            name, lines = emitter.route(spec)
        except CodegenError as error:
            refusals.append(str(error))
            continue
        bodies[name] = lines
    if refusals:
        raise CodegenError("TypeScript: " + "; ".join(sorted(refusals)))
    edge_codes = sorted(edge.edge_errors)
    rpc_common = sorted(codes.common | set(edge.edge_errors) | set(edge.rpc_errors))
    out = [
        f"// @generated by `{command}` from the database catalog and edge/routes.py."
        " Do not edit: change the SQL (or the routes) and regenerate.",
        "/* eslint-disable */",
        _RUNTIME.strip("\n"),
        "",
        "/** What the edge may answer to any request. */",
        f"export type EdgeErrorCode = {_union(edge_codes)};",
        "/** What every RPC may fail with besides its own: the pre-request's, the edge's and its proxy's. */",
        f"export type RpcCommonErrorCode = {_union(rpc_common)};",
        f"const _EDGE_COMMON: readonly string[] = {json.dumps(edge_codes)};",
        f"const _RPC_COMMON: readonly string[] = {json.dumps(rpc_common)};",
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
