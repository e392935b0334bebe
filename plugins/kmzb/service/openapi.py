"""The OpenAPI document, self-contained: no reference leaves it.

pygeoapi's generated document refers to OGC schemas on schemas.opengis.net and
raw.githubusercontent.com. `bundle` replaces each remote `$ref` by a local one,
`#/components/<kind>/<source>.<name>`, and copies the referenced node there, from
the copies kept in `openapi/ogc/` (see its README: sources, commits, licence),
following the references inside those files in turn. Nothing is fetched, at
start-up or later, so offline tools (validators, code generators, schemathesis)
load the document as it is.

OpenAPI 3.0 schemas are a dialect of JSON Schema draft 5; cql2.json is draft
2020-12. Its few newer keywords are written in 3.0 terms (`$dynamicRef` to the
root becomes a `$ref`, `prefixItems` becomes `items` with `anyOf`, `$defs`
become components of their own). The OGC licence asks that modified copies say
so: the document's description does.

`describe` adds what pygeoapi does not know of: our own routes (/reports,
/police, /partner, /institutions, /places, /admin, /wms), the bearer token, and
execute request bodies that list each process's inputs.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import yaml

from kmzb.settings import HOME

# TODO(lead): a settings constant (OGC_SCHEMAS_DIR = HOME / "openapi" / "ogc")
OGC_SCHEMAS_DIR = HOME / "openapi" / "ogc"

# component name prefixes, by the published URL's start
SOURCE_PREFIXES = {
    "https://schemas.opengis.net/ogcapi/features/": "features",
    "https://schemas.opengis.net/ogcapi/processes/": "processes",
    "https://schemas.opengis.net/ogcapi/tiles/": "tiles",
    "https://schemas.opengis.net/cql2/": "cql2",
    "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/": "records",
}

# what the value under a key is, in an OpenAPI document (outside schemas)
CHILD_KINDS = {
    "parameters": "parameters",
    "responses": "responses",
    "headers": "headers",
    "requestBody": "requestBodies",
    "requestBodies": "requestBodies",
    "schema": "schemas",
    "schemas": "schemas",
    "examples": "examples",
    "securitySchemes": "securitySchemes",
}

# JSON Schema keywords OpenAPI 3.0 has no room for, dropped from bundled schemas
DROPPED_KEYWORDS = ("$schema", "$id", "$defs", "$dynamicAnchor", "$anchor", "$comment")

MODIFIED_NOTE = (
    "\n\nThe OGC schemas this document uses are bundled in it (no remote reference), "
    "from the OGC repositories named in openapi/ogc/README.md, under the OGC Software "
    "License; cql2.json is written in OpenAPI 3.0 terms: these copies include "
    "modifications that have not been approved or adopted by the OGC."
)

NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class BundleError(ValueError):
    """A remote reference names a file or a node that is not among the bundled copies."""


def local_file(url: str, root: Path) -> Path:
    """The copy of a published schema file: <root>/<host>/<path>."""
    if "://" not in url:
        raise BundleError(f"not an absolute URL: {url}")
    return root / url.split("://", 1)[1]


def resolve_pointer(document: Any, fragment: str, url: str) -> Any:
    node = document
    for raw in [p for p in fragment.lstrip("/").split("/") if p] if fragment else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise BundleError(f"{url}: no node at #{fragment}") from error
    return node


class Bundler:
    def __init__(self, document: dict, root: Path) -> None:
        self.document = document
        self.root = root
        self.components: dict[str, dict] = document.setdefault("components", {})
        self.files: dict[str, Any] = {}
        self.targets: dict[tuple[str, str], str] = {}  # (absolute URL, kind) -> local ref

    def load(self, file_url: str) -> Any:
        if file_url not in self.files:
            path = local_file(file_url, self.root)
            if not path.is_file():
                raise BundleError(
                    f"{file_url} is not bundled: add it with openapi/ogc/vendor.py ({path})"
                )
            text = path.read_text(encoding="utf-8")
            self.files[file_url] = (
                json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            )
        return self.files[file_url]

    def name_for(self, url: str, kind: str) -> str:
        file_url, fragment = urldefrag(url)
        prefix = next(
            (p for start, p in SOURCE_PREFIXES.items() if file_url.startswith(start)), "ogc"
        )
        last = fragment.rstrip("/").rsplit("/", 1)[-1] if fragment.strip("/") else ""
        stem = last or Path(file_url).stem
        base = NAME_UNSAFE.sub("_", f"{prefix}.{stem}" if stem != prefix else prefix)
        taken = self.components.setdefault(kind, {})
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def local(self, ref: str, base: str | None, kind: str) -> str:
        if base is None and ref.startswith("#"):
            return ref  # the document's own reference
        absolute = urljoin(base or "", ref)
        if (absolute, kind) in self.targets:
            return self.targets[(absolute, kind)]
        # follow aliases (a node that is only a $ref) to the node itself
        chain, url = [absolute], absolute
        while True:
            file_url, fragment = urldefrag(url)
            node = resolve_pointer(self.load(file_url), fragment, url)
            if (
                isinstance(node, dict)
                and set(node) <= {"$ref", "description", "summary"}
                and "$ref" in node
            ):
                url = urljoin(file_url, node["$ref"])
                if (url, kind) in self.targets:
                    target = self.targets[(url, kind)]
                    for seen in chain:
                        self.targets[(seen, kind)] = target
                    return target
                chain.append(url)
                continue
            break
        name = self.name_for(absolute, kind)
        target = f"#/components/{kind}/{name}"
        for seen in chain:
            self.targets[(seen, kind)] = target
        self.components[kind][name] = {}  # reserved before the walk: recursive schemas
        converted = self.walk(node, file_url, kind)
        if kind == "schemas":
            converted = as_openapi30_schema(converted)
        self.components[kind][name] = converted
        return target

    def walk(self, node: Any, base: str | None, kind: str) -> Any:
        if isinstance(node, list):
            return [self.walk(item, base, kind) for item in node]
        if not isinstance(node, dict):
            return node
        if "$dynamicRef" in node:  # cql2.json: "#cql2expression", the root's anchor
            return {"$ref": self.local("#", base, kind)}
        if isinstance(node.get("$ref"), str):
            return {"$ref": self.local(node["$ref"], base, kind)}
        result = {}
        for key, value in node.items():
            child = "schemas" if kind == "schemas" else CHILD_KINDS.get(key, kind)
            result[key] = self.walk(value, base, child)
        return result


def as_openapi30_schema(schema: Any) -> Any:
    """JSON Schema 2020-12 keywords in OpenAPI 3.0 terms (see the module's notes)."""
    if isinstance(schema, list):
        return [as_openapi30_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED_KEYWORDS:
            continue
        if key == "prefixItems":
            result["items"] = {"anyOf": as_openapi30_schema(value)}
        elif key == "const":
            result["enum"] = [value]
        elif key == "contentEncoding":
            if value == "base64":
                result["format"] = "byte"
        elif key == "contentMediaType":
            result["x-contentMediaType"] = value
        else:
            result[key] = as_openapi30_schema(value)
    return result


def bundle(document: dict, root: Path = OGC_SCHEMAS_DIR) -> dict:
    """The document with every remote $ref made local (a new dict; the input is kept)."""
    document = copy.deepcopy(document)
    bundler = Bundler(document, root)
    for key in [k for k in document if k != "components"]:
        document[key] = bundler.walk(document[key], None, "document")
    for kind in list(bundler.components):
        for name in list(bundler.components[kind]):
            value = bundler.components[kind][name]
            bundler.components[kind][name] = bundler.walk(value, None, kind)
    info = document.setdefault("info", {})
    if bundler.targets and MODIFIED_NOTE not in info.get("description", ""):
        info["description"] = info.get("description", "") + MODIFIED_NOTE
    return document


def remote_references(node: Any) -> list[str]:
    """Every $ref that leaves the document (empty for a bundled one)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                if not value.startswith("#/"):
                    found.append(value)
            else:
                found.extend(remote_references(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(remote_references(value))
    return found


# --- our own routes, the bearer token, execute bodies --------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "An OGC exception (code; description: the English message) with the "
    "message in Polish and English, and per-field errors where the input was at fault.",
    "required": ["code", "description"],
    "properties": {
        "type": {"type": "string"},
        "code": {"type": "string"},
        "description": {"type": "string"},
        "message": {
            "type": "object",
            "required": ["pl", "en"],
            "properties": {"pl": {"type": "string"}, "en": {"type": "string"}},
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "pl", "en"],
                "properties": {
                    "field": {"type": "string"},
                    "pl": {"type": "string"},
                    "en": {"type": "string"},
                },
            },
        },
    },
}
REFERENCE_SCHEMA = {"type": "string", "pattern": "^[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}$"}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/kmzb.exception"}}
        },
    }


ERRORS = {
    "400": _error("Bad input (pl/en message, per-field errors) / błędne dane"),
    "401": _error("No token, or a bad one / brak tokenu lub zły token"),
    "403": _error("The token's role or unit may not do this / brak uprawnień"),
    "404": _error("No such report or attachment / nie ma takiego zgłoszenia"),
    "503": _error("The database is unavailable for a moment: retry / usługa chwilowo niedostępna"),
}


def _errors(*codes: str) -> dict:
    return {code: ERRORS[code] for code in codes}


def _json(description: str, required: list[str] | None = None) -> dict:
    schema: dict = {"type": "object"}
    if required:
        schema["required"] = required
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": False,
    }


def _path(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


DATE = {"type": "string", "format": "date"}
REFERENCE_PARAMETER = _path("reference", "Report reference / numer zgłoszenia", REFERENCE_SCHEMA)


def our_paths(status_codes: list[str], places_limit: int, log_limit: int) -> dict:
    """The OpenAPI paths of the routes beside pygeoapi (kmzb.service.routes, web, wms_proxy)."""
    statuses = {
        "type": "string",
        "pattern": "^(" + "|".join(status_codes) + ")(,(" + "|".join(status_codes) + "))*$",
    }
    return {
        "/reports/{reference}": {
            "get": {
                "operationId": "getReportStatus",
                "tags": ["reports"],
                "summary": "Status of a report by its reference / status zgłoszenia",
                "description": "Public: the status and public history of a report "
                "(no reporter data, no internal notes).",
                "parameters": [REFERENCE_PARAMETER],
                "responses": {
                    "200": _json("The report's status", ["reference", "status", "history"]),
                    **_errors("400", "401", "404", "503"),
                },
            }
        },
        "/police/queue": {
            "get": {
                "operationId": "getPoliceQueue",
                "tags": ["police"],
                "summary": "Open reports of the caller's unit(s) / kolejka jednostki",
                "description": "Police token: open reports of the units the caller serves, "
                "oldest first. Each answered read is recorded in the access log.",
                "security": BEARER,
                "parameters": [
                    _query("unit", "One police unit code the caller serves", {"type": "string"}),
                    _query("status", "Status codes, comma-separated", statuses),
                    _query("category", "Threat category code", {"type": "string"}),
                    _query("from", "Reported on or after (YYYY-MM-DD)", DATE),
                    _query("to", "Reported on or before (YYYY-MM-DD)", DATE),
                    _query(
                        "held", "true: only held bursts; false: the others", {"type": "boolean"}
                    ),
                    _query("overdue", "true: only overdue reports", {"type": "boolean"}),
                    _query(
                        "limit",
                        "Page size (1-1000)",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                    ),
                    _query(
                        "offset",
                        "Skip this many",
                        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    ),
                ],
                "responses": {
                    "200": _json("The queue", ["reports"]),
                    **_errors("400", "401", "403", "503"),
                },
            }
        },
        "/police/reports/{reference}": {
            "get": {
                "operationId": "getPoliceReport",
                "tags": ["police"],
                "summary": "A report in full, for its unit's police / zgłoszenie dla Policji",
                "security": BEARER,
                "parameters": [REFERENCE_PARAMETER],
                "responses": {
                    "200": _json(
                        "The report, with internal history and attachments",
                        ["reference", "version"],
                    ),
                    **_errors("400", "401", "403", "404", "503"),
                },
            }
        },
        "/police/reports/{reference}/attachments/{id}": {
            "get": {
                "operationId": "getPoliceReportAttachment",
                "tags": ["police"],
                "summary": "An attachment's file / plik załącznika",
                "security": BEARER,
                "parameters": [
                    REFERENCE_PARAMETER,
                    _path(
                        "id",
                        "Attachment id",
                        {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The file, as a download (Content-Disposition: attachment)",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors("400", "401", "403", "503"),
                    "404": {
                        "description": "No such report or attachment; an id that is not a "
                        "whole number matches no route (the router's page) / nie ma "
                        "takiego załącznika",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/kmzb.exception"}
                            },
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                },
            }
        },
        "/partner/forwarded": {
            "get": {
                "operationId": "getPartnerForwarded",
                "tags": ["partner"],
                "summary": "Reports forwarded to the partner's institution / przekazane zgłoszenia",
                "security": BEARER,
                "responses": {
                    "200": _json("The forwarded reports", ["institution", "reports"]),
                    **_errors("401", "403", "503"),
                },
            }
        },
        "/institutions": {
            "get": {
                "operationId": "getInstitutions",
                "tags": ["police"],
                "summary": "Institutions reports are forwarded to / instytucje",
                "security": BEARER,
                "parameters": [
                    _query(
                        "unit", "Only those this police unit may forward to", {"type": "string"}
                    ),
                ],
                "responses": {
                    "200": _json("Institutions by code", ["institutions"]),
                    **_errors("400", "401", "403", "503"),
                },
            }
        },
        "/admin/access-log": {
            "get": {
                "operationId": "getAccessLog",
                "tags": ["admin"],
                "summary": "Police reads, newest first / dziennik dostępu",
                "security": BEARER,
                "parameters": [
                    _query("reference", "Report reference", {"type": "string"}),
                    _query("actor", "Who read", {"type": "string"}),
                    _query(
                        "from",
                        "From (a date YYYY-MM-DD or an ISO 8601 date-time)",
                        {"type": "string", "format": "date-time"},
                    ),
                    _query(
                        "to",
                        "To, inclusive (a date or an ISO 8601 date-time)",
                        {"type": "string", "format": "date-time"},
                    ),
                    _query(
                        "limit",
                        f"At most this many (1-{log_limit})",
                        {"type": "integer", "minimum": 1, "maximum": log_limit},
                    ),
                ],
                "responses": {
                    "200": _json("Log entries", ["entries"]),
                    **_errors("400", "401", "403", "503"),
                },
            }
        },
        "/places": {
            "get": {
                "operationId": "searchPlaces",
                "tags": ["places"],
                "summary": "Find a place by name / wyszukiwanie miejsc",
                "description": "Territorial units (TERYT) and GeoNames places whose name "
                "contains the query, best first.",
                "parameters": [
                    _query(
                        "q",
                        "2-100 characters of the name",
                        {
                            "type": "string",
                            "minLength": 2,
                            "maxLength": 100,
                            "pattern": r"^\S(.*\S)?$",
                        },
                        True,
                    ),
                    _query(
                        "limit",
                        f"At most this many (1-{places_limit})",
                        {"type": "integer", "minimum": 1, "maximum": places_limit},
                    ),
                ],
                "responses": {
                    "200": _json("Matching places", ["results"]),
                    **_errors("400", "503"),
                },
            }
        },
        "/wms": {
            "get": {
                "operationId": "getWms",
                "tags": ["wms"],
                "summary": "The WMS 1.3.0 map (QGIS Server through the app) / mapa WMS",
                "description": "GetCapabilities, GetMap, GetLegendGraphic, GetFeatureInfo with "
                "the usual WMS parameters (names case-insensitive); SLD and SLD_BODY are "
                "refused; other parameters are dropped. Answers are QGIS Server's (images, "
                "XML, or a WMS ServiceException).",
                "parameters": [
                    _query("SERVICE", "WMS", {"type": "string", "enum": ["WMS"]}),
                    _query(
                        "REQUEST",
                        "The WMS operation",
                        {
                            "type": "string",
                            "enum": [
                                "GetCapabilities",
                                "GetMap",
                                "GetLegendGraphic",
                                "GetFeatureInfo",
                            ],
                        },
                    ),
                    _query(
                        "VERSION", "WMS version", {"type": "string", "enum": ["1.3.0", "1.1.1"]}
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The WMS answer",
                        "content": {
                            "text/xml": {"schema": {"type": "string"}},
                            "image/png": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "400": {
                        "description": "A refused parameter (SLD, SLD_BODY) "
                        "or QGIS Server's ServiceException",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/kmzb.exception"}
                            },
                            "text/xml": {"schema": {"type": "string"}},
                        },
                    },
                    "401": ERRORS["401"],
                    "403": ERRORS["403"],
                    "502": _error("QGIS Server is unreachable / serwer WMS niedostępny"),
                },
            }
        },
    }


ATOM_FEED = {
    "description": "An Atom 1.0 feed (Polish with English), with ETag and Last-Modified",
    "content": {"application/atom+xml": {"schema": {"type": "string"}}},
}
NOT_MODIFIED = {"description": "Not modified: the validator sent still holds / bez zmian"}


# pygeoapi serves the AsyncAPI document (kmzb.service.asyncapi writes it) but its
# OpenAPI document does not name the path
ASYNCAPI_PATH = {
    "/asyncapi": {
        "get": {
            "operationId": "getAsyncAPI",
            "tags": ["server"],
            "summary": "The alerts' AsyncAPI 3.0 document / dokument AsyncAPI powiadomień MQTT",
            "description": "Public: the MQTT broker, the channels (kmzb/threats/..., "
            "kmzb/statistics/crime-rates/...) and the message schemas.",
            "parameters": [
                _query(
                    "f",
                    "The format: json (AsyncAPI) or html",
                    {"type": "string", "enum": ["json", "html"]},
                )
            ],
            "responses": {
                "200": {
                    "description": "The AsyncAPI document, or its page",
                    "content": {
                        "application/asyncapi+json": {"schema": {"type": "object"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                **_errors("400"),
            },
        }
    }
}


def feed_paths(public_statuses: list[str], public_categories: list[str]) -> dict:
    """The OpenAPI paths of the Atom feeds (kmzb.service.feeds)."""
    from kmzb.domain import feeds

    codes = {"type": "string", "pattern": "^[0-9]+$"}
    number = r"-?[0-9]+(\.[0-9]+)?"
    return {
        "/feeds/threats.atom": {
            "get": {
                "operationId": "getThreatsFeed",
                "tags": ["feeds"],
                "summary": "Latest public changes of threats in an area / kanał Atom obszaru",
                "description": "Public: the latest public change of each public threat, "
                "newest first, filtered by any of the parameters (all must hold). "
                "Conditional GET with If-None-Match or If-Modified-Since answers 304.",
                "parameters": [
                    _query(
                        "gmina",
                        "Gmina TERYT code (7 digits)",
                        {**codes, "pattern": feeds.teryt_pattern("gmina")},
                    ),
                    _query(
                        "powiat",
                        "Powiat TERYT code (4 digits)",
                        {**codes, "pattern": feeds.teryt_pattern("powiat")},
                    ),
                    _query(
                        "wojewodztwo",
                        "Województwo TERYT code (2 digits)",
                        {**codes, "pattern": feeds.teryt_pattern("wojewodztwo")},
                    ),
                    _query(
                        "bbox",
                        "minLon,minLat,maxLon,maxLat in CRS84 (min ≤ max)",
                        {"type": "string", "pattern": f"^{number}(,{number}){{3}}$"},
                    ),
                    _query(
                        "category",
                        "A public threat category code",
                        {"type": "string", "enum": public_categories},
                    ),
                    _query(
                        "status",
                        "A public status code",
                        {"type": "string", "enum": public_statuses},
                    ),
                    _query(
                        "limit",
                        f"Entries (1-{feeds.MAX_LIMIT}, default {feeds.DEFAULT_LIMIT})",
                        {"type": "integer", "minimum": 1, "maximum": feeds.MAX_LIMIT},
                    ),
                ],
                "responses": {"200": ATOM_FEED, "304": NOT_MODIFIED, **_errors("400", "503")},
            }
        },
        "/reports/{reference}/feed.atom": {
            "get": {
                "operationId": "getReportFeed",
                "tags": ["feeds", "reports"],
                "summary": "One public report's history as Atom / kanał Atom zgłoszenia",
                "description": "Public: the status changes of a public report, newest first, "
                "with notes marked public; follow it by its reference, no account needed.",
                "parameters": [REFERENCE_PARAMETER],
                "responses": {
                    "200": ATOM_FEED,
                    "304": NOT_MODIFIED,
                    **_errors("400", "404", "503"),
                },
            }
        },
    }


# --- Open311 GeoReport v2 (kmzb.service.open311) ----------------------------------------

OPEN311_TAG = {
    "name": "open311",
    "description": "Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over KMZB's "
    "rules: a service is a threat category, a service request a report, its "
    "service_request_id the public reference. Every resource ends in .json or .xml "
    "(application/json or text/xml with the XML declaration, the spec's element names); "
    "any other suffix or resource under /open311/v2 is Open311's 404 (JSON). Polish by "
    "default; `Accept-Language: en` gives English names, descriptions and error "
    "descriptions, and Content-Language says which. Errors are the spec's list, one item "
    "per problem: {code, description, field, pl, en} / Open311 GeoReport v2: usługa to "
    "kategoria zagrożenia, zgłoszenie to report; po polsku, po angielsku z "
    "Accept-Language: en.",
}
LANGUAGE_NOTE = (
    " Polish by default; `Accept-Language: en` gives English (Content-Language says which) "
    "/ po polsku, po angielsku z Accept-Language: en."
)
OPEN311_XML = "text/xml"
OPEN311_FORMAT = _path(
    "format",
    "json (application/json) or xml (text/xml) / format odpowiedzi",
    {"type": "string", "enum": ["json", "xml"]},
)
OPEN311_LANGUAGE = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "pl (the default) or en: the language of names, descriptions and error "
    "descriptions / język odpowiedzi",
    "schema": {"type": "string"},
    "example": "en",
}
JURISDICTION_ID = {
    "type": "string",
    # kmzb.policja.gov.pl or a unit's code of kmzb.police_units (anything else: a 400)
    "maxLength": 64,
    "example": "kmzb.policja.gov.pl",
}
OPEN311_JURISDICTION = _query(
    "jurisdiction_id",
    "kmzb.policja.gov.pl or a police unit's code (e.g. KMP-1261); an unknown one is a 400 "
    "/ jurysdykcja",
    JURISDICTION_ID,
)
CONTENT_LANGUAGE = {
    "description": "pl or en: the language of the answer",
    "schema": {"type": "string", "enum": ["pl", "en"]},
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


def _nullable(kind: str) -> dict:
    return {"type": kind, "nullable": True}


def _strings(*names: str) -> dict:
    return {name: {"type": "string"} for name in names}


def _open311_object(required: dict) -> dict:
    return {"type": "object", "required": list(required), "properties": required}


OPEN311_SCHEMAS = {
    "open311.error": _open311_object(
        {
            "code": {"type": "integer", "description": "The HTTP status"},
            "description": {
                "type": "string",
                "description": "The message in the answer's language (pl, or en)",
            },
            "field": {
                **_nullable("string"),
                "description": "The field or parameter at fault (null: the request as a whole)",
            },
            **_strings("pl", "en"),
        }
    ),
    "open311.errors": {
        "type": "array",
        "description": "One error per problem / jeden błąd na problem",
        "minItems": 1,
        "items": {"$ref": "#/components/schemas/open311.error"},
    },
    "open311.discovery": _open311_object(
        {
            **_strings("changeset", "contact", "key_service"),
            "endpoints": {
                "type": "array",
                "items": _open311_object(
                    {
                        **_strings("specification", "url", "changeset", "type"),
                        "formats": {"type": "array", "items": {"type": "string"}},
                    }
                ),
            },
        }
    ),
    "open311.services": {
        "type": "array",
        "description": "One service per threat category / usługa na kategorię",
        "items": _open311_object(
            {
                **_strings("service_code", "service_name", "description", "keywords", "group"),
                "metadata": {"type": "boolean"},
                "type": {"type": "string", "enum": ["realtime"]},
            }
        ),
    },
    "open311.serviceDefinition": _open311_object(
        {
            "service_code": {"type": "string"},
            "attributes": {
                "type": "array",
                "items": _open311_object(
                    {
                        "variable": {"type": "boolean"},
                        "required": {"type": "boolean"},
                        "order": {"type": "integer"},
                        **_strings("code", "datatype", "datatype_description", "description"),
                        "values": {
                            "type": "array",
                            "items": _open311_object(_strings("key", "name")),
                        },
                    }
                ),
            },
        }
    ),
    "open311.requests": {
        "type": "array",
        "description": "Service requests, newest first. A report not on the public map, looked "
        "up by its reference, has no lat, long, description or address (null)",
        "items": _open311_object(
            {
                **_strings(
                    "service_request_id",
                    "service_name",
                    "service_code",
                    "agency_responsible",
                    "service_notice",
                    "requested_datetime",
                    "updated_datetime",
                ),
                "status": {"type": "string", "enum": ["open", "closed"]},
                "detailed_status": {"type": "string", "description": "KMZB's status code"},
                **{
                    name: _nullable("string")
                    for name in (
                        "status_notes",
                        "description",
                        "expected_datetime",
                        "address",
                        "address_id",
                        "zipcode",
                        "media_url",
                    )
                },
                "lat": _nullable("number"),
                "long": _nullable("number"),
            }
        ),
    },
    "open311.created": {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": _open311_object(
            {
                **_strings("service_request_id", "service_notice"),
                "account_id": _nullable("string"),
            }
        ),
    },
    "open311.tokens": {
        "type": "array",
        "items": _open311_object(_strings("service_request_id", "token")),
    },
}


def _open311_ok(description: str, schema: str, root: str, headers: dict | None = None) -> dict:
    return {
        "description": description,
        "headers": {"Content-Language": CONTENT_LANGUAGE, **(headers or {})},
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/open311.{schema}"}},
            OPEN311_XML: {
                "schema": {"type": "string", "description": f"XML: <{root}> (the spec's names)"}
            },
        },
    }


def _open311_error(description: str, retry_after: bool = False) -> dict:
    headers: dict = {"Content-Language": CONTENT_LANGUAGE}
    if retry_after:
        headers["Retry-After"] = RETRY_AFTER
    return {
        "description": description + " (the error list in the format asked for, its "
        "description in the answer's language) / lista błędów Open311",
        "headers": headers,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/open311.errors"}},
            OPEN311_XML: {"schema": {"type": "string", "description": "XML: <errors><error>"}},
        },
    }


OPEN311_NOT_FOUND = _open311_error(
    "No such service, request, token or resource; a suffix other than .json or .xml is "
    "a 404 in JSON / nie ma takiego zasobu"
)

OPEN311_ERRORS = {
    "400": _open311_error("Bad input: each parameter or field at fault named / błędne dane"),
    "403": _open311_error("An invalid or revoked api_key: nothing stored / zły api_key"),
    "404": OPEN311_NOT_FOUND,
    "422": _open311_error(
        "The Idempotency-Key was used for another request / klucz użyty dla innego żądania"
    ),
    "429": _open311_error(
        "The daily limit of reports is used up (no api_key): retry after Retry-After "
        "/ dzienny limit zgłoszeń",
        retry_after=True,
    ),
    "503": _open311_error(
        "The database is unavailable for a moment: retry after Retry-After "
        "/ usługa chwilowo niedostępna",
        retry_after=True,
    ),
}


def _open311_errors(*codes: str) -> dict:
    return {code: OPEN311_ERRORS[code] for code in codes}


# A W3C datetime with its offset (a year outside 1900-2100 is a 400 naming the field)
W3C_DAY = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
W3C_TIME = (
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
W3C_DATETIME = {"type": "string", "pattern": f"^{W3C_DAY}{W3C_TIME}$"}
# Stored text holds no control character but tab and line breaks, a URL none at all
# (others are a 400: kmzb.service.control_characters, open311.parse_new_request)
NO_CONTROLS = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
URL_PATTERN = "^https?://[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"


# Any point on Earth: one outside Poland is a 400 (POST) or finds nothing (GET)
LATITUDE = {"type": "number", "minimum": -90, "maximum": 90}
LONGITUDE = {"type": "number", "minimum": -180, "maximum": 180}


def _comma_list(items: dict, max_items: int | None = None) -> dict:
    schema = {"type": "array", "items": items, "minItems": 1}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def open311_paths(
    category_codes: list[str],
    reference_pattern: str,
    times_of_day: list[str],
    description_max: int,
) -> dict:
    """The OpenAPI paths of Open311 GeoReport v2 (kmzb.service.open311), in JSON and XML."""
    from kmzb.domain import open311

    prefix = "/open311/v2"
    service_code = {"type": "string", "enum": category_codes}
    reference = {"type": "string", "pattern": reference_pattern}
    common = [OPEN311_FORMAT, OPEN311_LANGUAGE, OPEN311_JURISDICTION]
    window = open311.WINDOW.days

    def get(operation_id: str, summary: str, description: str, **rest: Any) -> dict:
        return {
            "get": {
                "operationId": operation_id,
                "tags": ["open311"],
                "summary": summary,
                "description": description + LANGUAGE_NOTE,
                **rest,
            }
        }

    form_fields: dict[str, dict] = {
        "service_code": {**service_code, "description": "The threat category (GET services)"},
        "lat": {
            **LATITUDE,
            "description": "WGS 84 latitude, with long; or give address_string alone; "
            "a place outside Poland is a 400",
        },
        "long": {**LONGITUDE, "description": "WGS 84 longitude, with lat"},
        "address_string": {
            "type": "string",
            "minLength": 1,
            "maxLength": open311.MAX_ADDRESS,
            "pattern": NO_CONTROLS,
            "description": "Kept for the police; alone, placed at the one town or village of "
            "the gazetteer it names (its last comma part that names one), else a 400",
        },
        "description": {
            "type": "string",
            "maxLength": description_max,
            "pattern": NO_CONTROLS,
            "description": "Required for some categories (see the service's description)",
        },
        "media_url": {
            "type": "string",
            "maxLength": open311.MAX_MEDIA_URL,
            "pattern": URL_PATTERN,
            "description": "An http(s) address, kept as text for the police, never fetched",
        },
        "api_key": {
            "type": "string",
            "maxLength": open311.MAX_API_KEY,
            "description": "A partner institution's key (no daily limit); an invalid or "
            "revoked one is a 403",
        },
        "jurisdiction_id": {
            **JURISDICTION_ID,
            "description": "kmzb.policja.gov.pl or a police unit's code: the place must lie "
            "in that unit's area",
        },
        "address_id": {"type": "string", "description": "Accepted, not used"},
        **{
            name: {"type": "string", "description": "Accepted, never stored"}
            for name in open311.PERSONAL_FIELDS
        },
    }
    assert set(form_fields) == open311.POST_FIELDS, "POST_FIELDS changed: document them"
    form_fields["attribute[event_date]"] = {
        "type": "string",
        "pattern": f"^{W3C_DAY}({W3C_TIME})?$",
        "description": "YYYY-MM-DD or a W3C datetime with its offset (its day in Poland "
        "counts); not in the future",
    }
    form_fields["attribute[time_of_day]"] = {"type": "string", "enum": times_of_day}
    assert {f"attribute[{code}]" for code in open311.ATTRIBUTES} <= set(form_fields)

    return {
        f"{prefix}/discovery.{{format}}": get(
            "getOpen311Discovery",
            "Open311 discovery / opis usługi Open311",
            "Public: the endpoint, its formats and how a partner gets an api_key.",
            parameters=common,
            responses={
                "200": _open311_ok("The discovery document", "discovery", "discovery"),
                **_open311_errors("400", "404", "503"),
            },
        ),
        f"{prefix}/services.{{format}}": get(
            "getOpen311Services",
            "Open311 services: the threat categories / kategorie zagrożeń",
            "Public: one service per threat category, with its group.",
            parameters=common,
            responses={
                "200": _open311_ok("The services", "services", "services"),
                **_open311_errors("400", "404", "503"),
            },
        ),
        f"{prefix}/services/{{service_code}}.{{format}}": get(
            "getOpen311ServiceDefinition",
            "An Open311 service definition / definicja usługi",
            "Public: the attributes a request of this service may carry (event_date, time_of_day).",
            parameters=[
                _path("service_code", "A threat category code / kod kategorii", service_code),
                *common,
            ],
            responses={
                "200": _open311_ok(
                    "The service definition", "serviceDefinition", "service_definition"
                ),
                **_open311_errors("400", "404", "503"),
            },
        ),
        f"{prefix}/requests.{{format}}": {
            **get(
                "getOpen311Requests",
                "Open311 service requests on the public map / zgłoszenia na mapie",
                "Public: what the public map shows, newest first. Default window: the last "
                f"{window} days; start_date alone spans {window} days from it. "
                "service_request_id overrides every other parameter. Each bad parameter is "
                "named in the 400.",
                parameters=[
                    OPEN311_FORMAT,
                    OPEN311_LANGUAGE,
                    _query(
                        "service_request_id",
                        f"1 to {open311.MAX_IDS} references, comma separated",
                        _comma_list(reference, open311.MAX_IDS),
                    ),
                    _query(
                        "service_code",
                        "Threat category codes, comma separated",
                        _comma_list(service_code),
                    ),
                    _query(
                        "start_date",
                        f"From (a W3C datetime with its offset); at most {window} days "
                        "before end_date",
                        W3C_DATETIME,
                    ),
                    _query(
                        "end_date",
                        "To (a W3C datetime with its offset)",
                        W3C_DATETIME,
                    ),
                    _query(
                        "status",
                        "open, closed, comma separated",
                        _comma_list({"type": "string", "enum": ["open", "closed"]}),
                    ),
                    _query(
                        "lat",
                        "WGS 84 latitude of the centre (with long)",
                        LATITUDE,
                    ),
                    _query(
                        "long",
                        "WGS 84 longitude of the centre (with lat)",
                        LONGITUDE,
                    ),
                    _query(
                        "radius",
                        f"Metres around lat/long (1-{open311.MAX_RADIUS_M}, default "
                        f"{open311.DEFAULT_RADIUS_M}; FixMyStreet's extension); needs lat and long",
                        {"type": "integer", "minimum": 1, "maximum": open311.MAX_RADIUS_M},
                    ),
                    _query(
                        "max_requests",
                        f"At most this many (1-{open311.MAX_REQUESTS}, default "
                        f"{open311.MAX_REQUESTS})",
                        {"type": "integer", "minimum": 1, "maximum": open311.MAX_REQUESTS},
                    ),
                    OPEN311_JURISDICTION,
                ],
                responses={
                    "200": _open311_ok("The service requests", "requests", "service_requests"),
                    **_open311_errors("400", "404", "503"),
                },
            ),
            "post": {
                "operationId": "postOpen311Request",
                "tags": ["open311"],
                "summary": "Report a threat as an Open311 service request / nowe zgłoszenie",
                "description": "Stored at once by submit-threat's rules (validation, routing, "
                "the daily limit without an api_key); every problem of the form is named in "
                "one 400, and a refusal stores nothing. Personal fields are accepted and "
                "never stored. The 201 has a Location of requests/{id}. Fields go in the "
                "form (multipart/form-data is taken too), never in the query. In an "
                "emergency call 112." + LANGUAGE_NOTE,
                "parameters": [
                    OPEN311_FORMAT,
                    OPEN311_LANGUAGE,
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A retry with the same key and form gets the first "
                        "answer (1-255 printable ASCII characters)",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": "^[\\x20-\\x7e]*[\\x21-\\x7e][\\x20-\\x7e]*$",
                        },
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["service_code"],
                                "properties": form_fields,
                                "additionalProperties": False,
                            },
                            "example": {
                                "service_code": (
                                    "illegal_dumping"
                                    if "illegal_dumping" in category_codes
                                    else category_codes[0]
                                ),
                                "lat": 50.0614,
                                "long": 19.9383,
                                "attribute[time_of_day]": times_of_day[0],
                            },
                        }
                    },
                },
                "responses": {
                    "201": _open311_ok(
                        "Stored: the service_request_id (the reference) and the notice",
                        "created",
                        "service_requests",
                        {
                            "Location": {
                                "description": "requests/{service_request_id}.{format}",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **_open311_errors("400", "403", "404", "422", "429", "503"),
                },
            },
        },
        f"{prefix}/requests/{{service_request_id}}.{{format}}": get(
            "getOpen311Request",
            "One Open311 service request / zgłoszenie po numerze",
            "For anyone holding the reference: a list of one. A report not on the public map "
            "comes without lat, long, description and address (null), as GET "
            "/reports/{reference}. An id that is not a reference is a 400.",
            parameters=[
                _path("service_request_id", "The report's reference / numer", reference),
                *common,
            ],
            responses={
                "200": _open311_ok("The service request", "requests", "service_requests"),
                **_open311_errors("400", "404", "503"),
            },
        ),
        f"{prefix}/tokens/{{token}}.{{format}}": get(
            "getOpen311Token",
            "The service request of a token / zgłoszenie tokenu",
            "Requests are stored at once, so a token is the reference itself.",
            parameters=[_path("token", "The token (the reference) / token", reference), *common],
            responses={
                "200": _open311_ok("The token's service request", "tokens", "service_requests"),
                **_open311_errors("400", "404", "503"),
            },
        ),
    }


def execute_body(metadata: dict) -> dict:
    """The execute request schema of a process: {"inputs": {...}} with its inputs' schemas."""
    inputs = metadata.get("inputs", {})
    properties = {}
    for name, spec in inputs.items():
        schema = copy.deepcopy(spec["schema"])
        if spec.get("maxOccurs", 1) not in (1, None):
            schema = {"type": "array", "items": schema, "maxItems": spec["maxOccurs"]}
        properties[name] = {**schema, "description": spec.get("description", "")}
    required = [n for n, spec in inputs.items() if spec.get("minOccurs", 0) >= 1]
    inputs_schema: dict = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        inputs_schema["required"] = required
    inputs_schema.update(copy.deepcopy(metadata.get("x-kmzb-inputs-schema", {})))
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {"inputs": as_openapi30_schema(inputs_schema)},
    }


def describe(document: dict, processes: dict, our: dict) -> dict:
    """Add our routes, the bearer scheme and each process's execute body to the document."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["kmzb.exception"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT from the OIDC issuer (KMZB_JWKS_URL); roles officer, "
        "coordinator, partner, admin. Citizens need none.",
    }
    paths = document.setdefault("paths", {})
    paths.update(our)
    for process_id, metadata in processes.items():
        operation = paths.get(f"/processes/{process_id}/execution", {}).get("post")
        if operation is None:
            continue
        media = operation["requestBody"]["content"]["application/json"]
        media["schema"] = execute_body(metadata)
        responses = operation["responses"]
        for code in ("400", "401", "403", "409", "429", "503"):
            responses.setdefault(code, _error(f"HTTP {code}: a refusal, with pl/en messages"))
        operation.setdefault("security", [{}, *BEARER])
    return document


def advertise_limit(document: dict) -> dict:
    """`#/components/parameters/limit`: the items operations' `limit` (pygeoapi writes
    it inline on each, with the configured maximum and default) as a component too,
    with the largest maximum, for clients that look for it there. GDAL's OAPIF driver
    (3.8 and later) takes its page size from limit's advertised maximum; page size is
    what a whole-collection copy costs, now that every page costs the same (keyset
    cursors, kmzb.providers.postgis)."""
    limits = [
        parameter
        for path, operations in document.get("paths", {}).items()
        if path.endswith("/items")
        for parameter in operations.get("get", {}).get("parameters", [])
        if parameter.get("name") == "limit" and "maximum" in parameter.get("schema", {})
    ]
    if not limits:
        return document
    widest = max(limits, key=lambda p: int(p["schema"]["maximum"]))
    component = copy.deepcopy(widest)
    component["description"] = (
        "The most items a page holds (maximum: the largest of the collections'; each "
        "items operation states its own). Pages are read by keyset: follow the next "
        "link, every page costs the same."
    )
    document.setdefault("components", {}).setdefault("parameters", {})["limit"] = component
    return document


def complete(document: dict) -> dict:
    """What app.write_openapi serves: pygeoapi's document, described, bundled."""
    from kmzb.db.pool import get_pool
    from kmzb.domain import audit, places, vocabulary
    from kmzb.processes import area_safety, review_threat, submit_threat

    processes = {
        m["id"]: m
        for m in (
            submit_threat.current_metadata(),
            review_threat.current_metadata(),
            area_safety.PROCESS_METADATA,
        )
    }
    # every status the database knows, so that one a migration adds is documented too
    with get_pool().connection() as conn:
        words = vocabulary.load(conn)
    status_codes = words.status_codes
    our = our_paths(sorted(status_codes), places.MAX_LIMIT, audit.MAX_LIMIT)
    our.update(
        feed_paths(
            [s.code for s in words.statuses if s.is_public],
            [c.code for c in words.categories if c.public_rule != "never"],
        )
    )
    our.update(
        open311_paths(
            words.category_codes,
            words.limits.reference_pattern,
            words.time_of_day_codes,
            words.limits.description_max_chars,
        )
    )
    our.update(ASYNCAPI_PATH)
    described = describe(document, processes, our)
    advertise_limit(described)
    described["components"]["schemas"].update(copy.deepcopy(OPEN311_SCHEMAS))
    described.setdefault("tags", []).append(OPEN311_TAG)
    return truthful(bundle(described))


# --- what the service really answers -------------------------------------------------

# the media type each `f` value is served as (pygeoapi 0.24); `json` keeps what pygeoapi
# declares (application/json, application/geo+json), except on schema and queryables
FORMAT_MEDIA_TYPES = {
    "html": "text/html",
    "jsonld": "application/ld+json",
    "csv": "text/csv",
}
JSON_SCHEMA_PATH = re.compile(r"^/collections/[^/]+/(schema|queryables)$")
TILE_PATH = re.compile(r"^/collections/[^/]+/tiles/\{[^/]+\}/\{[^/]+\}/\{[^/]+\}/\{[^/]+\}$")
TILESETS_PATH = re.compile(r"^/collections/[^/]+/tiles$")
ITEMS_PATH = re.compile(r"^/collections/[^/]+/items$")

TEXT = {"schema": {"type": "string"}}
ANY_JSON_OBJECT = {"schema": {"type": "object"}}

# A JSON Schema document (OGC API Features Part 5, application/schema+json): what
# /schema and /queryables answer; pygeoapi declares the 0.x `queryables` list.
JSON_SCHEMA_DOCUMENT = {
    "type": "object",
    "description": "A JSON Schema of the collection's properties (OGC API Features Part 5).",
    "required": ["type", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["object"]},
        "title": {"type": "string"},
        "properties": {"type": "object", "additionalProperties": {"type": "object"}},
        "$schema": {"type": "string"},
        "$id": {"type": "string"},
    },
}
# OGC API Tiles 1.0, tileSet list (tiles/{tmsId}): what pygeoapi answers on
# /collections/{id}/tiles; pygeoapi declares the draft's tileMatrixSetLinks.
TILESET_LIST = {
    "type": "object",
    "required": ["links", "tilesets"],
    "properties": {
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/tiles.link"}},
        "tilesets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["dataType", "crs", "links"],
                "properties": {
                    "title": {"type": "string"},
                    "dataType": {"type": "string", "enum": ["map", "vector", "coverage"]},
                    "crs": {"type": "string"},
                    "tileMatrixSetURI": {"type": "string"},
                    "links": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/tiles.link"},
                    },
                },
            },
        },
    },
}
# OGC API Common, the conformance declaration; pygeoapi refers /conformance to the
# landing page's schema, which requires `links`.
CONFORMANCE = {
    "type": "object",
    "required": ["conformsTo"],
    "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
}

# answers that do not come from the operation itself
REQUEST_LINE_TOO_LONG = {
    "description": "The request line is longer than gunicorn takes (4094 bytes) / "
    "za długi adres żądania",
    "content": {"text/html": TEXT},
}
UNAVAILABLE = _error(
    "The database is unavailable for a moment: retry after Retry-After / "
    "usługa chwilowo niedostępna"
)
EMPTY_TILE = {"description": "An empty tile: nothing to draw there / pusty kafel"}
POST_REFUSALS = {
    "405": _error("Not a CQL2-JSON request body / treść żądania nie jest CQL2-JSON"),
    "413": _error("The request body is too large / za duże żądanie"),
    "415": _error("The request body is not JSON / treść żądania nie jest JSON-em"),
}
# an id the router cannot match (a "/" in it, a word for a number) gets Flask's own page
NOT_FOUND = _error("No such item, collection or resource / nie ma takiego zasobu")
NOT_FOUND["content"]["text/html"] = TEXT


def _resolved(document: dict, node: dict) -> dict:
    """A response or parameter, its local $ref followed (a copy)."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = resolve_pointer(document, node["$ref"].removeprefix("#"), node["$ref"])
    return copy.deepcopy(node)


def _formats(document: dict, operation: dict) -> list[str]:
    for parameter in operation.get("parameters", []):
        parameter = _resolved(document, parameter)
        if parameter.get("name") == "f" and parameter.get("in") == "query":
            return [str(v) for v in parameter.get("schema", {}).get("enum", [])]
    return []


def _declare_error_formats(document: dict, operation: dict, formats: list[str]) -> None:
    """pygeoapi writes a refusal in the format asked for: f=jsonld gives the exception
    as application/ld+json, f=html as a page."""
    for code, response in list(operation.get("responses", {}).items()):
        if code[:1] not in ("4", "5"):
            continue
        response = _resolved(document, response)
        content = response.get("content", {})
        if "application/json" not in content:
            continue
        if "jsonld" in formats:
            content.setdefault("application/ld+json", copy.deepcopy(content["application/json"]))
        if "html" in formats:
            content.setdefault("text/html", TEXT)
        operation["responses"][code] = response


def _declare_formats(document: dict, path: str, operation: dict) -> None:
    """The 200 answer lists the media type of every `f` value the operation takes."""
    formats = _formats(document, operation)
    _declare_error_formats(document, operation, formats)
    ok = operation.get("responses", {}).get("200")
    if not formats or ok is None:
        return
    ok = _resolved(document, ok)
    content = ok.get("content")
    if not content:
        return  # a 200 described without content: nothing to contradict
    if JSON_SCHEMA_PATH.match(path):
        content.pop("application/json", None)
        content["application/schema+json"] = {"schema": JSON_SCHEMA_DOCUMENT}
    if TILESETS_PATH.match(path) and "application/json" in content:
        content["application/json"] = {"schema": TILESET_LIST}
    if path == "/conformance" and "application/json" in content:
        content["application/json"] = {"schema": CONFORMANCE}
        ok["description"] = "The conformance classes the service implements"
    for value in formats:
        media_type = FORMAT_MEDIA_TYPES.get(value)
        if media_type is None or media_type in content:
            continue
        if JSON_SCHEMA_PATH.match(path) and value == "jsonld":
            continue  # answered as application/schema+json
        content[media_type] = ANY_JSON_OBJECT if media_type.endswith("json") else TEXT
    operation["responses"]["200"] = ok


def _declare_statuses(path: str, method: str, operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    responses.setdefault("414", REQUEST_LINE_TOO_LONG)
    responses.setdefault("503", UNAVAILABLE)
    if "{" in path:
        responses.setdefault("404", NOT_FOUND)
    if TILE_PATH.match(path):
        responses.setdefault("204", EMPTY_TILE)
    if ITEMS_PATH.match(path) and method == "post":
        for code, response in POST_REFUSALS.items():
            responses.setdefault(code, response)


def truthful(document: dict) -> dict:
    """Declare what the service really answers where pygeoapi's document says less or
    otherwise: the media type of each `f` value, the JSON Schema of /schema and
    /queryables, the tileset list, the conformance declaration, a null geometry, an
    empty tile (204), an unknown id (404), the request line gunicorn refuses (414)
    and a database fault (503). Changes the document in place and returns it."""
    schemas = document.get("components", {}).get("schemas", {})
    feature = schemas.get("features.featureGeoJSON", {}).get("properties", {})
    if "$ref" in feature.get("geometry", {}):
        # GeoJSON (RFC 7946 3.2): an unlocated feature has "geometry": null
        # (OpenAPI 3.0's idiom for a nullable reference: `nullable` only acts with `type`)
        feature["geometry"] = {
            "anyOf": [feature["geometry"], {"type": "object", "nullable": True, "enum": [None]}]
        }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete", "options", "head"):
                continue
            if method == "get":
                _declare_formats(document, path, operation)
            _declare_statuses(path, method, operation)
    return document
