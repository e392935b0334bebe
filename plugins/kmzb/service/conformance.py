"""What the service declares it conforms to, and GeoJSON as GeoJSON.

pygeoapi 0.24 builds /conformance from lists in its API modules: for every
collection with a feature provider it adds `itemtypes.CONFORMANCE_CLASSES_FEATURES`.
That list is the seam: kmzb.service.pygeoapi_adapter sets it, once, to
FEATURE_CLASSES, what this service does, each
CQL2 class proven by tests/test_ogc_conformance.py over HTTP:

- OGC API Features Part 3 `filter` and `features-filter` (with `queryables`), which
  clients such as QGIS and GDAL look for before they send a filter to the server;
- CQL2 text and JSON encodings (`filter-lang=cql2-json` in a query string, or a
  POST with Content-Type application/query-cql-json), basic CQL2, the advanced
  comparison operators (LIKE, BETWEEN, IN), S_INTERSECTS with every geometry type
  (basic-spatial-functions and -plus) and the other spatial functions;
- not Part 4 (create-replace-delete), which pygeoapi declares by default: every
  collection here is read-only.

Items and an item are answered as `application/geo+json` (pygeoapi 0.24 sends
`application/json` for f=json and for the default format).

Written for pygeoapi 0.24.x; the adapter's guard refuses another version (or a
changed `conformance()`), so that an upgrade looks again at the seam first.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

SUPPORTED_PYGEOAPI = "0.24."

FEATURES_3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"

FEATURE_CLASSES = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    FEATURES_3 + "queryables",
    FEATURES_3 + "queryables-query-parameters",
    FEATURES_3 + "filter",
    FEATURES_3 + "features-filter",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/advanced-property-roles",
    CQL2 + "cql2-text",
    CQL2 + "cql2-json",
    CQL2 + "basic-cql2",
    CQL2 + "advanced-comparison-operators",
    CQL2 + "basic-spatial-functions",
    CQL2 + "basic-spatial-functions-plus",
    CQL2 + "spatial-functions",
]

GEOJSON = "application/geo+json"
FEATURES = re.compile(r"^/collections/[^/]+/items(/[^/]+)?/?$")


def media_type(response: Response) -> str:
    """The response's media type. pygeoapi 0.24 sets `response.headers` to a plain
    dict (flask_app.execute_from_flask), where werkzeug's `mimetype` finds nothing."""
    value = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def set_media_type(response: Response, value: str) -> None:
    for name in [k for k in response.headers.keys() if k.lower() == "content-type"]:
        del response.headers[name]
    response.headers["Content-Type"] = value


def geojson_media_type(response: Response) -> Response:
    """A feature collection or a feature in GeoJSON is application/geo+json."""
    if (
        response.status_code == 200
        and FEATURES.match(request.path)
        and media_type(response) == "application/json"
    ):
        set_media_type(response, GEOJSON)
    return response


def install(app: Flask) -> None:
    app.after_request(geojson_media_type)
