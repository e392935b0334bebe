"""One folding for place search, in Python and in SQL, and one set of CRS names."""

from __future__ import annotations

import psycopg

from kmzb.domain import crs_names, submission
from kmzb.domain.spelling import SQL_FOLD, ascii_spelling, fold
from kmzb.loaders import common
from kmzb.service import query_checks


def test_fold_and_ascii_spelling() -> None:
    assert fold("Łódź") == "lodz"
    assert fold("ŻÓŁTA Gęś") == "zolta ges"
    assert fold("Skarżysko-Kamienna") == "skarzysko-kamienna"
    assert ascii_spelling("zdjęcie żółw.jpg") == "zdjecie zolw.jpg"
    assert ascii_spelling("Łąka Øre Straße") == "Laka Ore Strasse"


def test_sql_folding_equals_python_folding_on_every_unit_name(db_url: str) -> None:
    """Place search folds the query in Python and the names in SQL: for every
    territorial unit's name both must give the same text, or a search misses it."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT name, translate(lower(name), %(fold_from)s, %(fold_to)s)"
            " FROM kmzb.territorial_units",
            SQL_FOLD,
        ).fetchall()
    assert len(rows) > 2000
    differing = [(name, in_sql) for name, in_sql in rows if fold(name) != in_sql]
    assert differing == []


def test_the_crs_names_are_defined_once() -> None:
    """The submission check, the loaders and the query checks use the same names."""
    assert submission.WGS84_NAMES is crs_names.WGS84_NAMES
    assert submission.PUWG_1992_NAMES is crs_names.PUWG_1992_NAMES
    assert common.WGS84_NAMES is crs_names.WGS84_NAMES
    assert query_checks.CRS84 == crs_names.CRS84_URI
