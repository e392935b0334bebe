"""`resultType=hits` for clients that ask for a feature count that way.

A full page of `threats` carries no numberMatched (counting costs more than the
page). GDAL's OAPIF driver, like WFS 2 clients, asks `resultType=hits` when the
OpenAPI document lists that parameter, then reads numberMatched: one count
instead of paging through the whole collection. pygeoapi knows the parameter
as `resulttype`; the document advertises the name clients send and the hook
maps it.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

ITEMS = re.compile(r"^/collections/[\w-]+/items/?$")
RESULT_TYPE_PARAMETER = {
    "name": "resultType",
    "in": "query",
    "required": False,
    "description": "hits: only numberMatched, the exact count of matching features.",
    "schema": {"type": "string", "enum": ["results", "hits"], "default": "results"},
    "style": "form",
    "explode": False,
}


def advertise(document: dict) -> dict:
    """Add resultType to every items request of an OpenAPI document."""
    for path, operations in document.get("paths", {}).items():
        if ITEMS.match(path.replace("{", "").replace("}", "")) and "get" in operations:
            parameters = operations["get"].setdefault("parameters", [])
            if RESULT_TYPE_PARAMETER not in parameters:
                parameters.append(RESULT_TYPE_PARAMETER)
    return document


def install(app: Flask) -> None:
    @app.before_request
    def map_result_type() -> None:
        if "resultType" in request.args and ITEMS.match(request.path):
            args = MultiDict(request.args)
            value = args.pop("resultType")
            args.setdefault("resulttype", value)
            request.args = ImmutableMultiDict(args)
