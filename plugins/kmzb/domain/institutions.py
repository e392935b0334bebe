"""Institutions outside the police (partners): codes, names, and who may forward to them.

The table and the rule live in SQL (migration 035): `kmzb.institutions` and
`kmzb.institution_unit_reach` (a unit listed for an institution, and every unit
under it, may forward reports there). A partner's token names its institution
by code; the token layer checks only the code's shape, the domain checks that
the code exists.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from kmzb.domain.caller import INSTITUTION_CODE, Caller
from kmzb.domain.errors import FieldError, forbidden, invalid
from kmzb.domain.police_reach import reachable_units


def is_code(value: Any) -> bool:
    return isinstance(value, str) and INSTITUTION_CODE.match(value) is not None


def require_forwardable(conn: psycopg.Connection, unit: str, code: Any) -> str:
    """The code of an institution the report's unit may forward to; else a 400 (pl/en)."""
    if not is_code(code):
        raise invalid(
            [
                FieldError(
                    "forwarded_to",
                    "Podaj kod instytucji (np. SM-KRAKOW); lista: GET /institutions.",
                    "Give the institution's code (e.g. SM-KRAKOW); the list: GET /institutions.",
                )
            ]
        )
    row = conn.execute(
        """SELECT i.code, EXISTS (SELECT 1 FROM kmzb.institution_unit_reach r
                                  WHERE r.institution = i.code AND r.police_unit = %s)
           FROM kmzb.institutions i WHERE i.code = %s""",
        (unit, code),
    ).fetchone()
    if row is None:
        conn.rollback()
        raise invalid(
            [
                FieldError(
                    "forwarded_to",
                    f"Nieznany kod instytucji: {code}.",
                    f"Unknown institution code: {code}.",
                )
            ]
        )
    if not row[1]:
        conn.rollback()
        raise invalid(
            [
                FieldError(
                    "forwarded_to",
                    f"Jednostka {unit} nie przekazuje zgłoszeń do instytucji {code}.",
                    f"The unit {unit} does not forward reports to the institution {code}.",
                )
            ]
        )
    return str(code)  # a str: is_code checked it


LIST = """
SELECT i.code, i.name_pl, i.name_en, i.kind,
       array(SELECT iu.police_unit FROM kmzb.institution_units iu
             WHERE iu.institution = i.code ORDER BY iu.police_unit) AS units
FROM kmzb.institutions i
WHERE %(unit)s::text IS NULL
   OR EXISTS (SELECT 1 FROM kmzb.institution_unit_reach r
              WHERE r.institution = i.code AND r.police_unit = %(unit)s)
ORDER BY i.code
"""


def listing(conn: psycopg.Connection, caller: Caller, unit: str | None) -> dict[str, Any]:
    """Institutions (all, or those `unit` may forward to), for the police and admin."""
    reach = reachable_units(conn, caller)
    if unit and reach is not None and unit not in reach:
        conn.rollback()
        raise forbidden("You do not serve this unit.", "Nie obsługujesz tej jednostki.")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST, {"unit": unit or None}).fetchall()
    conn.rollback()
    return {
        "unit": unit or None,
        "institutions": [
            {
                "code": row["code"],
                "name": {"pl": row["name_pl"], "en": row["name_en"]},
                "kind": row["kind"],
                "units": row["units"],
            }
            for row in rows
        ],
    }


def name_of(conn: psycopg.Connection, code: str | None) -> dict[str, str] | None:
    if code is None:
        return None
    row = conn.execute(
        "SELECT name_pl, name_en FROM kmzb.institutions WHERE code = %s", (code,)
    ).fetchone()
    return {"pl": row[0], "en": row[1]} if row else None
