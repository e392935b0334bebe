"""Request hooks: the caller from the bearer token, closed write paths, error details.

pygeoapi has no access control of its own. Every request passes here first:
a token, when sent, must be valid (else 401, never a silent anonymous answer);
the only writes are process executions, whose rules the domain enforces.

The auth rule is the same on every protected route and process: no token or a
bad token is 401 with `WWW-Authenticate: Bearer realm="kmzb"`; a valid token
whose role or unit may not do it is 403 (responses.as_refusal, applied to every
domain error here and in responses.error_response).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from http import HTTPStatus

from flask import Flask, Response, json, request

from kmzb.auth import tokens
from kmzb.domain.caller import Caller, current_caller
from kmzb.domain.errors import DomainError, FieldError, invalid, unauthorized
from kmzb.service import headers
from kmzb.service.responses import BILINGUAL, error_response
from kmzb.settings import Settings

MAX_BODY_BYTES = 25 * 1024 * 1024  # three 5 MB attachments in base64, and the rest
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
EXECUTION = re.compile(r"^/processes/(?P<process>[\w-]+)/execution/?$")
ITEMS = re.compile(r"^/collections/[\w-]+/items/?$")
# Open311 GeoReport v2 (kmzb.service.open311) answers every POST under its prefix:
# requests.json|xml creates a report, anything else is its own 404
OPEN311 = re.compile(r"^/open311/v2/")
QUERY_TYPES = {"application/query-cql-json", "application/json"}
SUBMISSION_PROCESSES = {"submit-threat"}
CALLER_RESET = "kmzb.caller_reset"  # in the request's WSGI environ, for the teardown


def client_address(settings: Settings) -> str:
    """The client's address.

    Behind proxies (KMZB_TRUSTED_PROXY_HEADER, e.g. X-Forwarded-For) each of
    our KMZB_TRUSTED_PROXY_HOPS proxies appends the address it was reached
    from, so the client is that many entries from the right: what our
    outermost proxy appended. Entries further left are the client's own say
    and are never trusted. If that entry is missing or is not an IP address,
    the address of the connection is used.
    """
    if settings.trusted_proxy_header:
        forwarded = ",".join(request.headers.getlist(settings.trusted_proxy_header))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if settings.trusted_proxy_hops >= 1 and len(hops) >= settings.trusted_proxy_hops:
            try:
                return str(ipaddress.ip_address(hops[-settings.trusted_proxy_hops]))
            except ValueError:
                pass
    return request.remote_addr or "unknown"


def is_submission() -> bool:
    """This request submits a report (its refusals carry the emergency notice)."""
    match = EXECUTION.match(request.path)
    return bool(match and match.group("process") in SUBMISSION_PROCESSES)


def install(app: Flask, settings: Settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    headers.install(app, settings)

    @app.before_request
    def identify_caller() -> Response | None:
        caller = Caller(address=client_address(settings))
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return error_response(
                    unauthorized(
                        "Use 'Authorization: Bearer <token>'.",
                        "Użyj nagłówka 'Authorization: Bearer <token>'.",
                    )
                )
            try:
                caller = dataclasses.replace(
                    tokens.verify(settings, token.strip()), address=caller.address
                )
            except DomainError as error:
                return error_response(error)
        request.environ[CALLER_RESET] = current_caller.set(caller)

        # POST to items with a CQL2-JSON body is a query (OGC API Features Part 3)
        is_query = (
            request.method == "POST"
            and ITEMS.match(request.path) is not None
            and request.mimetype in QUERY_TYPES
        )
        if (
            request.method not in SAFE_METHODS
            and not EXECUTION.match(request.path)
            and not is_query
            and not (request.method == "POST" and OPEN311.match(request.path))
        ):
            return error_response(
                DomainError(
                    pl="Ta usługa nie przyjmuje zapisu pod tym adresem.",
                    en="This service accepts no writes at this address.",
                    status=HTTPStatus.METHOD_NOT_ALLOWED,
                    code="MethodNotAllowed",
                )
            )
        if request.method == "POST" and EXECUTION.match(request.path):
            try:
                body = json.loads(request.get_data() or b"")
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
                return error_response(
                    invalid(
                        [
                            FieldError(
                                "body",
                                'Treść żądania to obiekt JSON {"inputs": {...}}.',
                                'The request body must be a JSON object {"inputs": {...}}.',
                            )
                        ]
                    ),
                    with_notice=is_submission(),
                )
        return None

    @app.after_request
    def say_bilingual(response: Response) -> Response:
        # (pygeoapi hands Flask its headers as they are: read the type from the header)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if EXECUTION.match(request.path) and media_type == "application/json":
            # our processes answer in both languages (names, messages, the notice);
            # pygeoapi would label them with its system locale, en-US
            response.headers["Content-Language"] = BILINGUAL
        return response

    @app.teardown_request
    def forget_caller(_exc: BaseException | None) -> None:
        reset = request.environ.pop(CALLER_RESET, None)
        if reset is not None:
            current_caller.reset(reset)

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPStatus.NOT_FOUND)
    def no_such_route(_error: Exception) -> Response:
        # Flask's router matched nothing (an id no route takes, a typo in a path):
        # the same bilingual JSON as every other refusal, not Werkzeug's English page;
        # under Open311's prefix, Open311's own 404 (a path with a line break matches
        # not even its catch-all)
        if OPEN311.match(request.path):
            from kmzb.service.open311 import error_answer, unknown_resource

            return error_answer(unknown_resource())
        return error_response(
            DomainError(
                pl="Nie ma takiego zasobu pod tym adresem.",
                en="There is no such resource at this address.",
                status=HTTPStatus.NOT_FOUND,
                code="NotFound",
            )
        )

    @app.errorhandler(HTTPStatus.METHOD_NOT_ALLOWED)
    def method_not_allowed(error: Exception) -> Response:
        # a route that takes other methods (GET on an execution): JSON, not Werkzeug's page
        answer = error_response(
            DomainError(
                pl="Ta metoda nie jest obsługiwana pod tym adresem.",
                en="This method is not allowed at this address.",
                status=HTTPStatus.METHOD_NOT_ALLOWED,
                code="MethodNotAllowed",
            )
        )
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            answer.headers["Allow"] = ", ".join(sorted(allowed))
        return answer

    @app.errorhandler(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    def too_large(_error: Exception) -> Response:
        return error_response(
            DomainError(
                pl="Żądanie jest za duże (najwyżej 3 załączniki po 5 MB). Nic nie zapisano.",
                en="The request is too large (at most 3 attachments of 5 MB). Nothing was stored.",
                status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                code="PayloadTooLarge",
            ),
            with_notice=True,
        )
