"""The rule of names shown to others (app.name_fault, sql/functions/app/names.sql) against
Unicode's own categories, which Postgres's regular expressions do not know and the SQL spells
out: Python's unicodedata says which code points are marks."""

from __future__ import annotations

import sys
import unicodedata

import psycopg
from psycopg import sql

# Every mark (Unicode's general categories Mn, Mc and Me): each needs a character to sit on.
MARKS = [
    chr(point) for point in range(sys.maxunicode + 1) if unicodedata.category(chr(point)).startswith("M")
]
# Marks that the rule refuses anywhere, as hiding in a name (app.has_invisible_characters): the
# combining grapheme joiner and the Khmer inherent vowels, which show as nothing.
HIDDEN_MARKS = {"\u034f", "\u17b4", "\u17b5"}


def marks_where(database_url: str, fault_of_name: str) -> set[str]:
    """The marks (MARKS) that meet the condition, a boolean expression of `mark`."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            sql.SQL("select array_agg(mark) from unnest(%s::text[]) mark where {}").format(
                sql.SQL(fault_of_name)
            ),
            (MARKS,),
        ).fetchone()
    assert found is not None
    return set(found[0] or [])


def test_a_name_of_marks_alone_shows_nothing(database_url: str) -> None:
    """Only the generic blocks of combining marks were known: a name of Hebrew points, Arabic
    harakat or Thai vowel signs alone, which show as a blank or a mark floating over nothing,
    was taken as a display name and an organization's name."""
    taken = marks_where(database_url, "app.name_fault(mark || mark) is distinct from 'shape'")
    assert not taken, f"marks taken for a name by themselves: {sorted(f'U+{ord(m):04X}' for m in taken)}"


def test_a_mark_on_a_letter_is_a_name(database_url: str) -> None:
    """Each mark sits on a letter in a name, but for those that show as nothing."""
    assert marks_where(database_url, "app.name_fault('Zo' || mark || 'e') is not null") == HIDDEN_MARKS
