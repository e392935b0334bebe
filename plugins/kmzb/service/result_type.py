"""`resultType=hits` for clients that ask for a feature count that way.

A full page of `threats` carries no numberMatched (counting costs more than the
page). GDAL's OAPIF driver, like WFS 2 clients, asks `resultType=hits` when the
OpenAPI document lists that parameter, then reads numberMatched: one count
instead of paging through the whole collection. pygeoapi knows the parameter
as `resulttype`; the document advertises the name clients send and
kmzb.service.pygeoapi_adapter maps it (docs/upstream/result-type-alias.md).
"""

from __future__ import annotations

import re

ITEMS = re.compile(r"^/collections/[\w-]+/items/?$")
ITEM = re.compile(r"^/collections/[\w-]+/items/featureId$")
RESULT_TYPE_PARAMETER = {
    "name": "resultType",
    "in": "query",
    "required": False,
    "description": "hits: only numberMatched, the exact count of matching features.",
    "schema": {"type": "string", "enum": ["results", "hits"], "default": "results"},
    "style": "form",
    "explode": False,
}


def _query(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": False,
    }


# what kmzb.service.query_checks accepts on items and is not in pygeoapi 0.24's document
ITEMS_QUERY_PARAMETERS = [
    _query(
        "datetime",
        "An RFC 3339 instant or interval (start/end, '..' for an open end). Filters the "
        "collection's time field (threats: reported_on); ignored where there is none.",
        {"type": "string"},
    ),
    _query("filter", "A CQL2 filter (OGC API Features Part 3).", {"type": "string"}),
    _query(
        "cursor",
        "Where the page starts: the opaque value in the `next` link of the page before "
        "(keyset paging in the default order, by id; every page costs the same at any "
        "depth). Not with offset or sortby (their next links keep offset). A value this "
        "service did not make is a 400.",
        {"type": "string", "maxLength": 512},
    ),
    _query(
        "filter-lang",
        "The filter's encoding.",
        {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
    ),
    _query(
        "filter-crs",
        "The CRS of the filter's coordinates (one of the collection's CRS; default CRS84).",
        {"type": "string", "format": "uri"},
    ),
]
SKIP_GEOMETRY = {"$ref": "#/components/parameters/skipGeometry"}
# pygeoapi lists a free-form "any other parameter"; an unknown parameter is a 400 here
VENDOR_SPECIFIC = {"$ref": "#/components/parameters/vendorSpecificParameters"}


def _named(parameters: list[dict], name: str) -> bool:
    # a reference ends in the name, also once bundled (…/parameters/features.datetime)
    return any(
        p.get("name") == name or re.search(rf"[/.]{re.escape(name)}$", str(p.get("$ref", "")))
        for p in parameters
    )


def advertise(document: dict) -> dict:
    """Declare on items what the service accepts there: resultType, datetime and the
    Part 3 filter parameters on every items request, skipGeometry on an item; no
    free-form extra parameters."""
    for path, operations in document.get("paths", {}).items():
        plain = path.replace("{", "").replace("}", "")
        if ITEMS.match(plain) and "get" in operations:
            parameters = operations["get"].setdefault("parameters", [])
            if RESULT_TYPE_PARAMETER not in parameters:
                parameters.append(RESULT_TYPE_PARAMETER)
            for parameter in ITEMS_QUERY_PARAMETERS:
                if not _named(parameters, parameter["name"]):
                    parameters.append(parameter)
            if VENDOR_SPECIFIC in parameters:
                parameters.remove(VENDOR_SPECIFIC)
        if ITEM.match(plain) and "get" in operations:
            parameters = operations["get"].setdefault("parameters", [])
            if not _named(parameters, "skipGeometry"):
                parameters.append(SKIP_GEOMETRY)
    return document
