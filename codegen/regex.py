"""A domain's CHECK constraints as a JavaScript guard, when they are regex matches and lengths.

`pg_get_constraintdef` prints e.g. `CHECK ((VALUE ~ '^usr_[0-9a-z]{26}$'::text))`. Postgres
regular expressions (ARE) and JavaScript's agree on a common subset: literal characters,
bracket classes with ranges, `.`, anchors, `\\d`, groups, alternation and the usual
quantifiers. Length comparisons (`octet_length(VALUE) = 30`, `char_length`, `length`) translate
too. A pattern outside that subset, or any other CHECK, gets no guard: the generated code says so
rather than guess.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pglast.parser import ParseError, parse_sql_json

# Escapes with one meaning in both dialects, and what each is in a JavaScript pattern with the
# `u` flag (which allows no other identity escape). \w and \s are not among them: Postgres's
# read the database's locale (é is a letter, U+00A0 no space), JavaScript's do not.
_ESCAPES = {
    **{char: "\\" + char for char in "dD.\\/^$*+?()[]{}|"},
    "_": "_",
}
_BOUND = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_SAFE_CHARS = re.compile(r"[A-Za-z0-9 _\-\^$\[\]{}(),|?*+.:@#%&=<>!~'\"/]")


def _javascript_pattern(pattern: str, *, any_case: bool = False) -> str | None:
    """The pattern as JavaScript source for a RegExp with the flags `su` (code points, as
    Postgres counts them; `.` matching a newline too, as Postgres's does), or None when it is
    outside the subset both dialects read alike. `any_case` (`~*`, the flag `i`): no negated
    class, which the two read apart: JavaScript folds the text too (the Kelvin sign is a k, so
    `[^a-z]` refuses it), Postgres only adds each pattern letter's other case (and takes it)."""
    if "[[" in pattern or "(?" in pattern or "***" in pattern:
        return None  # POSIX classes, embedded options, director prefixes
    out: list[str] = []
    in_brackets = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            escaped = pattern[position + 1] if position + 1 < len(pattern) else ""
            if escaped == "-":  # a literal hyphen: escaped only where it could make a range
                out.append("\\-" if in_brackets else "-")
            elif escaped in _ESCAPES:
                out.append(_ESCAPES[escaped])
            else:
                return None
            position += 2
            continue
        if not _SAFE_CHARS.fullmatch(char):
            return None
        if not in_brackets and char in "{}]":
            # A bound, whole, as both read it; a lone brace or bracket is a literal to Postgres,
            # and a syntax error to JavaScript with `u`.
            bound = _BOUND.match(pattern, position) if char == "{" else None
            if bound is None:
                return None
            out.append(bound.group())
            position = bound.end()
            continue
        if char == "[" and not in_brackets:
            in_brackets = True
            opening = pattern[position + 1 : position + 3]
            if opening.startswith("]") or opening == "^]":
                return None  # a leading ] is a member in Postgres, an empty class in JavaScript
            if any_case and opening.startswith("^"):
                return None
        elif char == "]" and in_brackets:
            in_brackets = False
        elif char in "{}" and in_brackets:
            char = "\\" + char  # literal inside brackets in both; `u` wants them escaped
        out.append("\\/" if char == "/" else char)
        position += 1
    return "".join(out)


def _is_value(node: Any) -> bool:
    if "TypeCast" in node:
        return _is_value(node["TypeCast"]["arg"])
    column = node.get("ColumnRef")
    return bool(column) and [f.get("String", {}).get("sval") for f in column["fields"]] == ["value"]


def _string(node: Any) -> str | None:
    if "TypeCast" in node:
        return _string(node["TypeCast"]["arg"])
    constant = node.get("A_Const")
    if isinstance(constant, dict) and "sval" in constant:
        return str(constant["sval"]["sval"])
    return None


def _conjuncts(node: Any) -> list[Any]:
    boolean = node.get("BoolExpr")
    if boolean and boolean.get("boolop") == "AND_EXPR":
        return [part for arg in boolean["args"] for part in _conjuncts(arg)]
    return [node]


_LENGTHS = {
    "octet_length": "new TextEncoder().encode(value).length",
    "char_length": "[...value].length",
    "character_length": "[...value].length",
    "length": "[...value].length",
}
_COMPARISONS = {"=": "===", "<>": "!==", "!=": "!==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _integer(node: Any) -> int | None:
    if "TypeCast" in node:
        return _integer(node["TypeCast"]["arg"])
    constant = node.get("A_Const")
    if isinstance(constant, dict) and "ival" in constant:
        return int(constant["ival"].get("ival", 0))
    return None


def _length(node: Any) -> str | None:
    call = node.get("FuncCall")
    if not call or len(call.get("args") or []) != 1 or not _is_value(call["args"][0]):
        return None
    return _LENGTHS.get(call["funcname"][-1]["String"]["sval"])


def js_conditions(checks: list[str]) -> list[str] | None:
    """JavaScript conditions on `value` equivalent to the CHECKs, or None when one cannot be."""
    literals: list[str] = []
    for check in checks:
        match = re.fullmatch(r"CHECK \((.*)\)( NOT VALID)?", check.strip(), re.DOTALL)
        if not match:
            return None
        try:
            tree = json.loads(parse_sql_json(f"select {match.group(1)}"))
        except ParseError:
            return None
        target = tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
        for node in _conjuncts(target):
            expr = node.get("A_Expr")
            if not expr or expr.get("kind") != "AEXPR_OP":
                return None
            operator = expr["name"][-1]["String"]["sval"]
            length, bound = _length(expr["lexpr"]), _integer(expr["rexpr"])
            if length is not None and bound is not None and operator in _COMPARISONS:
                literals.append(f"{length} {_COMPARISONS[operator]} {bound}")
                continue
            pattern = _string(expr["rexpr"])
            if operator not in ("~", "~*") or pattern is None or not _is_value(expr["lexpr"]):
                return None
            javascript = _javascript_pattern(pattern, any_case=operator == "~*")
            if javascript is None:
                return None
            flags = "isu" if operator == "~*" else "su"
            literals.append(f"/{javascript}/{flags}.test(value)")
    return literals or None
