"""The collections' query checks (kmzb.service.query_checks) and the datetime parser they
use (kmzb.providers.postgis.parse_datetime), pure: a Flask request context built in the
test, a collection's configuration given as a dict, no pygeoapi app, no database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from kmzb.domain.crs_names import CRS84_URI, EPSG_2180_URI
from kmzb.providers.postgis import BilingualQueryError, parse_datetime
from kmzb.service import query_checks as qc
from kmzb.service.query_checks import QueryError

APP = Flask(__name__)
TILES = {"providers": [{"type": "tile", "options": {"zoom": {"min": 0, "max": 16}}}]}
FEATURES = {"providers": [{"type": "feature", "crs": [CRS84_URI, EPSG_2180_URI]}]}


@pytest.fixture()
def request_to() -> Iterator[Any]:
    """Enter a request context for a path with a query string; yields flask.request."""
    contexts: list[Any] = []

    def enter(path: str, method: str = "GET", **kwargs: Any) -> Any:
        from flask import request

        context = APP.test_request_context(path, method=method, **kwargs)
        context.push()
        contexts.append(context)
        return request

    yield enter
    for context in reversed(contexts):
        context.pop()


def refusal(check: Any, *args: Any) -> QueryError:
    with pytest.raises(QueryError) as raised:
        check(*args)
    error = raised.value
    assert error.en and error.pl and error.en != error.pl
    return error


# --- parameters, numbers, bbox ------------------------------------------------------------


def test_a_repeated_parameter_is_named(request_to: Any) -> None:
    request_to("/collections/c/items?limit=1&limit=2")
    assert "limit" in refusal(qc._no_repeats).en
    request_to("/collections/c/items?limit=1&offset=2")
    qc._no_repeats()


def test_an_unknown_parameter_is_named_with_what_is_taken(request_to: Any) -> None:
    request_to("/collections/c/items?limt=1")
    error = refusal(qc._no_unknown, {"limit", "f"})
    assert error.en == "unknown parameter limt; this operation takes: f, limit"
    assert error.pl == "nieznany parametr limt; ta operacja przyjmuje: f, limit"


@pytest.mark.parametrize("value", ["", "a", "-1", "1.5", "1e3", " 1", "0x10", "1" * 101, "٣"])
def test_an_integer_parameter_is_plain_digits(value: str) -> None:
    error = refusal(qc._integer, "limit", value, 0)
    assert error.status == 400 and error.code == "InvalidParameterValue"


def test_an_integer_parameter_has_its_bounds() -> None:
    assert qc._integer("limit", "007", 1) == 7
    assert "at least 1" in refusal(qc._integer, "limit", "0", 1).en
    assert qc._integer("offset", str(qc.BIGINT_MAX), 0, qc.BIGINT_MAX) == qc.BIGINT_MAX
    error = refusal(qc._integer, "offset", str(qc.BIGINT_MAX + 1), 0, qc.BIGINT_MAX)
    assert error.en == f"offset must be at most {qc.BIGINT_MAX}"


@pytest.mark.parametrize(
    "value", ["14,49,24,55", "14,49,0,24,55,100", "-180,-90,180,90", "14.1,49.0,14.1,49.0"]
)
def test_a_good_bbox(value: str) -> None:
    qc._bbox(value, None)
    qc._bbox(value, CRS84_URI)


@pytest.mark.parametrize(
    ("value", "english"),
    [
        ("14,49,24", "4 or 6"),
        ("14,49,24,55,1", "4 or 6"),
        ("a,b,c,d", "4 or 6"),
        ("14,49,24,inf", "4 or 6"),
        ("14,nan,24,55", "4 or 6"),
        ("14,55,24,49", "lower corner"),
        ("14,49,1,24,55,0", "lower corner"),
        ("-181,49,24,55", "CRS84"),
        ("14,49,24,91", "CRS84"),
    ],
)
def test_a_bad_bbox(value: str, english: str) -> None:
    assert english in refusal(qc._bbox, value, None).en


def test_a_bbox_in_another_crs_is_not_held_to_degrees() -> None:
    qc._bbox("566000,244000,567000,245000", EPSG_2180_URI)
    refusal(qc._bbox, "566000,245000,567000,244000", EPSG_2180_URI)


def test_crs_names_sortby_properties_and_booleans() -> None:
    qc._crs("crs", EPSG_2180_URI, [CRS84_URI, EPSG_2180_URI])
    assert "EPSG:2180" in refusal(qc._crs, "bbox-crs", "EPSG:2180", [CRS84_URI]).en
    qc._names("sortby", "-status,+reference, category", {"status", "reference", "category"}, True)
    assert refusal(qc._names, "properties", "-status", {"status"}, False).en == (
        "properties: unknown property '-status'"
    )
    for value in ("true", "FALSE", " True "):
        qc._boolean("skipGeometry", value)
    for value in ("1", "yes", ""):
        refusal(qc._boolean, "skipGeometry", value)


# --- datetime ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00+02:00"),
        ("2024-05-01/2024-06-01", ("2024-05-01", "2024-06-01")),
        ("../2024-06-01", (None, "2024-06-01")),
        ("2024-05-01/..", ("2024-05-01", None)),
        ("2024-05-01/", ("2024-05-01", None)),
    ],
)
def test_datetime_instants_and_intervals(value: str, parsed: Any) -> None:
    assert parse_datetime(value) == parsed


@pytest.mark.parametrize("value", ["", "..", "yesterday", "2024-13-01", "2024-05-01/x", "a/b/c"])
def test_a_bad_datetime_is_refused_in_both_languages(value: str) -> None:
    with pytest.raises(BilingualQueryError) as raised:
        parse_datetime(value)
    assert raised.value.en.startswith("datetime") and raised.value.pl.startswith("datetime")
    assert raised.value.en != raised.value.pl


# --- CQL2-JSON ---------------------------------------------------------------------------


def test_a_cql2_json_filter_is_an_object_with_op() -> None:
    for raw in (b"{", b"[1]", b'{"args": []}', b"\xff"):
        error = refusal(qc._cql2_json, raw)
        assert error.status == 400
    ok = {"op": "=", "args": [{"property": "status"}, "new"]}
    assert json.loads(qc._cql2_json(json.dumps(ok).encode())) == ok


def test_a_cql2_json_filter_too_large_is_413() -> None:
    raw = json.dumps({"op": "in", "args": ["x" * qc.MAX_FILTER_BYTES]}).encode()
    error = refusal(qc._cql2_json, raw)
    assert (error.status, error.code) == (413, "PayloadTooLarge")


def test_a_cql2_json_filter_nested_too_deep_is_refused() -> None:
    node: Any = 1
    for _ in range(qc.MAX_FILTER_DEPTH + 1):
        node = [node]
    error = refusal(qc._cql2_json, json.dumps({"op": "not", "args": node}).encode())
    assert str(qc.MAX_FILTER_DEPTH) in error.en
    assert qc._json_depth({"op": "a", "args": [[1]]}) == 4


def test_a_bbox_literal_becomes_its_polygon_and_between_the_drafts_form() -> None:
    document = {
        "op": "and",
        "args": [
            {"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [14, 49, 24, 55]}]},
            {"op": "between", "args": [{"property": "n"}, 1, 5]},
        ],
    }
    rewritten = json.loads(qc._cql2_json(json.dumps(document).encode()))
    polygon = rewritten["args"][0]["args"][1]
    assert polygon == {
        "type": "Polygon",
        "coordinates": [[[14, 49], [24, 49], [24, 55], [14, 55], [14, 49]]],
    }
    assert rewritten["args"][1]["args"] == [{"property": "n"}, [1, 5]]
    box3d = qc._bbox_literals_as_polygons({"bbox": [14, 49, 0, 24, 55, 9]})
    assert box3d["coordinates"][0][2] == [24, 55]
    refusal(qc._bbox_literals_as_polygons, {"bbox": [14, 49, True, 55]})


# --- tiles, tilesets, single items -------------------------------------------------------


def tile_match(path: str) -> re.Match[str]:
    match = qc.TILE.match(path)
    assert match is not None
    return match


def test_a_tile_inside_the_matrix_set_is_passed_on_as_mvt(request_to: Any) -> None:
    path = "/collections/reports/tiles/WebMercatorQuad/3/7/0"
    request = request_to(path + "?f=pbf")
    qc._check_tile(TILES, tile_match(path))
    assert request.args["f"] == "mvt"


@pytest.mark.parametrize(
    ("tile", "status"),
    [("3/8/0", 404), ("3/0/8", 404), ("17/0/0", 404), ("a/0/0", 400), ("3/-1/0", 400)],
)
def test_a_tile_outside_is_404_a_malformed_index_400(
    tile: str, status: int, request_to: Any
) -> None:
    path = f"/collections/reports/tiles/WebMercatorQuad/{tile}"
    request_to(path)
    assert refusal(qc._check_tile, TILES, tile_match(path)).status == status


def test_a_tile_in_another_format_or_matrix_set(request_to: Any) -> None:
    path = "/collections/reports/tiles/WebMercatorQuad/0/0/0"
    request_to(path + "?f=png")
    assert "f=mvt" in refusal(qc._check_tile, TILES, tile_match(path)).en
    path = "/collections/reports/tiles/WorldCRS84Quad/0/0/0"
    request_to(path)
    assert refusal(qc._check_tile, TILES, tile_match(path)).status == 404


def test_a_tilesets_metadata_format(request_to: Any) -> None:
    path = "/collections/reports/tiles/WebMercatorQuad/metadata"
    match = qc.TILESET.match(path)
    assert match is not None
    request = request_to(path)
    qc._check_tileset(TILES, match)
    assert request.args["f"] == "json"
    request = request_to(path + "?f=tilejson")
    qc._check_tileset(TILES, match)
    assert request.args["f"] == "tilejson"
    request_to(path + "?f=mvt")
    assert "f=json" in refusal(qc._check_tileset, TILES, match).en


def test_a_single_item_is_read_only_and_checks_its_crs(request_to: Any) -> None:
    request_to("/collections/reports/items/1", method="DELETE")
    error = refusal(qc._check_item, FEATURES)
    assert (error.status, error.headers) == (405, {"Allow": "GET, HEAD, OPTIONS"})
    request_to(f"/collections/reports/items/1?crs={EPSG_2180_URI}&skipGeometry=true")
    qc._check_item(FEATURES)
    request_to("/collections/reports/items/1?crs=EPSG:3857")
    refusal(qc._check_item, FEATURES)
    request_to("/collections/reports/items/1?limit=1")
    assert "limit" in refusal(qc._check_item, FEATURES).en


def test_the_error_answer_is_the_ogc_exception_with_both_languages(request_to: Any) -> None:
    request_to("/collections/reports/items")
    answer = QueryError("bad", "zły", 413, "PayloadTooLarge", {"Retry-After": "1"}).response()
    assert answer.status_code == 413 and answer.headers["Retry-After"] == "1"
    assert answer.get_json() == {
        "code": "PayloadTooLarge",
        "type": "PayloadTooLarge",
        "description": "bad",
        "message": {"pl": "zły", "en": "bad"},
    }


def test_pygeoapis_own_refusals_get_their_polish() -> None:
    assert qc.polish_for("Collection not found") == "Nie ma takiej kolekcji"
    assert qc.polish_for("something pygeoapi says one day") == "Błędne zapytanie"
