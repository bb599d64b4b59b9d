"""One source of truth for error codes: what codegen reads from the function bodies (and, for
the edge, the codes its code answers with). The functions' comments ("Errors: ...") and the
error tables of docs/api.md must say the same; `just list-symbols` prints the derived codes itself."""

from __future__ import annotations

import re

import psycopg
import pytest

from codegen.catalog import is_internal, read_catalog
from codegen.config import ROOT, Config
from codegen.raises import ErrorCodes, error_codes

CODE = re.compile(r"\b(?:auth|org|member|invitation|audit|request|edge|slack|ai|pipeline|server)\.[a-z_]+\b")
API_DOC = (ROOT / "docs" / "api.md").read_text()
# Schemas whose functions' comments list the codes they raise: the API, and the auth and
# ext and pipeline functions the edge and the pipeline call.
DOCUMENTED_SCHEMAS = ("api", "auth", "ext", "pipeline")


@pytest.fixture
def derived(database_url: str) -> tuple[dict[str, frozenset[str]], ErrorCodes, dict[str, str]]:
    """Per function: the codes codegen derives; and each one's comment."""
    config = Config()
    with psycopg.connect(database_url, autocommit=True) as conn:
        catalog = read_catalog(conn, DOCUMENTED_SCHEMAS)
        codes = error_codes(conn, config.raises)
    functions = [f for f in catalog.functions if not is_internal(f)]
    return (
        {f.qualified: codes.of(f.oid) for f in functions},
        codes,
        {f.qualified: f.comment or "" for f in functions},
    )


def listed_in_comment(comment: str) -> frozenset[str]:
    """The codes after "Errors:" in a function's comment (none when it has no such part)."""
    _, found, errors = comment.partition("Errors:")
    return frozenset(CODE.findall(errors)) if found else frozenset()


def test_each_function_comment_lists_exactly_the_codes_its_body_can_raise(
    derived: tuple[dict[str, frozenset[str]], ErrorCodes, dict[str, str]],
) -> None:
    by_function, _codes, comments = derived
    wrong = {
        name: {"raises": sorted(raised), "comment says": sorted(listed_in_comment(comments[name]))}
        for name, raised in by_function.items()
        if listed_in_comment(comments[name]) != raised
    }
    assert not wrong, f"comments that disagree with the bodies (codegen's reading): {wrong}"


def _section(title: str) -> str:
    start = API_DOC.index(f"\n## {title}\n")
    end = API_DOC.find("\n## ", start + 1)
    return API_DOC[start:end]


def _table_codes(section: str) -> frozenset[str]:
    """The codes in the `| status | code | when |` tables of a section of docs/api.md."""
    rows = [line for line in section.splitlines() if re.match(r"^\| (?:\d{3}|4xx) \|", line)]
    return frozenset(code for row in rows for code in CODE.findall(row.split("|")[2]))


def test_the_organizations_table_names_the_codes_the_api_can_raise(
    derived: tuple[dict[str, frozenset[str]], ErrorCodes, dict[str, str]],
) -> None:
    by_function, codes, _comments = derived
    api = frozenset().union(*(raised for name, raised in by_function.items() if name.startswith("api.")))
    outside = _table_codes(_section("Outside services"))
    documented = _table_codes(_section("Organizations")) | (outside & api)
    assert documented == api | codes.common, {
        "in docs/api.md only": sorted(documented - api - codes.common),
        "raised but not in docs/api.md": sorted((api | codes.common) - documented),
    }


# Failures the AI ledger records (app.ai_usage.failure) that no request is answered with: a call
# the edge gave up on as it stopped had no answer at all. docs/services.md names them.
LEDGER_ONLY = frozenset({"ai.cancelled"})


def test_the_ledger_only_failures_are_named_where_the_ledger_is() -> None:
    services = (ROOT / "docs" / "services.md").read_text()
    assert {code for code in LEDGER_ONLY if f"`{code}`" not in services} == set()


def test_the_outside_services_tables_name_what_their_routes_answer(
    derived: tuple[dict[str, frozenset[str]], ErrorCodes, dict[str, str]],
) -> None:
    """Each code in the tables is raised by an api or ext function or by the edge or a service
    client, and each service code they raise (slack.*, ai.*) is in a table."""
    by_function, _codes, _comments = derived
    raised = frozenset().union(
        *(found for name, found in by_function.items() if name.startswith(("api.", "ext.")))
    )
    sources = [*(ROOT / "edge").glob("*.py"), *(ROOT / "services").glob("*.py")]
    in_python = (
        frozenset(
            code for path in sources for code in re.findall(r'"((?:slack|ai)\.[a-z_]+)"', path.read_text())
        )
        - LEDGER_ONLY
    )
    documented = _table_codes(_section("Outside services"))
    assert documented - raised - in_python == set(), "documented, but nothing answers it"
    service_codes = frozenset(code for code in raised if code.startswith(("slack.", "ai.")))
    assert (service_codes | in_python) - documented == set(), "answered, but not in docs/api.md"


def test_the_edge_table_names_the_codes_the_edge_answers_with() -> None:
    answered = frozenset(
        code
        for path in (ROOT / "edge").glob("*.py")
        # A code is a string literal "edge.…", but for the loggers' names.
        for code in re.findall(r"(?<!getLogger\()\"(edge\.[a-z_]+)\"", path.read_text())
    )
    assert _table_codes(_section("The edge")) == answered
