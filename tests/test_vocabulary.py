"""The vocabulary is defined once, in the database; every copy is read from it.

GET /vocabulary against the tables; the process descriptions' enums and limits;
the built QGIS project's colours and names; the palette under simulated colour
blindness; and a migration-like change that reaches every reader.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import psycopg
import requests
from psycopg.rows import dict_row

from conftest import running_app
from kmzb.domain import vocabulary
from kmzb.settings import PROJECT_ROOT
from test_wms import count_near, decode_png

# ---- the palette under colour-vision deficiency -----------------------------------
# Machado, Oliveira & Fernandes 2009, "A Physiologically-based Model for Simulation of
# Color Vision Deficiency", severity 1.0, applied to linear RGB.
MACHADO_2009 = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
    "typical": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
# CIE76 distance in CIELAB below which two map symbols are too alike to tell apart
# at a glance (about 2.3 is "just noticeable"; 15 leaves a wide margin).
MIN_DISTANCE = 15.0
# WCAG 2.1 non-text contrast (1.4.11): a pictogram on its disc needs 3:1.
MIN_GLYPH_CONTRAST = 3.0


def linear(hex_colour: str) -> tuple[float, float, float]:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return channel(r), channel(g), channel(b)


def simulate(rgb: tuple[float, float, float], matrix) -> tuple[float, float, float]:
    r, g, b = (
        min(1.0, max(0.0, row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2])) for row in matrix
    )
    return r, g, b


def cielab(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    r, g, b = rgb
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def relative_luminance(hex_colour: str) -> float:
    r, g, b = linear(hex_colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def closest_pair(colours: dict[str, str]) -> tuple[float, str, str, str]:
    """The two statuses that look most alike, under which vision, and how far apart."""
    return min(
        (
            math.dist(
                cielab(simulate(linear(colours[a]), m)), cielab(simulate(linear(colours[b]), m))
            ),
            vision,
            a,
            b,
        )
        for vision, m in MACHADO_2009.items()
        for a, b in itertools.combinations(colours, 2)
    )


def test_the_simulation_really_merges_what_colour_blind_readers_confuse() -> None:
    """The check can fail: red and green, far apart to typical vision, nearly merge
    under deuteranopia, and the palette's test would catch such a pair."""
    red_green = {"a": "#D62728", "b": "#2CA02C"}
    typical = math.dist(cielab(linear("#D62728")), cielab(linear("#2CA02C")))
    assert typical > 60
    distance, vision, _a, _b = closest_pair(red_green)
    assert distance < MIN_DISTANCE and vision in ("protanopia", "deuteranopia")


def test_status_colours_stay_apart_under_colour_blindness(conn: psycopg.Connection) -> None:
    colours = dict(conn.execute("SELECT code, colour FROM kmzb.statuses").fetchall())
    assert len(colours) >= 7
    distance, vision, a, b = closest_pair(colours)
    assert distance >= MIN_DISTANCE, f"{a} and {b} look alike under {vision} ({distance:.1f})"


def test_pictograms_contrast_with_their_discs(conn: psycopg.Connection) -> None:
    for code, fill, glyph in conn.execute("SELECT code, colour, text_colour FROM kmzb.statuses"):
        assert contrast(fill, glyph) >= MIN_GLYPH_CONTRAST, code


# ---- GET /vocabulary ---------------------------------------------------------------


def tables(conn: psycopg.Connection) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        statuses = cur.execute(
            """SELECT s.*, p.is_public, p.public_for FROM kmzb.statuses s
               LEFT JOIN kmzb.visibility_policy p ON p.status = s.code ORDER BY sort_order"""
        ).fetchall()
        transitions = cur.execute(
            "SELECT from_status, to_status FROM kmzb.status_transitions"
        ).fetchall()
        categories = cur.execute(
            "SELECT * FROM kmzb.threat_categories ORDER BY sort_order"
        ).fetchall()
        times = cur.execute("SELECT * FROM kmzb.times_of_day ORDER BY sort_order").fetchall()
        limits = cur.execute("SELECT * FROM kmzb.limits").fetchone()
        groups = cur.execute("SELECT * FROM kmzb.category_groups ORDER BY sort_order").fetchall()
    return {
        "statuses": statuses,
        "transitions": {(t["from_status"], t["to_status"]) for t in transitions},
        "categories": categories,
        "times": times,
        "limits": limits,
        "groups": groups,
    }


def test_vocabulary_is_the_tables(api: str, conn: psycopg.Connection) -> None:
    answer = requests.get(f"{api}/vocabulary", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    body = answer.json()
    assert set(body) == {"statuses", "categories", "times_of_day", "limits", "groups"}
    data = tables(conn)

    assert [s["code"] for s in body["statuses"]] == [s["code"] for s in data["statuses"]]
    for served, row in zip(body["statuses"], data["statuses"], strict=True):
        assert served["name"] == {"pl": row["name_pl"], "en": row["name_en"]}
        assert (served["colour"], served["outline"], served["text_colour"]) == (
            row["colour"],
            row["outline"],
            row["text_colour"],
        )
        assert served["is_initial"] is row["is_initial"]
        assert served["is_open"] is row["is_open"]
        assert served["is_confirmed"] is row["is_confirmed"]
        assert served["is_public"] is bool(row["is_public"])
        days = row["public_for"].days if row["public_for"] is not None else None
        assert served["public_for_days"] == days
        assert served["sort_order"] == row["sort_order"]
        assert served["open311_status"] == row["open311_status"]
    served_transitions = {(s["code"], to) for s in body["statuses"] for to in s["next"]}
    assert served_transitions == data["transitions"]

    assert len(body["categories"]) == len(data["categories"]) == 24
    for served, row in zip(body["categories"], data["categories"], strict=True):
        assert served == {
            "code": row["code"],
            "name": {"pl": row["name_pl"], "en": row["name_en"]},
            "pictogram": row["pictogram"],
            "description_required": row["description_required"],
            "public_rule": row["public_rule"],
            "sort_order": row["sort_order"],
            "group": row["group_code"],
        }
    assert body["groups"] == [
        {"code": g["code"], "name": {"pl": g["name_pl"], "en": g["name_en"]}}
        for g in data["groups"]
    ]
    assert body["times_of_day"] == [
        {"code": t["code"], "name": {"pl": t["name_pl"], "en": t["name_en"]}} for t in data["times"]
    ]
    limits = dict(data["limits"])
    limits.pop("one_row")
    assert body["limits"] == limits


def test_vocabulary_answers_304_to_its_etag(api: str) -> None:
    first = requests.get(f"{api}/vocabulary", timeout=30)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = requests.get(f"{api}/vocabulary", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    other = requests.get(f"{api}/vocabulary", headers={"If-None-Match": '"other"'}, timeout=30)
    assert other.status_code == 200 and other.json() == first.json()


def test_read_matches_the_served_shape(conn: psycopg.Connection, api: str) -> None:
    """The domain reader and the endpoint give one document (the endpoint is the reader)."""
    assert requests.get(f"{api}/vocabulary", timeout=30).json() == vocabulary.read(conn).as_json()


# ---- the process descriptions --------------------------------------------------------


def process_inputs(api: str, process: str) -> dict:
    answer = requests.get(f"{api}/processes/{process}", params={"f": "json"}, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["inputs"]


def execute_inputs(api: str, process: str) -> dict:
    """The inputs of the execute body the OpenAPI document declares for a process."""
    document = requests.get(f"{api}/openapi", params={"f": "json"}, timeout=60).json()
    operation = document["paths"][f"/processes/{process}/execution"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema["properties"]["inputs"]["properties"]


def test_process_descriptions_are_the_vocabulary(api: str, conn: psycopg.Connection) -> None:
    data = tables(conn)
    limits = data["limits"]
    categories = [c["code"] for c in data["categories"]]
    times = [t["code"] for t in data["times"]]
    targets = {to for _from, to in data["transitions"]}

    submit = process_inputs(api, "submit-threat")
    assert submit["category"]["schema"]["enum"] == categories
    assert submit["time_of_day"]["schema"]["enum"] == times
    assert submit["description"]["schema"]["maxLength"] == limits["description_max_chars"]
    assert str(limits["description_max_chars"]) in submit["description"]["description"]
    assert submit["attachments"]["schema"]["maxItems"] == limits["attachments_max_count"]
    review = process_inputs(api, "review-threat")
    assert set(review["status"]["schema"]["enum"]) == targets

    body = execute_inputs(api, "submit-threat")
    assert body["category"]["enum"] == categories
    assert body["time_of_day"]["enum"] == times
    assert body["description"]["maxLength"] == limits["description_max_chars"]
    assert body["attachments"]["maxItems"] == limits["attachments_max_count"]
    assert set(execute_inputs(api, "review-threat")["status"]["enum"]) == targets


def test_the_schema_checks_agree_with_the_limits(conn: psycopg.Connection) -> None:
    """The table constraints that guard stored reports say what kmzb.limits says."""
    limits = tables(conn)["limits"]

    def checks(table: str) -> str:
        rows = conn.execute(
            """SELECT pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = %s::regclass AND contype = 'c'""",
            (table,),
        ).fetchall()
        return "\n".join(r[0] for r in rows)

    reports = checks("kmzb.reports")
    assert f"char_length(description) <= {limits['description_max_chars']}" in reports
    assert limits["reference_pattern"] in reports
    attachments = checks("kmzb.report_attachments")
    assert f"(size_bytes <= {limits['attachment_max_bytes']})" in attachments
    for media_type in limits["attachment_media_types"]:
        assert f"'{media_type}'::text" in attachments
    units = checks("kmzb.territorial_units")
    assert limits["teryt_gmina_pattern"] in units


# ---- the police view ---------------------------------------------------------------

KRAKOW = {"lon": 19.9383, "lat": 50.0614}


def officer_token(settings) -> str:
    from kmzb.auth import tokens

    return tokens.issue(settings, "officer", "test-vocabulary", unit="KMP-1261")


def submit(api: str, **inputs) -> dict:
    from helpers import new_address

    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_parking", **inputs}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()


def test_police_view_names_the_allowed_transitions(
    api: str, settings, conn: psycopg.Connection
) -> None:
    reference = submit(api)["reference"]
    officer = officer_token(settings)
    seen = requests.get(
        f"{api}/police/reports/{reference}",
        headers={"Authorization": f"Bearer {officer}"},
        timeout=30,
    )
    assert seen.status_code == 200, seen.text[:300]
    expected = conn.execute(
        """SELECT t.to_status, s.name_pl, s.name_en FROM kmzb.status_transitions t
           JOIN kmzb.statuses s ON s.code = t.to_status
           WHERE t.from_status = 'new' ORDER BY s.sort_order"""
    ).fetchall()
    assert seen.json()["allowed_transitions"] == [
        {"code": code, "name": {"pl": pl, "en": en}} for code, pl, en in expected
    ]
    assert expected, "a new report can move on"


def test_submission_limits_come_from_the_database(api: str, conn: psycopg.Connection) -> None:
    limit = tables(conn)["limits"]["description_max_chars"]
    too_long = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={
            "inputs": {**KRAKOW, "category": "illegal_parking", "description": "x" * (limit + 1)}
        },
        timeout=60,
    )
    assert too_long.status_code == 400
    assert str(limit) in too_long.text
    assert submit(api, description="y" * limit)["reference"]


# ---- the WMS project ---------------------------------------------------------------

STATUS_RULE = re.compile(r"^\"status\" = '([a-z_]+)'$")
CATEGORY_RULE = re.compile(r"^\"category\" = '([a-z_]+)'$")
GLYPH_CASE = re.compile(r"WHEN \"status\" = '([a-z_]+)' THEN '(#[0-9A-Fa-f]{6})'")


def rgb_hex(value: str) -> str:
    r, g, b = (int(part) for part in value.split(",")[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


def project_styles(path: Path) -> dict[str, dict]:
    """Per threat layer of a .qgs: each status rule's label, fill, outline and pictogram
    colour, and each category rule's label and SVG file."""
    layers: dict[str, dict] = {}
    for layer in ElementTree.parse(path).iter("maplayer"):
        short_name = layer.findtext("shortname")
        renderer = layer.find("renderer-v2")
        if short_name not in ("zagrozenia_punkty", "zgloszenia_jednostki") or renderer is None:
            continue
        symbols = {s.get("name"): s for s in renderer.find("symbols").findall("symbol")}
        statuses, categories = {}, {}
        for rule in renderer.find("rules").iter("rule"):
            filter_ = rule.get("filter") or ""
            if match := STATUS_RULE.match(filter_):
                marker = symbols[rule.get("symbol")].find("layer")
                props = {p.get("k"): p.get("v") for p in marker.findall("prop")}
                statuses[match.group(1)] = {
                    "label": rule.get("label"),
                    "colour": rgb_hex(props["color"]),
                    "outline": rgb_hex(props["outline_color"]),
                }
            elif match := CATEGORY_RULE.match(filter_):
                marker = symbols[rule.get("symbol")].find("layer")
                props = {p.get("k"): p.get("v") for p in marker.findall("prop")}
                values = " ".join(v for e in marker.iter() for v in e.attrib.values())
                glyphs = dict(GLYPH_CASE.findall(values))
                categories[match.group(1)] = {
                    "label": rule.get("label"),
                    "svg": props["name"],
                    "glyphs": {code: colour.upper() for code, colour in glyphs.items()},
                }
        layers[short_name] = {"statuses": statuses, "categories": categories}
    return layers


def assert_project_is_the_vocabulary(path: Path, conn: psycopg.Connection) -> None:
    data = tables(conn)
    layers = project_styles(path)
    assert set(layers) == {"zagrozenia_punkty", "zgloszenia_jednostki"}
    public = {s["code"] for s in data["statuses"] if s["is_public"]}
    assert set(layers["zagrozenia_punkty"]["statuses"]) == public
    assert set(layers["zgloszenia_jednostki"]["statuses"]) == {s["code"] for s in data["statuses"]}
    for layer in layers.values():
        for status in data["statuses"]:
            drawn = layer["statuses"].get(status["code"])
            if drawn is None:
                continue
            assert drawn == {
                "label": status["name_pl"],
                "colour": status["colour"],
                "outline": status["outline"],
            }, status["code"]
        for category in data["categories"]:
            drawn = layer["categories"].get(category["code"])
            if drawn is None:
                assert category["public_rule"] == "never"
                continue
            assert drawn["label"] == category["name_pl"]
            assert drawn["svg"].endswith(f"/{category['pictogram']}.svg")
            assert drawn["glyphs"] == {s["code"]: s["text_colour"] for s in data["statuses"]}


def test_the_committed_wms_project_is_the_vocabulary(conn: psycopg.Connection) -> None:
    assert_project_is_the_vocabulary(PROJECT_ROOT / "qgis_projects" / "kmzb_public.qgs", conn)


def build_project(server, db_url: str, output: Path) -> None:
    """scripts/build_qgis_project.py run against this test's database, into `output`."""
    from kmzb import qgis_launcher
    from kmzb.db import connection

    folder = output.parent
    service = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(db_url)
    )
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(folder),
        "XDG_RUNTIME_DIR": str(runtime),
        "QT_QPA_PLATFORM": "offscreen",
        "PGSERVICEFILE": str(service),
    }
    run = subprocess.run(
        [
            "/usr/bin/python3",
            str(PROJECT_ROOT / "scripts" / "build_qgis_project.py"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


RENDER_SIZE = 128


def render(
    server, db_url: str, project: Path, centre: tuple[float, float], folder: Path
) -> list[bytearray]:
    """GetMap of the public threat layer, 400 m around `centre` (EPSG:2180), from
    qgis_mapserver serving `project` on this test's database; the PNG's RGBA rows."""
    from conftest import free_port
    from kmzb import qgis_launcher
    from kmzb.db import connection

    service = qgis_launcher.write_service_file(
        server, folder / "pg_service.conf", connection.database_name(db_url)
    )
    port = free_port()
    process = qgis_launcher.start(
        service, port, runtime_dir=folder / "server", log=folder / "server.log", project=project
    )
    base = f"http://127.0.0.1:{port}"
    try:
        qgis_launcher.wait_until_ready(process, base, 60)
        e, n = centre
        answer = requests.get(
            base,
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetMap",
                "LAYERS": "zagrozenia_punkty",
                "STYLES": "",
                "CRS": "EPSG:2180",
                # EPSG:2180 in WMS 1.3.0: northing first
                "BBOX": f"{n - 200},{e - 200},{n + 200},{e + 200}",
                "WIDTH": RENDER_SIZE,
                "HEIGHT": RENDER_SIZE,
                "FORMAT": "image/png",
                "TRANSPARENT": "TRUE",
            },
            timeout=60,
        )
    finally:
        qgis_launcher.stop(process)
    assert answer.headers["Content-Type"] == "image/png", answer.text[:300]
    return decode_png(answer.content)[2]


# ---- done when: one migration changes every reader ----------------------------------

OWN_SPOT = {"lon": 19.9507, "lat": 50.0528}  # Kraków, Kazimierz: no other test reports here
CHANGE = {
    "colour": "#009E73",
    "outline": "#004D38",
    "text_colour": "#FFFFFF",
    "name_pl": "Sprawdzane na miejscu",
    "name_en": "Being checked on site",
}


def test_one_migration_changes_every_reader(
    api: str, db_url: str, server, settings, tmp_path: Path
) -> None:
    """A migration-like UPDATE of one status's colour and names reaches GET /vocabulary,
    the process description, the status lookup, the police view and the WMS project
    built from the database, with no other edit."""
    # a report in 'verification', made and moved through the API, on a spot of its own
    created = submit(api, **OWN_SPOT)
    officer = officer_token(settings)
    moved = requests.post(
        f"{api}/processes/review-threat/execution",
        json={
            "inputs": {"reference": created["reference"], "status": "verification", "version": 1}
        },
        headers={"Authorization": f"Bearer {officer}"},
        timeout=60,
    )
    assert moved.status_code == 200, moved.text[:300]

    # an app that ran before the migration left its OpenAPI document behind
    document = tmp_path / "openapi.yml"
    with running_app(db_url, server, document) as earlier:
        assert requests.get(f"{earlier}/openapi?f=json", timeout=60).status_code == 200

    with psycopg.connect(db_url) as conn:
        before = conn.execute(
            """SELECT colour, outline, text_colour, name_pl, name_en
               FROM kmzb.statuses WHERE code = 'verification'"""
        ).fetchone()
        assert before[0] != CHANGE["colour"] and before[3] != CHANGE["name_pl"]
        conn.execute(
            """UPDATE kmzb.statuses SET colour = %(colour)s, outline = %(outline)s,
                   text_colour = %(text_colour)s, name_pl = %(name_pl)s, name_en = %(name_en)s
               WHERE code = 'verification'""",
            CHANGE,
        )
        conn.commit()
        try:
            # a migration is followed by a restart: a new app reads the new vocabulary
            with running_app(db_url, server, document) as fresh:
                # the document is rebuilt for the new vocabulary, not served stale
                openapi = requests.get(f"{fresh}/openapi?f=json", timeout=60).text
                assert CHANGE["name_en"] in openapi
                served = requests.get(f"{fresh}/vocabulary", timeout=30).json()
                status = next(s for s in served["statuses"] if s["code"] == "verification")
                assert status["name"] == {"pl": CHANGE["name_pl"], "en": CHANGE["name_en"]}
                assert (status["colour"], status["outline"], status["text_colour"]) == (
                    CHANGE["colour"],
                    CHANGE["outline"],
                    CHANGE["text_colour"],
                )
                review = process_inputs(fresh, "review-threat")
                assert CHANGE["name_en"] in review["status"]["description"]
                lookup = requests.get(f"{fresh}/reports/{created['reference']}", timeout=30)
                assert lookup.json()["status_name"] == {
                    "pl": CHANGE["name_pl"],
                    "en": CHANGE["name_en"],
                }
                police = requests.get(
                    f"{fresh}/police/reports/{created['reference']}",
                    headers={"Authorization": f"Bearer {officer}"},
                    timeout=30,
                ).json()
                assert police["status_name"]["pl"] == CHANGE["name_pl"]
            # the WMS project built from that database draws and names it so
            built = tmp_path / "qgis" / "kmzb_public.qgs"
            built.parent.mkdir()
            build_project(server, db_url, built)
            assert_project_is_the_vocabulary(built, conn)
            drawn = project_styles(built)["zagrozenia_punkty"]["statuses"]["verification"]
            assert drawn == {
                "label": CHANGE["name_pl"],
                "colour": CHANGE["colour"],
                "outline": CHANGE["outline"],
            }
            # ...and a real QGIS Server serving that project draws the report in it
            easting, northing = conn.execute(
                "SELECT ST_X(geom), ST_Y(geom) FROM kmzb.reports WHERE public_ref = %s",
                (created["reference"],),
            ).fetchone()
            rows = render(server, db_url, built, (easting, northing), built.parent)
            green = tuple(int(CHANGE["colour"][i : i + 2], 16) for i in (1, 3, 5))
            old = tuple(int(before[0][i : i + 2], 16) for i in (1, 3, 5))
            centre = (RENDER_SIZE // 2, RENDER_SIZE // 2)
            assert count_near(rows, centre, green) >= 12
            assert count_near(rows, centre, old) == 0
            # the launcher (`kmzb run`, the tests' WMS) builds the public project from the
            # database it serves: the same change, with no step but the restart
            launched = tmp_path / "launched"
            launched.mkdir()
            from kmzb import qgis_launcher

            served = render(
                server, db_url, qgis_launcher.PROJECT_FILE, (easting, northing), launched
            )
            assert count_near(served, centre, green) >= 12
        finally:
            conn.execute(
                """UPDATE kmzb.statuses SET colour = %s, outline = %s, text_colour = %s,
                       name_pl = %s, name_en = %s WHERE code = 'verification'""",
                before,
            )
            conn.commit()


# ---- the demo loader -----------------------------------------------------------------


def test_demo_draws_follow_the_database(conn: psycopg.Connection) -> None:
    """The demo loader's categories are the database's and each status is reached by
    transitions the database allows, from its initial status."""
    from kmzb.loaders.demo import choice_rows

    data = tables(conn)
    rows = choice_rows(vocabulary.read(conn))
    drawn_categories = [code for kind, code, *_ in rows if kind == "category"]
    assert drawn_categories == [c["code"] for c in data["categories"]]
    paths = {code: path for kind, code, _f, _t, path in rows if kind == "status"}
    assert set(paths) == {s["code"] for s in data["statuses"]}
    initial = next(s["code"] for s in data["statuses"] if s["is_initial"])
    for code, path in paths.items():
        assert path[0] == initial and path[-1] == code
        assert all(step in data["transitions"] for step in itertools.pairwise(path)), path
    for kind in ("category", "status"):
        cumulative = [(f, t) for k, _c, f, t, _p in rows if k == kind]
        assert cumulative[0][0] == 0.0 and cumulative[-1][1] == 1.0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cumulative))


def test_a_refused_transition_names_the_allowed_ones(
    api: str, settings, conn: psycopg.Connection
) -> None:
    reference = submit(api)["reference"]
    refused = requests.post(
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": reference, "status": "eliminated", "version": 1}},
        headers={"Authorization": f"Bearer {officer_token(settings)}"},
        timeout=60,
    )
    assert refused.status_code == 400, refused.text[:300]
    error = next(e for e in refused.json()["errors"] if e["field"] == "status")
    names = dict(conn.execute("SELECT code, name_en FROM kmzb.statuses").fetchall())
    assert names["new"] in error["en"] and names["eliminated"] in error["en"]
    for to in conn.execute(
        "SELECT to_status FROM kmzb.status_transitions WHERE from_status = 'new'"
    ):
        assert names[to[0]] in error["en"].split("allowed:")[1]
    assert "dozwolona zmiana" in error["pl"]
    # nothing changed
    assert conn.execute(
        "SELECT status, version FROM kmzb.reports WHERE public_ref = %s", (reference,)
    ).fetchone() == ("new", 1)
