"""What a caller may see on the map: layers, rows and attributes (no QGIS imports).

A layer whose custom property `kmzb/access` is `police` (set by
scripts/build_qgis_project.py) is shown only to police roles and admins, and
only the rows of the units the token reaches: an officer's own unit, a
coordinator's unit and every unit under it (kmzb.police_unit_reach, the same
reach as the API), an admin's every unit. Every other layer is public.
Whatever the layer, a personal field never leaves the server.
"""

from __future__ import annotations

from .tokens import Caller

POLICE_ONLY = "police"
ACCESS_PROPERTY = "kmzb/access"
# Fields that identify a person or a police officer: never in GetFeatureInfo or WFS.
PERSONAL_FIELDS = frozenset(
    {"reporter_hash", "reporter", "address", "actor", "actor_unit", "note", "note_internal"}
)
# (The integer key `fid` of the wms_* views stays: QGIS 3.22 builds GetFeatureInfo
# feature ids from it and answers empty features without it. It is not personal.)
HIDDEN_PROPERTY = "kmzb/hidden_fields"
NOTHING = "FALSE"


def may_read(access: str | None, caller: Caller) -> bool:
    return access != POLICE_ONLY or caller.sees_unit_reports


def subset_string(access: str | None, caller: Caller) -> str:
    """An SQL condition (PostgreSQL provider) added to the layer's own; "" for none."""
    if access != POLICE_ONLY:
        return ""
    if not caller.sees_unit_reports:
        return NOTHING
    if caller.role == "admin":
        return ""
    # the unit code was checked against tokens.UNIT_CODE (letters, digits, '-')
    coordinator = "true" if caller.role == "coordinator" else "false"
    return f"\"police_unit\" IN (SELECT kmzb.police_unit_reach('{caller.unit}', {coordinator}))"


def visible_attributes(
    access: str | None, hidden: str | None, caller: Caller, attributes: list[str]
) -> list[str]:
    """The attributes GetFeatureInfo and WFS may return; `hidden` is the layer's
    comma-separated list of fields the project keeps to itself."""
    if not may_read(access, caller):
        return []
    refused = PERSONAL_FIELDS | {n.strip() for n in (hidden or "").split(",")}
    return [name for name in attributes if name.lower() not in refused]


def cache_key(caller: Caller) -> str:
    """Answers (e.g. GetCapabilities) differ by role and unit, and only by them."""
    if caller.anonymous:
        return "public"
    return f"{caller.role}:{caller.unit or '-'}"
