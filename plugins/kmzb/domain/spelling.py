"""Folding names for search and for ASCII: the one definition of each.

`fold` is what place search compares (lower case, no diacritics); the same
folding in SQL is `translate(lower(name), %(fold_from)s, %(fold_to)s)` with
`SQL_FOLD` bound, which covers every letter of Polish names (a test checks the
two agree on every territorial unit's name). `ascii_spelling` keeps the case,
for file names.
"""

from __future__ import annotations

import unicodedata

# Letters with no compatibility decomposition, spelled out (NFKD leaves them whole).
UNDECOMPOSED = str.maketrans(
    {"ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O"}
)

# Polish letters and their folded forms, for SQL translate() over lower-cased names.
POLISH_LOWER = "ąćęłńóśźż"
POLISH_LOWER_FOLDED = "acelnoszz"
SQL_FOLD = {"fold_from": POLISH_LOWER, "fold_to": POLISH_LOWER_FOLDED}


def ascii_spelling(text: str) -> str:
    """The text without diacritics, case kept; characters with no ASCII form dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(UNDECOMPOSED))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def fold(text: str) -> str:
    """Lower case without diacritics (Polish or other): `Łódź` → `lodz`."""
    decomposed = unicodedata.normalize("NFKD", text.translate(UNDECOMPOSED).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
