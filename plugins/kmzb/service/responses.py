"""JSON answers for errors, the same shape everywhere (OGC exception + details).

Our answers speak Polish and English at once (messages as `pl`/`en` pairs, names
in both, the emergency notice in both), so they say `Content-Language: pl, en`
(RFC 9110: a list of the audience's languages), not the one locale pygeoapi
negotiates for its own pages.
"""

from __future__ import annotations

from flask import Response, json

from kmzb.domain.caller import current_caller
from kmzb.domain.errors import DomainError, needs_token
from kmzb.domain.notices import EMERGENCY_NOTICE

BILINGUAL = "pl, en"


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )
    response.headers["Content-Language"] = BILINGUAL
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def as_refusal(error: DomainError) -> DomainError:
    """The auth rule, once for every route and process: a 403 said to a caller who
    sent no token is a 401 asking for one (a bad token is refused earlier, also 401)."""
    if error.status == 403 and current_caller.get().anonymous:
        return needs_token(error)
    return error


def error_body(error: DomainError, with_notice: bool = False) -> dict:
    body = {"type": error.code, **error.body()}
    if with_notice:
        body["notice"] = EMERGENCY_NOTICE
    return body


def error_response(error: DomainError, with_notice: bool = False) -> Response:
    error = as_refusal(error)
    return json_response(error_body(error, with_notice), int(error.status), error.headers)
