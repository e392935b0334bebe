"""Process area-safety over HTTP: counts of public threats near a point and in a gmina or
powiat, by category and period; hidden categories never counted.

These tests write reports, so they live in a file that runs after the tests that
expect an empty reports table (test_constraints); the rest is in test_area_safety.py.
"""

from __future__ import annotations

import psycopg
import pytest
import requests

from helpers import new_address

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny: gmina 1261011, powiat 1261


def run(api: str, inputs: object) -> requests.Response:
    return requests.post(
        f"{api}/processes/area-safety/execution", json={"inputs": inputs}, timeout=60
    )


def submit(api: str, **inputs) -> str:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


@pytest.fixture(scope="module")
def reports(api: str, db_url: str) -> dict[str, str]:
    """Public and hidden reports near the Rynek, one of them reported 200 days ago."""
    near = {"lon": 19.9390, "lat": 50.0620}
    refs = {
        "dumping": submit(api, **near, category="illegal_dumping"),
        "dumping_old": submit(api, **near, category="illegal_dumping"),
        "speeding": submit(api, **near, category="speeding"),
        "cruelty": submit(api, **near, category="animal_cruelty"),  # never public
    }
    with psycopg.connect(db_url) as conn:
        # an old report, as the demo loader writes them (created_at never changes)
        conn.execute(
            """INSERT INTO kmzb.reports (public_ref, category, geom, status, police_unit,
                                         gmina_teryt, created_at)
               SELECT 'AREA-OLD2-REPT', category, geom, 'new', police_unit, gmina_teryt,
                      now() - interval '200 days'
               FROM kmzb.reports WHERE public_ref = %s""",
            (refs["dumping_old"],),
        )
    return refs


def counts(summary: dict) -> dict[str, tuple[int, int, int]]:
    return {
        c["category"]: (c["last_30_days"], c["last_90_days"], c["last_365_days"])
        for c in summary["threats"]["by_category"]
    }


def test_point_and_radius(api: str, reports: dict[str, str]) -> None:
    answer = run(api, {**KRAKOW, "radius": 500})
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["area"] == {
        "kind": "circle",
        **KRAKOW,
        "radius_m": 500,
        "gmina": {"teryt": "1261011", "name": "Kraków"},
        "powiat": {"teryt": "1261", "name": "powiat Kraków"},
    }
    by_category = counts(summary)
    assert by_category["illegal_dumping"][0] >= 2  # the two reported today
    assert by_category["illegal_dumping"][2] >= by_category["illegal_dumping"][1] + 1  # 200 days
    assert "speeding" in by_category
    assert "animal_cruelty" not in by_category  # never on the public map, never counted
    total = summary["threats"]["total"]
    assert total["last_30_days"] <= total["last_90_days"] <= total["last_365_days"]
    assert total["last_365_days"] == sum(c[2] for c in by_category.values())
    names = {c["category"]: c["name"] for c in summary["threats"]["by_category"]}
    assert names["illegal_dumping"] == {
        "pl": "Dzikie wysypiska śmieci",
        "en": "Illegal rubbish dumps",
    }

    # a report 4 km away counts only with a radius that reaches it
    before = {r: counts(run(api, {**KRAKOW, "radius": r}).json()) for r in (500, 5000)}
    submit(api, lon=19.9700, lat=50.0900, category="speeding")
    after = {r: counts(run(api, {**KRAKOW, "radius": r}).json()) for r in (500, 5000)}
    assert after[500]["speeding"] == before[500]["speeding"]
    assert after[5000]["speeding"][0] == before[5000]["speeding"][0] + 1


def test_gmina_and_powiat_by_teryt(api: str, reports: dict[str, str]) -> None:
    gmina = run(api, {"teryt": "1261011"}).json()
    assert gmina["area"]["kind"] == "gmina" and gmina["area"]["name"] == "Kraków"
    assert gmina["area"]["powiat"] == {"teryt": "1261", "name": "powiat Kraków"}
    west, south, east, north = gmina["area"]["bbox"]
    assert west < KRAKOW["lon"] < east and south < KRAKOW["lat"] < north
    in_gmina = counts(gmina)
    assert in_gmina["illegal_dumping"][0] >= 2 and in_gmina["speeding"][0] >= 2
    assert "animal_cruelty" not in in_gmina

    powiat = run(api, {"teryt": "1261"}).json()
    assert powiat["area"]["kind"] == "powiat" and powiat["area"]["gmina"] is None
    assert counts(powiat) == in_gmina  # the city is one gmina and one powiat
    assert powiat["crime"]["powiat"]["teryt"] == "1261"

    rural = run(api, {"teryt": "1206"}).json()  # powiat krakowski: its own statistics
    assert rural["crime"]["powiat"] == {"teryt": "1206", "name": "powiat krakowski"}
    # other tests report in powiat krakowski too: a report in the city must not change it
    submit(api, lon=19.9390, lat=50.0620, category="illegal_dumping")
    assert counts(run(api, {"teryt": "1206"}).json()) == counts(rural)
    assert counts(run(api, {"teryt": "1261011"}).json())["illegal_dumping"][0] == (
        in_gmina["illegal_dumping"][0] + 1
    )
