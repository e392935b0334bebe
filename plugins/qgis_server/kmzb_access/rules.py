"""What a caller may see on the map: layers, rows and attributes (no QGIS imports).

A layer whose custom property `kmzb/access` is `police` (set by
scripts/build_qgis_project.py) is shown only to police roles and admins, and
only the rows of the units the token reaches: an officer's own unit, a
coordinator's unit and every unit under it (kmzb.police_unit_reach, the same
reach as the API), an admin's every unit. Every other layer is public.
Whatever the layer, a personal field never leaves the server.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

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


# --- refusals: the API's rule (no or bad token 401, wrong role 403), in Polish and English

AUTH_CHALLENGE = 'Bearer realm="kmzb"'
BILINGUAL = "pl, en"
# QGIS Server 3.22's own words for a layer the access control hides (QgsSecurityAccessException)
QGIS_LAYER_REFUSAL = re.compile(r"You are not allowed to access to the layer: ([^<]*)")
EXCEPTION_VERSION = re.compile(r'<ServiceExceptionReport[^>]*\bversion="([0-9.]+)"')


def refusal(caller: Caller, qgis_message: str) -> tuple[int, str]:
    """The status and the bilingual message for a layer QGIS Server refused."""
    found = QGIS_LAYER_REFUSAL.search(qgis_message)
    layer = found.group(1).strip() if found else ""
    named_pl = f"Warstwa {layer}" if layer else "Ta warstwa"
    named_en = f"The layer {layer}" if layer else "This layer"
    if caller.anonymous:
        return 401, (
            f"{named_pl} wymaga tokenu Policji: zaloguj się (Authorization: Bearer). / "
            f"{named_en} needs a police token: sign in (Authorization: Bearer)."
        )
    return 403, (
        f"{named_pl} jest dostępna tylko dla Policji i administratora; twój token "
        f"(rola {caller.role}) jej nie obejmuje. / "
        f"{named_en} is for the police and admins only; your token "
        f"(role {caller.role}) does not give access to it."
    )


def exception_document(message: str, code: str, original: str) -> bytes:
    """A WMS ServiceExceptionReport, in the version of the one QGIS Server wrote."""
    found = EXCEPTION_VERSION.search(original)
    version = found.group(1) if found else "1.3.0"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ServiceExceptionReport version="{version}" xmlns="http://www.opengis.net/ogc">\n'
        f' <ServiceException code="{escape(code)}">{escape(message)}</ServiceException>\n'
        "</ServiceExceptionReport>\n"
    ).encode()
