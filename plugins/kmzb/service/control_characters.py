"""No request carries a NUL character (U+0000) anywhere: path, query, form or JSON body.

PostgreSQL's text cannot hold NUL, so a value with one would fail inside the
database (a 500) wherever it is bound: a category, a description, a note, a
filter. No field of this service takes one, so the whole class is refused at
the door with a 400 that names the parameter, before any route or process
reads it; the domain refuses other control characters where text is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, json, request

from kmzb.domain.errors import FieldError, invalid_query

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _in_json(value: Any, where: str) -> str | None:
    """The path of the first string (or key) in a JSON value that holds a NUL."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, inner in value.items():
            name = f"{where}.{key}" if where else str(key)
            if NUL in str(key):
                return name
            found = _in_json(inner, name)
            if found:
                return found
    if isinstance(value, list):
        for number, inner in enumerate(value):
            found = _in_json(inner, f"{where}[{number}]")
            if found:
                return found
    return None


def where_nul() -> str | None:
    """The parameter of this request that holds a NUL, if any."""
    if NUL in request.path:
        return "path"
    # only these bodies make a form (werkzeug parses no other): parsing none is cheaper
    with_form = request.method != "GET" and request.mimetype in FORM_TYPES
    sources = [request.args] + ([request.form] if with_form else [])
    for source in sources:
        for name, values in source.lists():
            if NUL in name or any(NUL in value for value in values):
                return name
    if request.mimetype and request.mimetype.endswith("json") and request.content_length:
        data = request.get_data()
        if b"\\u0000" not in data:  # JSON writes a NUL only so; most bodies end here
            return None
        try:
            body = json.loads(data)
        except ValueError:
            return None  # not JSON: the route says so
        return _in_json(body, "")
    return None


def install(app: Flask) -> None:
    @app.before_request
    def refuse_nul() -> None:
        name = where_nul()
        if name is not None:
            # raised, not returned: each interface answers it in its own shape (Open311)
            raise invalid_query(
                [
                    FieldError(
                        name,
                        f"Pole {name} zawiera znak NUL (U+0000), jeden ze znaków sterujących; "
                        "usuń go. Nic nie zapisano.",
                        f"{name} holds a NUL (U+0000), a control character; remove it. "
                        "Nothing was stored.",
                    )
                ]
            )
