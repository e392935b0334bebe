"""The OpenAPI document the running app serves is self-contained and valid offline,
describes our own routes, the bearer token and each process's inputs, and says what
the service really answers: each status, media type and JSON body below is checked
against the document (what tests/test_openapi_fuzz.py found untrue)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from conftest import running_app
from kmzb.domain import vocabulary
from kmzb.processes import area_safety, review_threat, submit_threat
from kmzb.service import openapi
from kmzb.settings import HOME, Settings

OUR_ROUTES = {
    "/reports/{reference}": False,
    "/police/queue": True,
    "/police/reports/{reference}": True,
    "/police/reports/{reference}/attachments/{id}": True,
    "/partner/forwarded": True,
    "/places": False,
    "/institutions": True,
    "/admin/access-log": True,
    "/wms": False,
}


@pytest.fixture(scope="module")
def app(db_url: str, server: Settings, wms: str, tmp_path_factory) -> Iterator[str]:
    """The app under gunicorn with /wms forwarding to the real QGIS Server."""
    openapi_file = tmp_path_factory.mktemp("openapi-truth") / "openapi.yml"
    with running_app(db_url, server, openapi_file, {"KMZB_WMS_URL": f"{wms}/ows/"}) as base:
        yield base


@pytest.fixture(scope="module")
def document(api: str) -> dict:
    answer = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


def refs(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                found.extend(refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(refs(value))
    return found


def resolve(document: dict, ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_every_reference_is_local_and_resolves(document: dict) -> None:
    found = refs(document)
    assert len(found) > 300  # pygeoapi's ~90 remote schemas, each used many times
    remote = [r for r in found if not r.startswith("#/")]
    assert remote == [], f"remote references left: {sorted(set(remote))[:10]}"
    for ref in set(found):
        resolve(document, ref)
    # the OGC building blocks are there, under their source's name
    assert "features.InvalidParameter" in document["components"]["responses"]
    assert "tiles.tileMatrixSetId" in document["components"]["parameters"]
    assert "cql2.andOrExpression" in document["components"]["schemas"]
    assert "OGC" in document["info"]["description"]  # the licence's modification notice


def test_the_document_validates_with_no_network(
    document: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            attempts.append(address)
            raise OSError(f"network blocked in this test: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns(socket.getaddrinfo, attempts))
    validate(document)  # raises on any fault; a remote $ref would need the network
    assert attempts == []


def _no_dns(real, attempts: list[object]):
    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            attempts.append(host)
            raise OSError(f"name resolution blocked in this test: {host}")
        return real(host, *args, **kwargs)

    return getaddrinfo


def test_our_routes_are_described_with_the_bearer_token(document: dict) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, needs_token in OUR_ROUTES.items():
        operation = document["paths"][path]["get"]
        assert operation["responses"], path
        assert ("security" in operation) == needs_token, path
        for name in [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]:
            assert "{" + name + "}" in path


@pytest.mark.parametrize("metadata", [submit_threat, review_threat, area_safety])
def test_execute_bodies_list_the_process_inputs(document: dict, metadata, conn) -> None:
    # a description built from the vocabulary is built from this test's database
    if hasattr(metadata, "process_metadata"):
        meta = metadata.process_metadata(vocabulary.read(conn))
    else:
        meta = metadata.PROCESS_METADATA
    operation = document["paths"][f"/processes/{meta['id']}/execution"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    inputs = schema["properties"]["inputs"]
    assert set(inputs["properties"]) == set(meta["inputs"])
    required = {n for n, spec in meta["inputs"].items() if spec.get("minOccurs", 0) >= 1}
    assert set(inputs.get("required", [])) == required
    assert inputs["additionalProperties"] is False
    # the example pygeoapi shows is valid by that schema
    import jsonschema

    jsonschema.validate(meta["example"], schema)
    # refusals are declared with their status codes
    assert {"400", "401", "403", "429", "503"} <= set(operation["responses"])


def test_bundle_follows_references_inside_the_copied_files(tmp_path: Path) -> None:
    url = (
        "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi/responses/ExecuteAsync.yaml"
    )
    bundled = openapi.bundle({"openapi": "3.0.2", "paths": {"/x": {"get": {"responses": {
        "201": {"$ref": url}}}}}})  # fmt: skip
    assert bundled["paths"]["/x"]["get"]["responses"]["201"] == {
        "$ref": "#/components/responses/processes.ExecuteAsync"
    }
    response = bundled["components"]["responses"]["processes.ExecuteAsync"]
    status = response["content"]["application/json"]["schema"]
    assert status == {"$ref": "#/components/schemas/processes.statusInfo"}
    assert openapi.remote_references(bundled) == []
    # a schema nobody copied is an error that names it, never a silent remote $ref
    missing = "https://schemas.opengis.net/ogcapi/edr/1.0/openapi/schemas/x.yaml"
    with pytest.raises(openapi.BundleError, match="edr/1.0"):
        openapi.bundle({"paths": {"/y": {"get": {"responses": {"200": {"$ref": missing}}}}}})
    with pytest.raises(openapi.BundleError, match="no node"):
        openapi.bundle({"paths": {"/z": {"get": {"responses": {"200": {"$ref": url + "#/nope"}}}}}})


def test_the_bundled_copies_and_their_sources_ship() -> None:
    folder = HOME / "openapi" / "ogc"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "OGC Software License" in readme and (folder / "LICENSE-OGC.txt").is_file()
    for host in ("schemas.opengis.net", "raw.githubusercontent.com"):
        assert any((folder / host).rglob("*.yaml")), host
    setup = (HOME / "setup.py").read_text(encoding="utf-8")
    assert '("openapi", "openapi", True)' in setup


# --- answers as the document says ---------------------------------------------------


def declared(document: dict, path: str, method: str, answer: requests.Response) -> None:
    """The answer's status and media type are declared for the operation, and a JSON
    body matches the declared schema (as schemathesis' conformance checks see it)."""
    responses = document["paths"][path][method]["responses"]
    status = str(answer.status_code)
    assert status in responses or "default" in responses, (status, sorted(responses))
    response = responses.get(status, responses.get("default"))
    while "$ref" in response:
        response = resolve(document, response["$ref"])
    content = response.get("content")
    if not content:
        return
    media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
    assert media_type in content, (media_type, sorted(content))
    if media_type.endswith("json"):
        schema = {**content[media_type].get("schema", {}), "components": document["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(answer.json())]
        assert errors == [], errors[:3]


def test_a_feature_without_geometry_matches_the_document(api: str, document: dict) -> None:
    # GeoJSON's "geometry": null (categories have none; skipGeometry drops it)
    for url, path in (
        ("/collections/threat-categories/items", "/collections/threat-categories/items"),
        (
            "/collections/wojewodztwa/items/30?skipGeometry=true",
            "/collections/wojewodztwa/items/{featureId}",
        ),
    ):
        answer = requests.get(f"{api}{url}", timeout=60)
        assert answer.status_code == 200, answer.text[:300]
        assert '"geometry":null' in answer.text.replace(" ", "")
        declared(document, path, "get", answer)


def test_every_format_is_answered_as_declared(api: str, document: dict) -> None:
    for path in (
        "/",
        "/conformance",
        "/collections",
        "/collections/gminy",
        "/collections/gminy/schema",
        "/collections/threats/queryables",
        "/collections/threats/tiles",
        "/collections/police-units/items",
        "/processes",
    ):
        for f in ("json", "html", "jsonld", "csv" if path.endswith("/items") else None, None):
            params = {"f": f, "limit": 2 if path.endswith("/items") else None}
            answer = requests.get(f"{api}{path}", params=params, timeout=60)
            assert answer.status_code == 200, (path, f, answer.text[:300])
            declared(document, path, "get", answer)


def test_an_empty_tile_is_a_declared_204(api: str, document: dict) -> None:
    path = "/collections/threats/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    answer = requests.get(f"{api}/collections/threats/tiles/WebMercatorQuad/5/10/1", timeout=60)
    assert answer.status_code == 204
    declared(document, path, "get", answer)


def test_a_request_line_too_long_for_gunicorn_is_a_declared_414(api: str, document: dict) -> None:
    answer = requests.get(f"{api}/collections/gminy/items", params={"name": "x" * 5000}, timeout=60)
    assert answer.status_code == 414
    declared(document, "/collections/gminy/items", "get", answer)
    assert "503" in document["paths"]["/collections/gminy/items"]["get"]["responses"]


def test_a_wms_request_qgis_does_not_implement_is_a_400_in_polish_and_english(
    app: str, document: dict
) -> None:
    for query in ({"SERVICE": "WMS", "unknown": "42"}, {"SERVICE": "WMS", "REQUEST": "Foo"}):
        answer = requests.get(f"{app}/wms", params=query, timeout=60)
        assert answer.status_code == 400, answer.text[:300]
        body = answer.json()
        assert body["code"] == "OperationNotSupported"
        assert "nie jest obsługiwana" in body["message"]["pl"]
        assert "not supported" in body["description"]
        declared(document, "/wms", "get", answer)
    capabilities = requests.get(
        f"{app}/wms", params={"SERVICE": "WMS", "REQUEST": "GetCapabilities"}, timeout=60
    )
    assert capabilities.status_code == 200 and b"WMS_Capabilities" in capabilities.content


@pytest.mark.parametrize("crs", [{}, [], ["EPSG:2180"], 2180, True])
def test_a_crs_that_is_not_text_is_a_400(api: str, document: dict, crs: object) -> None:
    for place in ({"x": 566000, "y": 244000}, {"lon": 19.94, "lat": 50.06}):
        answer = requests.post(
            f"{api}/processes/submit-threat/execution",
            json={"inputs": {**place, "crs": crs, "category": "illegal_dumping"}},
            timeout=60,
        )
        assert answer.status_code == 400, answer.text[:300]
        fields = [e.get("field") for e in answer.json().get("errors", [])]
        assert "crs" in fields, answer.text[:300]
        declared(document, "/processes/submit-threat/execution", "post", answer)


def test_a_refusal_in_the_format_asked_for_is_declared(api: str, document: dict) -> None:
    # pygeoapi writes the exception as JSON-LD for f=jsonld, as a page for f=html
    for f, media_type in (("jsonld", "application/ld+json"), ("html", "text/html")):
        answer = requests.get(
            f"{api}/collections/crime-rates/items", params={"filter": "\x18»Z", "f": f}, timeout=60
        )
        assert answer.status_code == 400, answer.text[:300]
        assert answer.headers["Content-Type"].startswith(media_type)
        declared(document, "/collections/crime-rates/items", "get", answer)


def test_an_empty_page_as_json_ld_is_json(api: str, document: dict) -> None:
    # pygeoapi 0.24's items template left a trailing comma when nothing matched
    answer = requests.get(
        f"{api}/collections/police-units/items",
        params={"f": "jsonld", "code": "no-such-unit"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["features"] == []
    declared(document, "/collections/police-units/items", "get", answer)


def test_an_id_no_route_matches_is_a_declared_404(api: str, document: dict) -> None:
    # Flask's router matches no route for an id that ends in a line break: its own page
    path = "/collections/threat-categories/items/{featureId}"
    answer = requests.options(f"{api}/collections/threat-categories/items/a%0A", timeout=60)
    assert answer.status_code == 404
    declared(document, path, "options", answer)
