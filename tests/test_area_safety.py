"""Process area-safety over HTTP: the powiat's crime rates against the national average,
the process description, and bad input answered with 400 (never 500). The counts of
threats, which need reports written, are in test_web_area_safety_counts.py."""

from __future__ import annotations

import pytest
import requests

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny: gmina 1261011, powiat 1261


def run(api: str, inputs: object, raw: bytes | None = None) -> requests.Response:
    return requests.post(
        f"{api}/processes/area-safety/execution",
        json=None if raw is not None else {"inputs": inputs},
        data=raw,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


def test_crime_rates_of_the_powiat_against_the_country(api: str) -> None:
    crime = run(api, KRAKOW).json()["crime"]
    assert crime["powiat"] == {"teryt": "1261", "name": "powiat Kraków"}
    assert crime["latest_year"] == 2024
    assert [y["year"] for y in crime["years"]] == list(range(2013, 2025))
    latest = crime["years"][-1]
    assert latest == {
        "year": 2024,
        "rate_per_10k": 254.6,
        "national_rate_per_10k": 205.7,
        "count": 20601,
    }
    assert crime["ratio_to_national"] == 1.24
    by_category = {c["category"]: c for c in crime["latest_by_category"]}
    assert by_category["total"]["ratio_to_national"] == 1.24
    assert by_category["traffic"]["name"]["pl"].startswith("przeciwko bezpieczeństwu")


def test_process_description_is_published(api: str) -> None:
    description = requests.get(f"{api}/processes/area-safety?f=json", timeout=30).json()
    assert description["id"] == "area-safety"
    assert set(description["inputs"]) == {"lon", "lat", "radius", "teryt"}
    assert description["title"] in ("Czy w mojej okolicy jest bezpiecznie?", "Is my area safe?")


BAD_INPUTS = [
    ({}, "location"),
    ({"lon": 19.9}, "lat"),
    ({"lat": 50.0}, "lon"),
    ({"lon": "19.9", "lat": 50.0}, "lon"),
    ({"lon": True, "lat": 50.0}, "lon"),
    ({"lon": 19.9, "lat": 95}, "lat"),
    ({"lon": 200, "lat": 50}, "lon"),
    ({**KRAKOW, "radius": 5}, "radius"),
    ({**KRAKOW, "radius": 50_000}, "radius"),
    ({**KRAKOW, "radius": "1km"}, "radius"),
    ({"lon": 13.40, "lat": 52.52}, "location"),  # Berlin
    ({"lon": -78.87, "lat": 0.0}, "location"),  # far away: PostGIS cannot project it to 2180
    ({"lon": 180, "lat": -45}, "location"),
    ({"lon": 0, "lat": 0}, "location"),
    ({"teryt": "12"}, "teryt"),
    ({"teryt": 1261}, "teryt"),
    ({"teryt": "126101"}, "teryt"),
    ({"teryt": "9999"}, "teryt"),  # well formed, no such powiat
    ({"teryt": "12"}, "teryt"),
    ({"teryt": "1261011", **KRAKOW}, "teryt"),
    ({"teryt": "1261", "radius": 1000}, "radius"),
    ({**KRAKOW, "colour": "red"}, "inputs"),
]


@pytest.mark.parametrize(("inputs", "field"), BAD_INPUTS)
def test_bad_input_gets_400_with_polish_and_english(api: str, inputs: dict, field: str) -> None:
    answer = run(api, inputs)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "InvalidParameterValue"
    assert "Zapytanie zawiera błędy." in body["message"]["pl"]
    assert "The request has errors." == body["description"] == body["message"]["en"]
    errors = {e["field"]: e for e in body["errors"]}
    assert field in errors
    assert (
        errors[field]["pl"] and errors[field]["en"] and errors[field]["pl"] != errors[field]["en"]
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"inputs": [1, 2]}',
        b'{"inputs": {"lon": NaN, "lat": 50.0}}',
        b'{"inputs": {"lon": Infinity, "lat": 50.0}}',
        b"[]",
    ],
)
def test_malformed_bodies_get_400_never_500(api: str, raw: bytes) -> None:
    answer = run(api, None, raw=raw)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"]
