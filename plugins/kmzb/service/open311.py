"""Open311 GeoReport v2 over HTTP: /open311/v2/..., each resource in JSON or XML by its
suffix, as the spec defines (http://wiki.open311.org/GeoReport_v2).

The mapping to KMZB's rules is kmzb.domain.open311; here are only the spec's
wire formats: element names, the XML declaration, the error list, and the
language (Polish unless the client prefers English, `Accept-Language: en`).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from xml.etree import ElementTree

from flask import Blueprint, Response, request

from kmzb.db.pool import get_pool, get_read_pool
from kmzb.domain import idempotency, open311, open311_requests, open311_search, vocabulary
from kmzb.domain.caller import current_caller
from kmzb.domain.errors import DomainError, FieldError, invalid, not_found
from kmzb.service import faults
from kmzb.settings import load_settings

PREFIX = "/open311/v2"
open311_routes = Blueprint("open311", __name__, url_prefix=PREFIX)

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# The element of one item of each list, as the spec names them.
LIST_ITEMS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
CACHE_VOCABULARY = "public, max-age=300"  # services change only with a migration
CACHE_REQUESTS = "public, max-age=30"


def language() -> str:
    return request.accept_languages.best_match(open311.LANGUAGES) or "pl"


def requested_format() -> str:
    """json or xml, from the path's suffix (the routes admit no other)."""
    return "xml" if request.path.endswith(".xml") else "json"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            child = ElementTree.SubElement(element, name)
            if isinstance(inner, list):
                for item in inner:
                    _fill(ElementTree.SubElement(child, LIST_ITEMS[name]), item)
            else:
                _fill(child, inner)
    else:
        element.text = _text(value)


def to_xml(root: str, item: str | None, body: Any) -> bytes:
    """The spec's XML: a root holding one element per item (or the fields of one)."""
    element = ElementTree.Element(root)
    if item is None:
        _fill(element, body)
    else:
        for entry in body:
            _fill(ElementTree.SubElement(element, item), entry)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(
        element, encoding="unicode"
    ).encode("utf-8")


def answer(
    body: Any,
    root: str,
    item: str | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    fmt = requested_format()
    if fmt == "xml":
        data = to_xml(root, item, body)
    else:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = Response(data, status=status, content_type=FORMATS[fmt])
    response.headers["Content-Language"] = language()
    response.headers["Vary"] = "Accept-Language"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_answer(error: DomainError) -> Response:
    """Open311's error list: one error per problem (each field at fault, or the one
    message), each {code, description}, with the field and both languages beside them."""
    lang = language()
    status = int(error.status)
    problems = error.errors or [FieldError("", error.pl, error.en)]
    body = [
        {
            "code": status,
            "description": problem.pl if lang == "pl" else problem.en,
            "field": problem.field or None,
            "pl": problem.pl,
            "en": problem.en,
        }
        for problem in problems
    ]
    return answer(body, "errors", "error", status, error.headers)


@open311_routes.errorhandler(DomainError)
def domain_error(error: DomainError) -> Response:
    return error_answer(error)


def _unavailable(error: Exception) -> Response:
    faults.log_unavailable(faults.database_unavailable_cause(error) or error)
    return error_answer(faults.unavailable())


for _kind in faults.UNAVAILABLE_TYPES:
    open311_routes.register_error_handler(_kind, _unavailable)


@open311_routes.before_request
def known_jurisdiction() -> None:
    """Every read takes `jurisdiction_id` as the spec allows: ours, or a unit's code."""
    given = request.args.get("jurisdiction_id")
    if request.method == "GET" and given is not None:
        with get_read_pool().connection() as conn:
            open311.check_jurisdiction(conn, given.strip())
            conn.rollback()


@open311_routes.get("/discovery.<any(json, xml):fmt>")
def discovery(fmt: str) -> Response:
    body = open311.discovery(load_settings().public_url, language())
    return answer(body, "discovery", None, headers={"Cache-Control": CACHE_VOCABULARY})


@open311_routes.get("/services.<any(json, xml):fmt>")
def services(fmt: str) -> Response:
    with get_read_pool().connection() as conn:
        vocab = vocabulary.load(conn)
    return answer(
        open311.services(vocab, language()),
        "services",
        "service",
        headers={"Cache-Control": CACHE_VOCABULARY},
    )


@open311_routes.get("/services/<code>.<any(json, xml):fmt>")
def service_definition(code: str, fmt: str) -> Response:
    with get_read_pool().connection() as conn:
        vocab = vocabulary.load(conn)
    return answer(
        open311.service_definition(vocab, code, language()),
        "service_definition",
        None,
        headers={"Cache-Control": CACHE_VOCABULARY},
    )


def _form() -> dict[str, list[str]]:
    """The POST body's fields; a body that is not a form is a 400 that says so."""
    problems = []
    if request.mimetype not in FORM_TYPES:
        problems.append(
            FieldError(
                "body",
                "Wyślij pola jako formularz (application/x-www-form-urlencoded), jak "
                "określa Open311 GeoReport v2.",
                "Send the fields as a form (application/x-www-form-urlencoded), as Open311 "
                "GeoReport v2 defines.",
            )
        )
    if request.args:
        problems.append(
            FieldError(
                sorted(request.args)[0],
                "Pola wyślij w treści formularza, nie w adresie.",
                "Send the fields in the form body, not in the address.",
            )
        )
    if problems:
        raise invalid(problems)
    form = request.form.to_dict(flat=False)
    for name in request.files:  # the spec takes media_url, never a file
        form.setdefault(name, [""])
    return form


@open311_routes.post("/requests.<any(json, xml):fmt>")
def create_request(fmt: str) -> Response:
    key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
    form = _form()
    with get_pool().connection() as conn:
        created = open311_requests.create(
            conn, load_settings(), current_caller.get(), form, language(), key
        )
    ref = created["service_request_id"]
    return answer(
        [created],
        "service_requests",
        "request",
        status=HTTPStatus.CREATED,
        headers={
            "Location": f"{load_settings().public_url}{PREFIX}/requests/{ref}.{fmt}",
            "Cache-Control": "no-store",
        },
    )


@open311_routes.get("/requests.<any(json, xml):fmt>")
def search_requests(fmt: str) -> Response:
    with get_read_pool().connection() as conn:
        found = open311_search.search(conn, request.args.to_dict(), language())
    return answer(found, "service_requests", "request", headers={"Cache-Control": CACHE_REQUESTS})


@open311_routes.get("/requests/<reference>.<any(json, xml):fmt>")
def one_request(reference: str, fmt: str) -> Response:
    with get_pool().connection() as conn:
        found = open311_search.by_id(conn, reference, language())
    return answer(found, "service_requests", "request", headers={"Cache-Control": CACHE_REQUESTS})


@open311_routes.get("/tokens/<token>.<any(json, xml):fmt>")
def token(token: str, fmt: str) -> Response:
    with get_pool().connection() as conn:
        found = open311_search.token(conn, token)
    return answer(found, "service_requests", "request")


@open311_routes.route("/", defaults={"rest": ""}, methods=["GET", "POST"])
@open311_routes.route("/<path:rest>", methods=["GET", "POST"])
def no_such_resource(rest: str) -> Response:
    raise unknown_resource()


def unknown_resource() -> DomainError:
    return not_found(
        "No such Open311 resource: the resources are discovery, services, services/{code}, "
        "requests, requests/{id} and tokens/{token}, each ending in .json or .xml.",
        "Nie ma takiego zasobu Open311: zasoby to discovery, services, services/{kod}, "
        "requests, requests/{id} i tokens/{token}, każdy z końcówką .json albo .xml.",
    )
