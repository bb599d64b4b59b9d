"""Tags in a function's comment that tell codegen what the catalog cannot.

One tag a line, anywhere in the comment; the generated documentation leaves them out:

- `@arg NAME TYPE` types argument NAME as the SQL type TYPE in the clients (`TYPE?`: it may be
  null). The API takes IDs and roles as `text`, so that a malformed one is answered with the
  function's own coded error rather than a CHECK violation; `@arg org_id app.org_id` gives the
  clients the branded `OrgId` all the same. TYPE must be over the same base type as the
  argument (an `app.org_id` over `text`), unless codegen cannot map the argument's own type.
- `@result TYPE` types the result (each row of a `setof`) as TYPE: the escape hatch for a
  result type codegen cannot map (`@result text` for a `point`, which PostgREST sends as text).
- In either, `TYPE[][]` (and deeper) declares an array's dimensions, which Postgres keeps
  nowhere (integer[][] is the type integer[]; pg_dump writes a column or a domain declared so as
  integer[]): the clients type it as arrays that deep, as PostgREST and psycopg answer it.
- `@raises CODE, CODE` declares the codes a function raises where codegen cannot see them
  (inside `EXECUTE`); tests call the function and check what it raises is declared.
- `@skip`, `@skip typescript`, `@skip python`: no client function for it (in that language),
  while it stays callable; the escape hatch for a function codegen refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

TAG_LINE = re.compile(r"^[ \t]*@(arg|result|raises|skip)\b[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_ARG = re.compile(r'^("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s+([A-Za-z_][\w.]*)((?:\[\])*)(\?)?$')
_TYPE = re.compile(r"^([A-Za-z_][\w.]*)((?:\[\])*)(\?)?$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$")
LANGUAGES = frozenset({"typescript", "python"})


class TagError(ValueError):
    """A tag that cannot be read; the caller names the function."""


@dataclass(frozen=True)
class TypeTag:
    sql: str  # the SQL type's name, as to_regtype reads it (one `[]` for an array of any depth)
    nullable: bool
    oid: int = 0  # filled in by the catalog once it has looked the name up
    dimensions: int = 0  # how many `[]` the tag wrote: an array's depth, which the type lacks


def _type_tag(name: str, brackets: str, nullable: str | None) -> TypeTag:
    dimensions = len(brackets) // 2
    return TypeTag(name + ("[]" if dimensions else ""), bool(nullable), dimensions=dimensions)


@dataclass(frozen=True)
class Tags:
    args: dict[str, TypeTag] = field(default_factory=dict)
    result: TypeTag | None = None
    raises: frozenset[str] | None = None  # None: not declared
    skip: frozenset[str] = frozenset()  # languages without a client function

    def skips(self, language: str) -> bool:
        return language in self.skip

    def type_names(self) -> list[str]:
        tags = [*self.args.values(), *([self.result] if self.result else [])]
        return [tag.sql for tag in tags]

    def resolved(self, oids: dict[str, int]) -> Tags:
        def fill(tag: TypeTag) -> TypeTag:
            return replace(tag, oid=oids[tag.sql])

        return Tags(
            args={name: fill(tag) for name, tag in self.args.items()},
            result=fill(self.result) if self.result else None,
            raises=self.raises,
            skip=self.skip,
        )


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def parse_tags(comment: str | None) -> Tags:
    """The tags of a comment (TagError for one that is malformed or given twice)."""
    args: dict[str, TypeTag] = {}
    result: TypeTag | None = None
    raises: set[str] | None = None
    skip: set[str] = set()
    for match in TAG_LINE.finditer(comment or ""):
        tag, rest = match.group(1), match.group(2)
        if tag == "arg":
            found = _ARG.match(rest)
            if not found:
                raise TagError(f"@arg {rest!r}: expected `@arg NAME TYPE` or `@arg NAME TYPE?`")
            name = _unquote(found.group(1))
            if name in args:
                raise TagError(f"@arg {name} is given twice")
            args[name] = _type_tag(found.group(2), found.group(3), found.group(4))
        elif tag == "result":
            found = _TYPE.match(rest)
            if not found or result is not None:
                raise TagError(f"@result {rest!r}: expected one `@result TYPE`")
            result = _type_tag(found.group(1), found.group(2), found.group(3))
        elif tag == "raises":
            codes = [code.strip() for code in rest.split(",") if code.strip()]
            bad = [code for code in codes if not _CODE.match(code)]
            if bad or raises is not None:
                raise TagError(f"@raises {rest!r}: expected one `@raises code.one, code.two`")
            raises = set(codes)
        else:
            languages = set(rest.split()) or set(LANGUAGES)
            if not languages <= LANGUAGES:
                raise TagError(f"@skip {rest!r}: expected `@skip`, `@skip typescript` or `@skip python`")
            skip |= languages
    return Tags(args, result, frozenset(raises) if raises is not None else None, frozenset(skip))


def without_tags(comment: str | None) -> str | None:
    """The comment without its tag lines, for the generated documentation."""
    if comment is None:
        return None
    return TAG_LINE.sub("", comment).strip() or None
