"""JSON answers for errors, the same shape everywhere (OGC exception + details)."""

from __future__ import annotations

from flask import Response, json

from kmzb.domain.errors import DomainError
from kmzb.domain.notices import EMERGENCY_NOTICE


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: DomainError, with_notice: bool = False) -> Response:
    body = {"type": error.code, **error.body()}
    if with_notice:
        body["notice"] = EMERGENCY_NOTICE
    return json_response(body, int(error.status), error.headers)
