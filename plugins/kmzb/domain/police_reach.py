"""Police units as the domain sees them: who reaches which unit's reports (the
officer's own unit, a coordinator's units below, every unit for an admin)."""

from __future__ import annotations

import psycopg

from kmzb.domain.caller import Caller
from kmzb.domain.errors import forbidden, unauthorized

# the rule lives once, in SQL (migration 020), for this module and QGIS Server's views
REACH_SQL = "SELECT code FROM kmzb.police_unit_reach(%(unit)s, %(coordinator)s) AS code"


def reachable_units(conn: psycopg.Connection, caller: Caller) -> set[str] | None:
    """Units whose reports the caller may handle; None means every unit (admin).

    An officer reaches their own unit; a coordinator also every unit under it
    (a KWP's coordinator reaches the whole voivodeship).
    """
    if caller.anonymous:
        raise unauthorized(
            "This needs a police token.", "To wymaga tokenu funkcjonariusza Policji."
        )
    if caller.role == "admin":
        return None
    if not caller.is_police:
        raise forbidden("Only the police may do this.", "Tylko Policja może wykonać tę czynność.")
    codes = {
        row[0]
        for row in conn.execute(
            REACH_SQL, {"unit": caller.unit, "coordinator": caller.role == "coordinator"}
        )
    }
    if not codes:
        raise forbidden(
            f"Unknown police unit {caller.unit} in the token.",
            f"Nieznana jednostka Policji {caller.unit} w tokenie.",
        )
    return codes


def require_reach(conn: psycopg.Connection, caller: Caller, unit: str) -> None:
    reach = reachable_units(conn, caller)
    if reach is not None and unit not in reach:
        raise forbidden(
            "This report belongs to a unit you do not serve.",
            "To zgłoszenie należy do jednostki, której nie obsługujesz.",
        )
