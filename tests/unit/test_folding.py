"""Folding names (kmzb.domain.spelling), pure: what place search compares and what file
names are written in. tests/test_spelling.py checks SQL's folding against the database's
unit names; here, the Python side and the SQL pair's own consistency."""

from __future__ import annotations

import pytest

from kmzb.domain.spelling import (
    POLISH_LOWER,
    POLISH_LOWER_FOLDED,
    SQL_FOLD,
    ascii_spelling,
    fold,
)

POLISH_UPPER = "ĄĆĘŁŃÓŚŹŻ"


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Łódź", "lodz"),
        ("Gdańsk", "gdansk"),
        ("ŻÓŁTA Wola", "zolta wola"),
        ("Świętokrzyskie", "swietokrzyskie"),
        ("Bielsko-Biała", "bielsko-biala"),
        ("Straße", "strasse"),
        ("Ørsted Æble", "orsted aeble"),
        ("Zürich, Île-de-France", "zurich, ile-de-france"),
        ("lodz", "lodz"),
        ("", ""),
    ],
)
def test_fold_is_lower_case_without_diacritics(name: str, folded: str) -> None:
    assert fold(name) == folded


def test_fold_is_idempotent_and_blind_to_composition() -> None:
    composed = "Kraków"
    decomposed = "Krako\u0301w"  # o + combining acute
    assert fold(composed) == fold(decomposed) == "krakow"
    for name in ("Łódź", "Straße", "Ørsted"):
        assert fold(fold(name)) == fold(name)


def test_ascii_spelling_keeps_the_case_and_drops_what_has_no_ascii() -> None:
    assert ascii_spelling("Zgłoszenie Łódź.jpg") == "Zgloszenie Lodz.jpg"
    assert ascii_spelling("ŻÓŁW") == "ZOLW"
    assert ascii_spelling("zdjęcie 📷 ławki") == "zdjecie  lawki"
    assert ascii_spelling("Straße") == "Strasse"


def test_the_sql_pair_folds_every_polish_letter_as_python_does() -> None:
    assert SQL_FOLD == {"fold_from": POLISH_LOWER, "fold_to": POLISH_LOWER_FOLDED}
    assert len(POLISH_LOWER) == len(POLISH_LOWER_FOLDED)
    assert POLISH_UPPER.lower() == POLISH_LOWER
    sql_translate = str.maketrans(POLISH_LOWER, POLISH_LOWER_FOLDED)
    for letter in POLISH_LOWER + POLISH_UPPER:
        assert letter.lower().translate(sql_translate) == fold(letter)
    # SQL's translate(lower(name), ...) and fold agree on a whole Polish name
    name = "Brzęczyszczykiewicz z Chrząszczyżewoszyc, powiat Łękołody"
    assert name.lower().translate(sql_translate) == fold(name)
