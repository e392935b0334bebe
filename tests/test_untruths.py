"""The small untruths a new user finds following the README (issue 11, deliverable 7).

Through HTTP against the real app under gunicorn, its /wms pointed at the real
QGIS Server (qgis_mapserver with the project and the access plugin):
- one auth rule everywhere: no token or a bad one 401 (with the Bearer challenge),
  a valid token with the wrong role or unit 403, in the WMS too, in Polish and English;
- GetCapabilities through /wms advertises /wms, and OWSLib's own URLs work;
- bilingual answers say `Content-Language: pl, en`;
- reads that fail say what is true ("no report with the reference ..."), never
  "nothing was stored";
- what the README says of the dimension's name and the zoom of single reports holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import yaml
from owslib.wms import WebMapService

from conftest import running_app
from helpers import new_address, token_for
from kmzb.settings import PROJECT_ROOT, Settings

KRAKOW = {"lon": 19.9383, "lat": 50.0614}  # KMP-1261
UNIT = "KMP-1261"
OTHER_UNIT = "KMP-1263"  # Tarnów
PARTNER_INSTITUTION = "ZDMK"
BOX = (564000.0, 242000.0, 568000.0, 246000.0)  # Kraków's centre, EPSG:2180
STORED = ("nothing was stored", "nic nie zapisano")
README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def app(db_url: str, server: Settings, wms: str, tmp_path_factory) -> Iterator[str]:
    """The app under gunicorn with /wms forwarding to the real QGIS Server."""
    openapi = tmp_path_factory.mktemp("openapi-untruths") / "openapi.yml"
    with running_app(db_url, server, openapi, {"KMZB_WMS_URL": f"{wms}/ows/"}) as base:
        yield base


def forged(settings: Settings) -> str:
    head, payload, signature = token_for("admin").split(".")
    return f"{head}.{payload}.{signature[::-1]}"


@pytest.fixture(scope="module")
def reference(app: str) -> str:
    """A citizen's report in Kraków (unit KMP-1261), with one attachment."""
    answer = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={
            "inputs": {
                **KRAKOW,
                "category": "illegal_dumping",
                "attachments": [
                    {
                        "name": "x.pdf",
                        "content": "JVBERi0xLjQKJcOkw7zDtsOfCg==",
                        "type": "application/pdf",
                    }
                ],
            }
        },
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["reference"]


# --- 1. the auth rule everywhere ------------------------------------------------------

# (name, method, path, JSON body, the valid token whose role or unit may not do it)
PROTECTED = [
    ("queue", "GET", "/police/queue", None, ("partner",)),
    ("queue-other-unit", "GET", f"/police/queue?unit={UNIT}", None, ("officer", OTHER_UNIT)),
    ("police-report", "GET", "/police/reports/{ref}", None, ("officer", OTHER_UNIT)),
    ("police-report-partner", "GET", "/police/reports/{ref}", None, ("partner",)),
    ("attachment", "GET", "/police/reports/{ref}/attachments/1", None, ("officer", OTHER_UNIT)),
    ("forwarded", "GET", "/partner/forwarded", None, ("officer", UNIT)),
    ("institutions", "GET", "/institutions", None, ("partner",)),
    ("access-log", "GET", "/admin/access-log", None, ("coordinator", UNIT)),
    (
        "review",
        "POST",
        "/processes/review-threat/execution",
        {"reference": "{ref}", "status": "verification", "version": 1},
        ("officer", OTHER_UNIT),
    ),
    (
        "review-partner",
        "POST",
        "/processes/review-threat/execution",
        {"reference": "{ref}", "status": "verification", "version": 1},
        ("partner",),
    ),
    (
        "submit-as-police",
        "POST",
        "/processes/submit-threat/execution",
        {**KRAKOW, "category": "speeding", "source": "police"},
        ("partner",),
    ),
    (
        "submit-as-partner",
        "POST",
        "/processes/submit-threat/execution",
        {**KRAKOW, "category": "speeding", "source": "partner"},
        ("officer", UNIT),
    ),
]
WMS_POLICE_LAYER = {
    "SERVICE": "WMS",
    "VERSION": "1.3.0",
    "REQUEST": "GetMap",
    "LAYERS": "zgloszenia_jednostki",
    "STYLES": "",
    "CRS": "EPSG:2180",
    "BBOX": f"{BOX[1]},{BOX[0]},{BOX[3]},{BOX[2]}",
    "WIDTH": 64,
    "HEIGHT": 64,
    "FORMAT": "image/png",
}


def _wrong_token(settings: Settings, wrong: tuple[str, ...]) -> str:
    role = wrong[0]
    if role == "partner":
        return token_for("partner", institution=PARTNER_INSTITUTION)
    return token_for(role, wrong[1])


def _call(app: str, method: str, path: str, body, headers: dict, ref: str) -> requests.Response:
    url = app + path.replace("{ref}", ref)
    headers = {"X-Forwarded-For": new_address(), **headers}
    if method == "GET":
        return requests.get(url, headers=headers, timeout=60)
    inputs = {k: (v.replace("{ref}", ref) if isinstance(v, str) else v) for k, v in body.items()}
    return requests.post(url, json={"inputs": inputs}, headers=headers, timeout=60)


def _bilingual(text: str) -> bool:
    """Both languages: a Polish letter or word beside English words."""
    polish = re.search(r"[ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]|\b(wymaga|tokenu|Zaloguj|jednostki|może)\b", text)
    english = re.search(r"\b(needs|token|the|only|Sign in|you|You|this|not)\b", text)
    return bool(polish and english)


@pytest.mark.parametrize("case", ["none", "bad", "wrong-role"])
@pytest.mark.parametrize("route", PROTECTED, ids=[r[0] for r in PROTECTED])
def test_protected_routes_401_without_or_with_a_bad_token_403_for_a_wrong_role(
    app: str, settings: Settings, reference: str, route, case: str
) -> None:
    _name, method, path, body, wrong = route
    headers = {
        "none": {},
        "bad": {"Authorization": f"Bearer {forged(settings)}"},
        "wrong-role": {"Authorization": f"Bearer {_wrong_token(settings, wrong)}"},
    }[case]
    answer = _call(app, method, path, body, headers, reference)
    expected = 403 if case == "wrong-role" else 401
    assert answer.status_code == expected, (case, answer.status_code, answer.text[:400])
    if expected == 401:
        assert answer.headers.get("WWW-Authenticate") == 'Bearer realm="kmzb"'
    else:
        assert "WWW-Authenticate" not in answer.headers
    assert answer.headers["Content-Type"].startswith("application/json")
    message = answer.json()["message"]
    assert answer.json()["description"] == message["en"], answer.text
    assert _bilingual(f"{message['en']} / {message['pl']}"), answer.text
    assert answer.headers["Content-Language"] == "pl, en"


def test_the_allowed_token_still_passes(app: str, settings: Settings, reference: str) -> None:
    """The rule refuses only what it should: the right role and unit get 200."""
    officer = {"Authorization": f"Bearer {token_for('officer', UNIT)}"}
    assert requests.get(f"{app}/police/reports/{reference}", headers=officer, timeout=60).ok
    assert requests.get(f"{app}/police/queue", headers=officer, timeout=60).ok
    partner = {"Authorization": f"Bearer {token_for('partner', institution=PARTNER_INSTITUTION)}"}
    assert requests.get(f"{app}/partner/forwarded", headers=partner, timeout=60).ok
    admin = {"Authorization": f"Bearer {token_for('admin')}"}
    assert requests.get(f"{app}/admin/access-log", headers=admin, timeout=60).ok


@pytest.mark.parametrize("where", ["proxy", "qgis-server"])
@pytest.mark.parametrize("case", ["none", "bad", "wrong-role"])
def test_wms_police_layer_401_or_403_in_polish_and_english(
    app: str, wms: str, settings: Settings, where: str, case: str
) -> None:
    url = f"{app}/wms" if where == "proxy" else f"{wms}/ows/"
    headers = {
        "none": {},
        "bad": {"Authorization": f"Bearer {forged(settings)}"},
        "wrong-role": {"Authorization": f"Bearer {token_for('partner', institution='ZDMK')}"},
    }[case]
    answer = requests.get(url, params=WMS_POLICE_LAYER, headers=headers, timeout=60)
    expected = 403 if case == "wrong-role" else 401
    assert answer.status_code == expected, (where, case, answer.status_code, answer.text[:400])
    assert "image/png" not in answer.headers["Content-Type"]
    assert "You are not allowed to access to the layer" not in answer.text
    assert _bilingual(answer.text), answer.text
    assert answer.headers.get("Content-Language") == "pl, en"
    if expected == 401:
        assert answer.headers.get("WWW-Authenticate") == 'Bearer realm="kmzb"'
    if case != "bad":
        assert "<ServiceException" in answer.text  # an OGC exception report
    elif where == "qgis-server":  # QGIS Server's own report of a refused request
        assert "<ServerException>" in answer.text
    # (through /wms the app itself refuses a bad token, in its JSON)
    # the other requests that name the layer follow the same rule
    for request in ("GetLegendGraphic", "GetFeatureInfo"):
        params = {
            **WMS_POLICE_LAYER,
            "REQUEST": request,
            "LAYER": "zgloszenia_jednostki",
            "QUERY_LAYERS": "zgloszenia_jednostki",
            "INFO_FORMAT": "application/json",
            "I": 32,
            "J": 32,
        }
        other = requests.get(url, params=params, headers=headers, timeout=60)
        assert other.status_code == expected, (request, other.status_code, other.text[:400])


def test_wms_police_token_still_draws_the_layer(app: str, settings: Settings) -> None:
    officer = {"Authorization": f"Bearer {token_for('officer', UNIT)}"}
    answer = requests.get(f"{app}/wms", params=WMS_POLICE_LAYER, headers=officer, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"


# --- 2. GetCapabilities through /wms advertises /wms ---------------------------------


def test_capabilities_through_the_proxy_advertise_the_proxy(app: str, wms: str) -> None:
    raw = requests.get(
        f"{app}/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        timeout=60,
    )
    assert raw.status_code == 200
    qgis_port = wms.rsplit(":", 1)[1]
    hrefs = re.findall(r'xlink:href="([^"]*)"', raw.text)
    assert hrefs and all(f":{qgis_port}" not in href for href in hrefs), hrefs[:5]
    legends = [h for h in hrefs if "GetLegendGraphic" in h]
    assert legends and all(h.startswith(f"{app}/wms") for h in legends), legends[:3]

    service = WebMapService(f"{app}/wms", version="1.3.0")
    for operation in service.operations:
        for method in operation.methods:
            assert method["url"].startswith(f"{app}/wms"), (operation.name, method["url"])
    # a GetMap through OWSLib's own URL (the advertised one) is drawn by QGIS Server
    picture = service.getmap(
        layers=["zagrozenia"],
        styles=[""],
        srs="EPSG:2180",
        bbox=(BOX[1], BOX[0], BOX[3], BOX[2]),
        size=(64, 64),
        format="image/png",
    )
    assert picture.geturl().startswith(f"{app}/wms")
    assert picture.read()[:8] == b"\x89PNG\r\n\x1a\n"


# --- 3. Content-Language of bilingual answers ----------------------------------------


def test_bilingual_answers_say_pl_en(app: str, settings: Settings, reference: str) -> None:
    looked_up = requests.get(f"{app}/reports/{reference}", timeout=60)
    assert looked_up.status_code == 200 and looked_up.headers["Content-Language"] == "pl, en"
    assert set(looked_up.json()["status_name"]) == {"pl", "en"}
    missing = requests.get(f"{app}/reports/AAAA-BBBB-CCCC", timeout=60)
    assert missing.status_code == 404 and missing.headers["Content-Language"] == "pl, en"

    submitted = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "speeding"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert submitted.status_code in (200, 201), submitted.text
    assert submitted.headers["Content-Language"] == "pl, en"
    refused = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {"lon": 0.0, "lat": 0.0, "category": "speeding"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert refused.status_code == 400 and refused.headers["Content-Language"] == "pl, en"
    officer = {"Authorization": f"Bearer {token_for('officer', UNIT)}"}
    queue = requests.get(f"{app}/police/queue", headers=officer, timeout=60)
    assert queue.headers["Content-Language"] == "pl, en"


# --- 4. reads that fail say what is true ---------------------------------------------


def _says_nothing_of_storing(answer: requests.Response) -> None:
    text = answer.text.lower()
    assert not any(phrase in text for phrase in STORED), answer.text


def test_read_errors_say_what_is_true(app: str, settings: Settings) -> None:
    missing = requests.get(f"{app}/reports/AAAA-BBBB-CCCC", timeout=60)
    assert missing.status_code == 404
    _says_nothing_of_storing(missing)
    body = missing.json()
    assert "No report with the reference AAAA-BBBB-CCCC" in body["description"]
    assert "Nie ma zgłoszenia o numerze AAAA-BBBB-CCCC" in body["message"]["pl"]

    malformed = requests.get(f"{app}/reports/not-a-reference", timeout=60)
    assert malformed.status_code == 400
    _says_nothing_of_storing(malformed)
    assert malformed.json()["errors"][0]["field"] == "reference"

    officer = {"Authorization": f"Bearer {token_for('officer', UNIT)}"}
    for query in ("from=notadate", "status=nosuch", "limit=x", "held=maybe"):
        answer = requests.get(f"{app}/police/queue?{query}", headers=officer, timeout=60)
        assert answer.status_code == 400, (query, answer.text)
        _says_nothing_of_storing(answer)
    unknown = requests.get(f"{app}/police/reports/AAAA-BBBB-CCCC", headers=officer, timeout=60)
    assert unknown.status_code == 404
    _says_nothing_of_storing(unknown)

    admin = {"Authorization": f"Bearer {token_for('admin')}"}
    log = requests.get(f"{app}/admin/access-log?from=yesterday", headers=admin, timeout=60)
    assert log.status_code == 400
    _says_nothing_of_storing(log)
    places = requests.get(f"{app}/places?q=x", timeout=60)
    assert places.status_code == 400
    _says_nothing_of_storing(places)


def test_refused_writes_still_say_nothing_was_stored(app: str) -> None:
    """The phrase stays where it is true: a refused submission."""
    refused = requests.post(
        f"{app}/processes/submit-threat/execution",
        json={"inputs": {"lon": 0.0, "lat": 0.0, "category": "speeding"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=60,
    )
    assert refused.status_code == 400
    assert "nothing was stored" in refused.text and "nic nie zapisano" in refused.text


# --- 5. what the README says holds ---------------------------------------------------


def test_readme_dimension_is_the_one_getcapabilities_names(app: str) -> None:
    capabilities = requests.get(
        f"{app}/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        timeout=60,
    ).text
    names = set(re.findall(r'<Dimension[^>]*\bname="([^"]+)"', capabilities))
    assert len(names) == 1, names
    (name,) = names
    assert f"WMS dimension **`{name}`**" in README
    assert f"DIM_{name.upper()}=" in README  # WMS 1.3.0: DIM_<name>, the name case-blind
    # no other spelling of it anywhere in the README
    others = {m for m in re.findall(r"`(ROK|Rok|rok)`", README)} - {name}
    assert not others, others
    # the README's DIM_ request picks the year: two years draw two different maps
    box = {"CRS": "EPSG:2180", "BBOX": "120000,140000,860000,880000", "WIDTH": 128, "HEIGHT": 128}
    pictures = {
        year: requests.get(
            f"{app}/wms",
            params={
                "SERVICE": "WMS",
                "VERSION": "1.3.0",
                "REQUEST": "GetMap",
                "LAYERS": "przestepczosc_powiaty",
                "STYLES": "",
                "FORMAT": "image/png",
                f"DIM_{name.upper()}": year,
                **box,
            },
            timeout=60,
        ).content
        for year in ("2013", "2024")
    }
    assert pictures["2013"][:4] == b"\x89PNG" and pictures["2013"] != pictures["2024"]


def _readme_number(pattern: str) -> int:
    found = re.search(pattern, README)
    assert found, pattern
    return int(found.group(1).replace(",", ""))


def test_readme_zoom_of_single_reports_holds(app: str) -> None:
    """Tiles: points from tile zoom `detail_zoom`; the web page: from view zoom
    DETAIL_ZOOM (its 512-px tiles of zoom z are drawn at view zoom z + 1); the WMS:
    below the points layer's scale denominator. The README names each number."""
    config = yaml.safe_load((PROJECT_ROOT / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    providers = config["resources"]["threats"]["providers"]
    detail_zoom = next(p for p in providers if p["type"] == "tile")["options"]["detail_zoom"]
    assert _readme_number(r"Below tile zoom (\d+) a `threats` tile") == detail_zoom
    assert _readme_number(r"From tile zoom (\d+) on") == detail_zoom

    map_js = (PROJECT_ROOT / "web" / "src" / "map.js").read_text(encoding="utf-8")
    web_zoom = int(re.search(r"(?:export )?const DETAIL_ZOOM = (\d+);", map_js).group(1))
    tile_size = int(re.search(r"const TILE_SIZE = (\d+);", map_js).group(1))
    assert web_zoom == detail_zoom + (tile_size // 256).bit_length() - 1
    assert _readme_number(r"grid of counts below zoom (\d+)") == web_zoom
    assert _readme_number(r"single reports coloured by status from (\d+)") == web_zoom
    assert _readme_number(r"view zoom (\d+) of the web page") == web_zoom

    # the WMS: the points layer's scale, as GetCapabilities says it
    capabilities = requests.get(
        f"{app}/wms",
        params={"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"},
        timeout=60,
    ).text
    layer = re.search(
        r"<Name>zagrozenia_punkty</Name>.*?<MaxScaleDenominator>([\d.]+)</MaxScaleDenominator>",
        capabilities,
        re.S,
    )
    assert layer, "zagrozenia_punkty has no MaxScaleDenominator"
    scale = round(float(layer.group(1)))
    assert _readme_number(r"`zagrozenia_punkty` at scales larger than 1:([\d,]+)") == scale


def _shell_lines() -> list[str]:
    """The lines of the README's ```sh blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [line for block in blocks for line in block.splitlines()]


def test_readme_assigns_tokens_and_references_before_use() -> None:
    """Every $NAME a README command uses is assigned in an earlier line (or earlier on
    its own line); the environment's settings (KMZB_*, DATABASE_URL, PG*) excepted."""
    assigned: set[str] = {"PWD", "HOME", "PATH"}
    for line in _shell_lines():
        for used in re.findall(r"\$\{?([A-Z][A-Z_0-9]*)\}?", line):
            if used in assigned or re.match(r"KMZB_|DATABASE_URL|PG|XDG_", used):
                continue
            before = line.split("$" + used)[0].split("${" + used)[0]
            assert re.search(rf"\b{used}=", before), f"${used} used before it is set: {line}"
        assigned.update(re.findall(r"(?:^|[\s;(])([A-Z][A-Z_0-9]*)=", line))


def test_readme_has_no_sample_reference_a_reader_must_replace() -> None:
    """References in commands come from a command (REF=$(...)), not a sample that
    exists on nobody's database; dates in commands from `date`."""
    for line in _shell_lines():
        if line.lstrip().startswith("#"):
            continue  # an answer shown as a comment
        assert not re.search(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b", line), line
        assert not re.search(r"(from|to)=20\d\d-\d\d-\d\d", line), line
        assert not re.search(r'"event_date": ?"20\d\d', line), line


def test_readme_says_the_threats_layer_is_empty_until_reports_arrive() -> None:
    assert "empty until" in README and "kmzb load demo" in README
    cli = (PROJECT_ROOT / "plugins" / "kmzb" / "cli.py").read_text(encoding="utf-8")
    assert '"demo"' in cli or "'demo'" in cli


def test_readme_names_every_file_of_the_data_folder() -> None:
    """The README's list of the data folder is data/README.md's, and the files exist."""
    data_readme = (PROJECT_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    shipped = re.findall(r"^\| ([\w/.-]+\.gz) \|", data_readme, re.M)
    assert len(shipped) >= 8, shipped
    for name in shipped:
        assert (PROJECT_ROOT / "data" / name).is_file(), name
        assert f"`{name.removesuffix('.gz')}`" in README, name


def test_a_path_no_route_takes_is_a_bilingual_json_404(api: str) -> None:
    for path in ("/no/such/route", "/police/reports/AAAA-BBBB-CCCC/attachments/x"):
        answer = requests.get(f"{api}{path}", timeout=30)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"].startswith("application/json"), path
        body = answer.json()
        assert body["code"] == "NotFound"
        assert "Nie ma takiego zasobu" in body["message"]["pl"]
        assert "no such resource" in body["description"]
