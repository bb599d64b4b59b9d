"""Names in the target languages, and the checks that two objects do not get the same one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from codegen.catalog import CodegenError, Function, PgType

_WORD = re.compile(r"[A-Za-z0-9]+")
# What may stand between the words of a name: anything else (a letter beyond ASCII, `$`) would be
# dropped, and two names made alike or one made empty.
_SEPARATORS = re.compile(r"[A-Za-z0-9_. -]*")


# What a function's name may hold: it is its Python wrapper's name (`api_<name>`) as it is, and, in
# the API, its /rpc/ path, which the edge forwards for these characters only (RPC_PATH in
# edge/proxy.py). A type's name may hold more: `pascal` makes it into words.
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_]+")


def refuse_function_names(functions: Iterable[Function]) -> None:
    """Every function whose name a client could not call by stops generation, all named (else
    `def api_Get-Thing(` stopped it at ruff's parse error)."""
    refused = sorted(
        f"{function.signature}: a function's name is ASCII letters, digits and _ only (its Python"
        " wrapper's name, and the /rpc/ path the edge forwards): rename it"
        for function in functions
        if not _FUNCTION_NAME.fullmatch(function.name)
    )
    if refused:
        raise CodegenError("; ".join(refused))


def pascal(name: str) -> str:
    if not _SEPARATORS.fullmatch(name):
        raise CodegenError(f"{name}: only ASCII letters, digits and _ make names in TypeScript and Python")
    made = "".join(word[:1].upper() + word[1:] for word in _WORD.findall(name))
    if not made[:1].isalpha():
        raise CodegenError(f"{name}: a name in TypeScript and Python starts with an ASCII letter")
    return made


def camel(name: str) -> str:
    words = pascal(name)
    return words[:1].lower() + words[1:]


def upper_snake(name: str) -> str:
    return "_".join(word.upper() for word in _WORD.findall(name))


class NameClash(CodegenError):
    """Two objects would get one name: never a limit of one language that leaves an object out."""


def claim(names: dict[str, str], name: str, owner: str) -> str:
    """Register `name` for `owner`; two owners of one name stop generation, naming both."""
    previous = names.setdefault(name, owner)
    if previous != owner:
        raise NameClash(f"{previous} and {owner} would both be named {name}: rename one of them")
    return name


def doc_lines(text: str | None) -> list[str]:
    """A comment's lines, safe inside a /** */ or a triple-quoted docstring."""
    if not text:
        return []
    cleaned = text.replace("*/", "* /").replace('"""', "'''").replace("\\", "\\\\")
    return [line.rstrip() for line in cleaned.strip().splitlines()]


RUNTIME_OWNER = "the generated module's runtime or language"


class Declarations:
    """Each named type declared once: its target-language name and lines, by OID.

    `reserved` are the names the target language and the generated runtime keep for themselves
    (keywords, exported helpers, globals): an SQL object that would get one of them is named
    with its schema in front (`api.result` -> `ApiResult`, `api.delete` -> `apiDelete`).
    """

    def __init__(self, reserved: frozenset[str] = frozenset()) -> None:
        self.names: dict[str, str] = dict.fromkeys(reserved, RUNTIME_OWNER)  # claimed name -> owner
        self.reserved = reserved
        self.lines: dict[str, list[str]] = {}  # declared name -> its lines
        self.by_oid: dict[int, str] = {}

    def raw_name(
        self, name: str, schema: str, style: Callable[[str], str], derived: tuple[str, ...] = ()
    ) -> str:
        """`name`, or `schema_name` when `style(name)` is reserved, or a name made from it (its
        PascalCase with one of the `derived` endings: `api.client` makes `ClientErrorCode`)."""
        clashes = style(name) in self.reserved or any(pascal(name) + end in self.reserved for end in derived)
        return f"{schema}_{name}" if clashes else name

    def of_type(self, pg: PgType, make: Callable[[str], list[str]]) -> str:
        name = self.by_oid.get(pg.oid)
        if name is None:
            styled = pascal(self.raw_name(pg.name, pg.schema, pascal))
            name = self.by_oid[pg.oid] = claim(self.names, styled, pg.qualified)
            try:
                self.lines[name] = make(name)
            except CodegenError:
                # Not declared: the next object that uses the type must meet the same refusal,
                # not a name that nothing declares.
                del self.by_oid[pg.oid], self.names[name]
                raise
        return name
