"""Citizen reports and police review through HTTP against the running app, real tokens."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time

import jwt
import psycopg
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import new_address, token_for
from kmzb.auth import tokens
from kmzb.settings import Settings

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # Rynek Główny, KMP Kraków
WROCLAW = {"lon": 17.0320, "lat": 51.1100}  # KMP Wrocław


def submit(
    api: str,
    inputs: dict,
    address: str | None = None,
    token: str | None = None,
    raw_body: bytes | None = None,
) -> requests.Response:
    headers = {"X-Forwarded-For": address or new_address(), "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{api}/processes/submit-threat/execution",
        json=None if raw_body is not None else {"inputs": inputs},
        data=raw_body,
        headers=headers,
        timeout=60,
    )


def review(api: str, token: str | None, **inputs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": inputs},
        headers=headers,
        timeout=60,
    )


def count_reports(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]


def test_the_life_of_reports_through_every_status(api, db_url) -> None:
    officer = token_for("officer", "KMP-1261")
    coordinator = token_for("coordinator", "KMP-1261")
    partner = token_for("partner", institution="ZZM-KRAKOW")
    paths = {
        "eliminated": ["verification", "confirmed", "eliminated"],
        "forwarded": ["verification", "confirmed", "forwarded"],
        "unconfirmed": ["verification", "unconfirmed"],
        "joke_or_mistake": ["verification", "joke_or_mistake"],
    }
    for final, path in paths.items():
        answer = submit(
            api,
            {
                **KRAKOW,
                "category": "destruction_of_greenery",
                "description": f"Połamane drzewka ({final})",
                "event_date": "2026-11-01",
                "time_of_day": "night",
            },
        )
        assert answer.status_code == 200, answer.text
        created = answer.json()
        assert created["police_unit"] == "KMP-1261"
        assert created["police_unit_name"] == "Komenda Miejska Policji w Krakowie"
        assert created["status"] == "new" and "112" in created["notice"]["pl"]
        ref = created["reference"]
        status = requests.get(created["status_url"], timeout=30).json()
        assert status["status"] == "new" and status["category"] == "destruction_of_greenery"
        # other tests of the session report in Kraków too: the queue (oldest first, 100 a
        # page) is asked for this category in full, not for its first page of everything
        queue = requests.get(
            f"{api}/police/queue",
            params={"status": "new", "category": "destruction_of_greenery", "limit": 1000},
            headers={"Authorization": f"Bearer {coordinator}"},
            timeout=30,
        )
        assert ref in [r["reference"] for r in queue.json()["reports"]]

        version = 1
        for step in path:
            extra = {"forwarded_to": "ZZM-KRAKOW"} if step == "forwarded" else {}
            answer = review(
                api,
                officer,
                reference=ref,
                status=step,
                version=version,
                note=f"krok {step}",
                note_public=step != "verification",
                **extra,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == step
            version = answer.json()["version"]
            assert version == path.index(step) + 2

        public = requests.get(f"{api}/reports/{ref}", timeout=30).json()
        assert public["status"] == final
        assert [h["to"] for h in public["history"]] == ["new", *path]
        notes = [h.get("note") for h in public["history"]]
        assert "krok verification" not in notes  # internal note hidden from the public
        assert f"krok {final}" in notes  # a note marked public is shown
        assert "reporter_hash" not in public and "actor" not in str(public["history"])
        police = requests.get(
            f"{api}/police/reports/{ref}",
            headers={"Authorization": f"Bearer {officer}"},
            timeout=30,
        ).json()
        assert "krok verification" in [h.get("note") for h in police["history"]]
        assert police["history"][-1]["actor"] == "officer:test-officer"
        assert police["history"][-1]["actor_unit"] == "KMP-1261"

        with psycopg.connect(db_url) as conn:
            on_map = conn.execute(
                "SELECT 1 FROM kmzb.public_threats WHERE id = %s", (ref,)
            ).fetchone()
        assert (on_map is not None) == (final != "joke_or_mistake")
        if final == "forwarded":
            seen = requests.get(
                f"{api}/partner/forwarded",
                headers={"Authorization": f"Bearer {partner}"},
                timeout=30,
            )
            assert ref in [r["reference"] for r in seen.json()["reports"]]
        closed = review(api, officer, reference=ref, status="new", version=version)
        assert closed.status_code == 400  # no way back


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


BAD_INPUTS = [
    ({**KRAKOW, "category": "other"}, "category"),
    ({"lon": 13.4050, "lat": 52.5200, "category": "vandalism"}, "location"),  # Berlin
    ({"lon": -78.87, "lat": 0.0, "category": "vandalism"}, "location"),  # beyond EPSG:2180
    ({"lon": 179.9, "lat": -60.0, "category": "vandalism"}, "location"),
    ({"lon": 19.9, "lat": 123.0, "category": "vandalism"}, "location"),
    ({"lon": "19.9", "lat": 50.0, "category": "vandalism"}, "location"),
    ({"x": 566000, "y": 244000, "category": "vandalism"}, "crs"),
    ({"x": 566000, "y": 244000, "crs": "EPSG:3857", "category": "vandalism"}, "crs"),
    ({**KRAKOW, "crs": "EPSG:2180", "category": "vandalism"}, "crs"),
    ({**KRAKOW, "category": "vandalism", "description": "x" * 501}, "description"),
    ({**KRAKOW, "category": "dangerous_entertainment"}, "description"),
    ({**KRAKOW, "category": "vandalism", "event_date": "2999-01-01"}, "event_date"),
    ({**KRAKOW, "category": "vandalism", "event_date": "wczoraj"}, "event_date"),
    ({**KRAKOW, "category": "vandalism", "time_of_day": "noon"}, "time_of_day"),
    ({**KRAKOW, "category": "vandalism", "colour": "red"}, "colour"),
    (
        {
            **KRAKOW,
            "category": "vandalism",
            "attachments": [
                {"name": "big.jpg", "content": b64(JPEG + b"\x00" * (5 * 1024 * 1024))}
            ],
        },
        "attachments[1]",
    ),
    (
        {
            **KRAKOW,
            "category": "vandalism",
            "attachments": [
                {"name": "photo.jpg", "content": b64(b"#!/bin/sh\necho not a photo\n")}
            ],
        },
        "attachments[1]",
    ),
    (
        {**KRAKOW, "category": "vandalism", "attachments": [{"name": "a.jpg", "content": "%%%"}]},
        "attachments[1]",
    ),
    (
        {
            **KRAKOW,
            "category": "vandalism",
            "attachments": [{"name": f"{i}.jpg", "content": b64(JPEG)} for i in range(4)],
        },
        "attachments",
    ),
]


@pytest.mark.parametrize(("inputs", "field"), BAD_INPUTS)
def test_bad_input_is_a_400_per_field_and_stores_nothing(api, db_url, inputs, field) -> None:
    before = count_reports(db_url)
    answer = submit(api, inputs)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    fields = {e["field"]: e for e in body["errors"]}
    assert field in fields
    assert (
        fields[field]["pl"] and fields[field]["en"] and fields[field]["pl"] != fields[field]["en"]
    )
    assert "112" in body["notice"]["pl"] and "112" in body["notice"]["en"]
    assert "Traceback" not in answer.text
    assert count_reports(db_url) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"inputs": 5}', b""])
def test_malformed_json_is_a_400(api, db_url, body) -> None:
    before = count_reports(db_url)
    answer = submit(api, {}, raw_body=body)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "body"
    assert count_reports(db_url) == before


def test_coordinates_in_puwg_1992_are_accepted(api) -> None:
    # Kraków's Rynek in EPSG:2180: x (easting) 566 300, y (northing) 244 100
    answer = submit(api, {"x": 566300, "y": 244100, "crs": "EPSG:2180", "category": "vandalism"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["police_unit"] == "KMP-1261"


def test_attachments_are_kept_for_the_police_of_the_unit_only(api) -> None:
    answer = submit(
        api,
        {
            **WROCLAW,
            "category": "illegal_dumping",
            "attachments": [
                {"name": "zdjecie.jpg", "content": b64(JPEG)},
                {"name": "notatka.pdf", "content": b64(PDF)},
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    ref = answer.json()["reference"]
    assert answer.json()["attachments"] == 2
    officer = token_for("officer", "KMP-0264")
    details = requests.get(
        f"{api}/police/reports/{ref}", headers={"Authorization": f"Bearer {officer}"}, timeout=30
    ).json()
    kinds = {a["name"]: a["media_type"] for a in details["attachments"]}
    assert kinds == {"zdjecie.jpg": "image/jpeg", "notatka.pdf": "application/pdf"}
    first = details["attachments"][0]["id"]
    url = f"{api}/police/reports/{ref}/attachments/{first}"
    got = requests.get(url, headers={"Authorization": f"Bearer {officer}"}, timeout=30)
    assert got.status_code == 200 and got.content == JPEG
    assert requests.get(url, timeout=30).status_code == 401
    stranger = token_for("officer", "KMP-1261")
    other = requests.get(url, headers={"Authorization": f"Bearer {stranger}"}, timeout=30)
    assert other.status_code == 403
    assert "attachments" not in requests.get(f"{api}/reports/{ref}", timeout=30).json()


def test_daily_limit_per_reporter(api, db_url) -> None:
    address = new_address()
    first = submit(api, {**KRAKOW, "category": "begging"}, address=address)
    assert first.status_code == 200
    before = count_reports(db_url)
    second = submit(api, {**KRAKOW, "category": "begging"}, address=address)
    assert second.status_code == 429
    assert 0 < int(second.headers["Retry-After"]) <= 86400
    assert "Dzienny limit" in second.json()["message"]["pl"]
    assert "daily limit" in second.json()["description"]
    assert count_reports(db_url) == before
    # another reporter is not affected
    assert submit(api, {**KRAKOW, "category": "begging"}).status_code == 200


def test_partner_and_police_sources_need_their_role(api) -> None:
    # no token: 401 (a valid token with another role: 403, below)
    assert submit(api, {**KRAKOW, "category": "begging", "source": "partner"}).status_code == 401
    partner = token_for("partner", institution="UM-KRAKOW")
    address = new_address()
    for _ in range(2):  # consultation threats are not under the citizens' daily limit
        answer = submit(
            api,
            {**KRAKOW, "category": "begging", "source": "partner"},
            address=address,
            token=partner,
        )
        assert answer.status_code == 200, answer.text
    officer = token_for("officer", "KMP-1261")
    answer = submit(api, {**KRAKOW, "category": "speeding", "source": "police"}, token=officer)
    assert answer.status_code == 200


def _new_report(api: str) -> str:
    answer = submit(api, {**KRAKOW, "category": "illegal_parking"})
    assert answer.status_code == 200, answer.text
    return answer.json()["reference"]


def test_review_of_another_units_report_is_forbidden(api, db_url) -> None:
    ref = _new_report(api)
    wroclaw = token_for("officer", "KMP-0264")
    answer = review(api, wroclaw, reference=ref, status="verification", version=1)
    assert answer.status_code == 403
    lower_silesia = token_for("coordinator", "KWP-02")
    assert (
        review(api, lower_silesia, reference=ref, status="verification", version=1).status_code
        == 403
    )
    lesser_poland = token_for("coordinator", "KWP-12")  # the KWP above KMP Kraków
    assert (
        review(api, lesser_poland, reference=ref, status="verification", version=1).status_code
        == 200
    )
    partner = token_for("partner", institution="UM-KRAKOW")
    assert review(api, partner, reference=ref, status="confirmed", version=2).status_code == 403
    assert review(api, None, reference=ref, status="confirmed", version=2).status_code == 401


def _forged(settings: Settings) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = int(time.time())
    return jwt.encode(
        {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": "x",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "role": "admin",
        },
        pem,
        algorithm="ES256",
    )


@pytest.mark.parametrize("flaw", ["expired", "forged", "issuer", "audience", "future", "none"])
def test_bad_tokens_are_401(api, settings, flaw) -> None:
    ref = _new_report(api)
    if flaw == "expired":
        token = token_for("officer", "KMP-1261", ttl_seconds=-300)
    elif flaw == "forged":
        token = _forged(settings)
    elif flaw == "issuer":
        token = tokens.issue(
            dataclasses.replace(settings, jwt_issuer="https://evil.example"),
            "officer",
            "x",
            unit="KMP-1261",
        )
    elif flaw == "audience":
        token = tokens.issue(
            dataclasses.replace(settings, jwt_audience="someone-else"),
            "officer",
            "x",
            unit="KMP-1261",
        )
    elif flaw == "future":
        claims = jwt.decode(token_for("officer", "KMP-1261"), options={"verify_signature": False})
        claims["nbf"] = int(time.time()) + 3600
        token = jwt.encode(claims, tokens.PRIVATE_KEY.read_bytes(), algorithm="ES256")
    else:
        claims = jwt.decode(token_for("admin"), options={"verify_signature": False})
        token = jwt.encode(claims, None, algorithm="none")
    answer = review(api, token, reference=ref, status="verification", version=1)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    queue = requests.get(
        f"{api}/police/queue", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert queue.status_code == 401
    status = requests.get(f"{api}/reports/{ref}", timeout=30).json()
    assert status["status"] == "new"  # nothing changed


def test_two_reviews_at_once_exactly_one_wins(api, db_url) -> None:
    ref = _new_report(api)
    officers = [token_for("officer", "KMP-1261"), token_for("coordinator", "KMP-1261")]
    start = threading.Barrier(len(officers))
    answers: list[requests.Response] = []

    def act(token: str) -> None:
        start.wait()
        answers.append(review(api, token, reference=ref, status="verification", version=1))

    threads = [threading.Thread(target=act, args=(t,)) for t in officers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    with psycopg.connect(db_url) as conn:
        changes = conn.execute(
            """SELECT count(*) FROM kmzb.report_status_history h JOIN kmzb.reports r
               ON r.id = h.report_id WHERE r.public_ref = %s AND h.to_status = 'verification'""",
            (ref,),
        ).fetchone()[0]
    assert changes == 1


def test_every_accepted_submission_is_stored(api, db_url) -> None:
    before = count_reports(db_url)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def one() -> None:
        answer = submit(api, {**KRAKOW, "category": "stray_dogs"})
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = {a.json()["reference"] for a in answers if a.status_code == 200}
    assert len(accepted) == 24
    with psycopg.connect(db_url) as conn:
        stored = {
            r[0]
            for r in conn.execute(
                "SELECT public_ref FROM kmzb.reports WHERE public_ref = ANY(%s)", (list(accepted),)
            )
        }
    assert stored == accepted and count_reports(db_url) == before + 24


def test_queue_oldest_first_with_overdue_flag_and_filters(api, db_url) -> None:
    old, fresh = _new_report(api), _new_report(api)
    with psycopg.connect(db_url) as conn:
        # move the clock: the first report came in four days ago
        conn.execute("SET session_replication_role = replica")  # skip the immutability trigger
        conn.execute(
            "UPDATE kmzb.reports SET created_at = now() - interval '4 days' WHERE public_ref = %s",
            (old,),
        )
    coordinator = token_for("coordinator", "KMP-1261")
    headers = {"Authorization": f"Bearer {coordinator}"}
    queue = requests.get(
        f"{api}/police/queue", params={"category": "illegal_parking"}, headers=headers, timeout=30
    ).json()["reports"]
    refs = [r["reference"] for r in queue]
    assert refs.index(old) < refs.index(fresh)
    flags = {r["reference"]: r["overdue"] for r in queue}
    assert flags[old] is True and flags[fresh] is False
    overdue = requests.get(
        f"{api}/police/queue",
        params={"overdue": "true", "category": "illegal_parking"},
        headers=headers,
        timeout=30,
    ).json()["reports"]
    assert old in [r["reference"] for r in overdue] and fresh not in [
        r["reference"] for r in overdue
    ]
    today = time.strftime("%Y-%m-%d")
    recent = requests.get(
        f"{api}/police/queue",
        # (other tests of the session report in Kraków today too: a page of 100 is not all)
        params={"from": today, "status": "new", "category": "illegal_parking"},
        headers=headers,
        timeout=30,
    ).json()["reports"]
    assert fresh in [r["reference"] for r in recent] and old not in [r["reference"] for r in recent]
    bad = requests.get(
        f"{api}/police/queue", params={"from": "yesterday"}, headers=headers, timeout=30
    )
    assert bad.status_code == 400
    kwp = token_for("coordinator", "KWP-12")
    wide = requests.get(
        f"{api}/police/queue",
        params={"category": "illegal_parking"},
        headers={"Authorization": f"Bearer {kwp}"},
        timeout=30,
    ).json()
    assert old in [r["reference"] for r in wide["reports"]] and "KMP-1261" in wide["units"]
    outsider = token_for("officer", "KMP-0264")
    assert (
        requests.get(
            f"{api}/police/queue",
            params={"unit": "KMP-1261"},
            headers={"Authorization": f"Bearer {outsider}"},
            timeout=30,
        ).status_code
        == 403
    )


def test_unknown_reference_is_404_and_bad_one_400(api) -> None:
    assert requests.get(f"{api}/reports/AAAA-BBBB-CCCC", timeout=30).status_code == 404
    assert requests.get(f"{api}/reports/nonsense", timeout=30).status_code == 400


def test_no_other_write_path_is_open(api) -> None:
    admin = token_for("admin")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = requests.request(
            method,
            f"{api}/collections/gminy/items/1261011",
            headers={"Authorization": f"Bearer {admin}"},
            json={},
            timeout=30,
        )
        assert answer.status_code == 405


def test_processes_through_owslib(api) -> None:
    from owslib.ogcapi.processes import Processes

    citizen = Processes(api, headers={"X-Forwarded-For": new_address()})
    ids = {p["id"] for p in citizen.processes()}
    assert {"submit-threat", "review-threat"} <= ids
    result = citizen.execute("submit-threat", {**KRAKOW, "category": "poaching"}, response="raw")
    ref = result["reference"]
    assert result["police_unit"] == "KMP-1261"
    officer = Processes(
        api, headers={"Authorization": f"Bearer {token_for('officer', 'KMP-1261')}"}
    )
    reviewed = officer.execute(
        "review-threat", {"reference": ref, "status": "verification", "version": 1}, response="raw"
    )
    assert reviewed["status"] == "verification" and reviewed["version"] == 2
    officer.headers.pop("Authorization", None)  # OWSLib shares its header dict between clients


def test_public_threats_collection_follows_the_review(api) -> None:
    officer = token_for("officer", "KMP-1261")
    confirmed, joke = _new_report(api), _new_report(api)
    for ref, last in ((confirmed, "confirmed"), (joke, "joke_or_mistake")):
        assert review(api, officer, reference=ref, status="verification", version=1).ok
        assert review(api, officer, reference=ref, status=last, version=2).ok
    url = f"{api}/collections/threats/items"
    shown = requests.get(f"{url}/{confirmed}", params={"f": "json"}, timeout=30)
    assert shown.status_code == 200
    properties = shown.json()["properties"]
    assert properties["status"] == "confirmed" and properties["police_unit"] == "KMP-1261"
    assert not {"reporter_hash", "note", "actor"} & set(properties)
    assert requests.get(f"{url}/{joke}", params={"f": "json"}, timeout=30).status_code == 404
