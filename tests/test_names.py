"""The rule of names shown to others (app.name_fault, sql/functions/app/names.sql) against
Unicode's own categories, which Postgres's regular expressions do not know and the SQL spells
out: Python's unicodedata says which code points are marks."""

from __future__ import annotations

import sys
import unicodedata

import psycopg

# Every mark (Unicode's general categories Mn, Mc and Me): each needs a character to sit on.
MARKS = [
    chr(point) for point in range(sys.maxunicode + 1) if unicodedata.category(chr(point)).startswith("M")
]
# Marks that the rule refuses anywhere, as hiding in a name (app.has_invisible_characters): the
# combining grapheme joiner and the Khmer inherent vowels, which show as nothing.
HIDDEN_MARKS = {"\u034f", "\u17b4", "\u17b5"}


def test_a_name_of_marks_alone_shows_nothing(database_url: str) -> None:
    """Only the generic blocks of combining marks were known: a name of Hebrew points, Arabic
    harakat or Thai vowel signs alone, which show as a blank or a mark floating over nothing,
    was taken as a display name and an organization's name."""
    with psycopg.connect(database_url) as conn:
        taken = conn.execute(
            "select array_agg(to_hex(ascii(mark)) order by mark)"
            "  from unnest(%s::text[]) mark where app.name_fault(mark || mark) is distinct from 'shape'",
            (MARKS,),
        ).fetchone()
    assert taken == (None,), f"marks taken for a name by themselves (hex): {taken}"


def test_a_mark_on_a_letter_is_a_name(database_url: str) -> None:
    """Each mark sits on a letter in a name, but for those that show as nothing."""
    with psycopg.connect(database_url) as conn:
        refused = conn.execute(
            "select array_agg(mark order by mark) from unnest(%s::text[]) mark"
            " where app.name_fault('Zo' || mark || 'e') is not null",
            (MARKS,),
        ).fetchone()
    assert refused is not None
    assert set(refused[0] or []) == HIDDEN_MARKS
