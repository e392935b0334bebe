"""The one seam to pygeoapi (kmzb.service.pygeoapi_adapter) and the error bodies.

- Every patch of pygeoapi's internals is in the adapter, guarded: the guard passes
  the pinned pygeoapi, names the patch when a version or a function under it
  changes, and the app refuses to start then (exit 4, one line).
- No module but the adapter uses flask.g or assigns into a pygeoapi module.
- The app is our own Flask app with pygeoapi's blueprint mounted: pygeoapi's
  pages, static files and error answers still work on it.
- Every JSON error answer keeps the OGC `code` and `description` (English) and
  carries `message: {pl, en}`: processes, collections, query checks, routes.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pygeoapi
import pytest
import requests

from helpers import new_address
from kmzb.service import pygeoapi_adapter
from kmzb.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "plugins" / "kmzb"
ADAPTER = PACKAGE / "service" / "pygeoapi_adapter.py"
KRAKOW = {"lon": 19.9383, "lat": 50.0614}


# --- the guard ------------------------------------------------------------------------


def test_the_guard_passes_the_pinned_pygeoapi() -> None:
    pinned = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = " ".join(pinned["project"]["dependencies"])
    assert f"pygeoapi=={pygeoapi.__version__}" in dependencies.replace(" ", "")
    assert pygeoapi.__version__ in pygeoapi_adapter.SUPPORTED_VERSIONS
    assert pygeoapi_adapter.guard_problems(pygeoapi.__version__) == []


@pytest.mark.parametrize("version", ["0.24.1", "0.25.0", "1.0.0"])
def test_the_guard_refuses_another_pygeoapi_version(version: str) -> None:
    problems = pygeoapi_adapter.guard_problems(version)
    assert len(problems) == 1 and version in problems[0] and "0.24.0" in problems[0]


def test_every_patch_target_and_every_function_it_relies_on_exists() -> None:
    assert {p.name for p in pygeoapi_adapter.PATCHES} >= {
        "identity-bbox-transform",
        "result-type-alias",
        "request-query",
        "plugin-locale",
        "tilematrixset-templates",
        "error-answers",
        "csv-formatter",
        "conformance-classes",
        "keyset-next-link",
        "pubsub-no-message",
    }
    for patch in pygeoapi_adapter.PATCHES:
        pygeoapi_adapter.resolve(patch.target)
        assert patch.relies_on, patch.name
        for path in patch.relies_on:
            assert path in pygeoapi_adapter.FINGERPRINTS, (patch.name, path)
            assert pygeoapi_adapter.fingerprint(path) == pygeoapi_adapter.FINGERPRINTS[path]


@pytest.mark.parametrize("patch", pygeoapi_adapter.PATCHES, ids=lambda p: p.name)
def test_a_changed_function_under_a_patch_is_refused_by_name(patch) -> None:
    changed = {**pygeoapi_adapter.FINGERPRINTS, patch.relies_on[0]: "0" * 16}
    problems = pygeoapi_adapter.guard_problems(pygeoapi.__version__, fingerprints=changed)
    assert problems and all(patch.relies_on[0] in p for p in problems), problems
    assert any(f"patch {patch.name}:" in p and "has changed" in p for p in problems)


def test_a_target_pygeoapi_no_longer_has_is_refused() -> None:
    gone = dataclasses.replace(pygeoapi_adapter.PATCHES[0], target="pygeoapi.api:API.no_such")
    problems = pygeoapi_adapter.guard_problems(pygeoapi.__version__, patches=(gone,))
    assert problems == [f"patch {gone.name}: pygeoapi has no pygeoapi.api:API.no_such"]


def test_a_patch_keeps_the_fingerprint_of_what_it_replaced() -> None:
    """Applied twice, a patch wraps once; the guard still reads the stock source."""
    patch = next(p for p in pygeoapi_adapter.PATCHES if p.name == "identity-bbox-transform")
    patch.apply()
    patch.apply()
    from pygeoapi.api import itemtypes
    from pygeoapi.crs import transform_bbox

    assert itemtypes.transform_bbox.__wrapped__ is transform_bbox
    assert itemtypes.transform_bbox([1, 2, 3, 4], "EPSG:2180", "EPSG:2180") == [1, 2, 3, 4]
    assert pygeoapi_adapter.guard_problems(pygeoapi.__version__) == []


def test_an_advertised_broker_gets_no_message_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """pubsub-no-message: after an execution, no CloudEvent is built for a broker that
    is only advertised; any other client still gets pygeoapi's message."""
    from pygeoapi.api import itemtypes, processes, pubsub

    patch = next(p for p in pygeoapi_adapter.PATCHES if p.name == "pubsub-no-message")
    patch.apply()
    built: list[str] = []

    def cloudevent(type_: str, *args: object) -> dict:
        built.append(type_)
        return {"type": type_}

    monkeypatch.setattr(pubsub, "generate_ogc_cloudevent", cloudevent)
    broker = pygeoapi_adapter.AdvertisedBroker(
        {"name": "MQTT", "broker": {"url": "mqtt://localhost:1883", "channel": "kmzb"}}
    )
    for module in (processes, itemtypes):
        assert module.publish_message.__wrapped__ is pubsub.publish_message
        answer = module.publish_message(broker, "http://x", "process", "submit-threat", None, "{}")
        assert answer is None
    assert built == []

    class Sending:
        channel = None
        sent: list[str] = []

        def connect(self) -> None:
            pass

        def pub(self, channel: str, message: str) -> bool:
            self.sent.append(channel)
            return True

    client = Sending()
    processes.publish_message(client, "http://x", "process", "submit-threat", None, "{}")
    assert built == ["org.ogc.api.job.result"]
    assert client.sent == ["processes/submit-threat"]


def test_our_flask_asks_once_whether_a_hook_is_a_coroutine() -> None:
    app = pygeoapi_adapter.KmzbFlask("probe")

    def plain() -> str:
        return "plain"

    async def coroutine() -> str:
        return "awaited"

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain and list(app._sync) == [plain]
    # as Flask: a coroutine function is wrapped, or refused without Flask's async extra
    try:
        wrapped = app.ensure_sync(coroutine)
    except RuntimeError:
        assert coroutine not in app._sync
    else:
        assert wrapped is not coroutine and app.ensure_sync(coroutine) is wrapped
    unhashable = type("Unhashable", (), {"__hash__": None, "__call__": lambda self: "x"})()
    assert app.ensure_sync(unhashable) is unhashable


def test_the_app_refuses_to_start_on_another_pygeoapi(
    db_url: str, server: Settings, tmp_path: Path
) -> None:
    from conftest import app_environment, free_port

    env = app_environment(db_url, server, free_port())
    env["PYGEOAPI_OPENAPI"] = str(tmp_path / "openapi.yml")
    run = subprocess.run(
        [sys.executable, "-c", "import pygeoapi; pygeoapi.__version__ = '0.25.0'; import kmzb.app"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 4, run.stderr[-2000:]
    assert "kmzb: error: pygeoapi 0.25.0 is installed" in run.stderr
    assert "Traceback" not in run.stderr


# --- one seam -------------------------------------------------------------------------


def _pygeoapi_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {
                (a.asname or a.name).split(".")[0]
                for a in node.names
                if a.name.startswith("pygeoapi")
            }
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pygeoapi"):
            names |= {a.asname or a.name for a in node.names}
    return names


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def assignments_into_pygeoapi(source: str) -> list[str]:
    """Attribute or item assignments on a name imported from pygeoapi (module, class,
    or a value of its such as PLUGINS), and setattr on one."""
    tree = ast.parse(source)
    names = _pygeoapi_names(tree)
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
        ):
            targets = [ast.Attribute(value=node.args[0], attr="?", ctx=ast.Store())]
        for target in targets:
            if isinstance(target, ast.Attribute | ast.Subscript) and _root(target) in names:
                found.append(f"line {node.lineno}: {ast.unparse(target)}")
    return found


def test_the_check_finds_an_assignment_into_pygeoapi() -> None:
    source = (
        "from pygeoapi.api import itemtypes\nimport pygeoapi.l10n as l10n\n"
        "from pygeoapi.plugin import PLUGINS\n"
        "itemtypes.transform_bbox = None\nl10n.get_plugin_locale = None\n"
        "PLUGINS['formatter']['CSV'] = 'x'\nitemtypes.CONFORMANCE_CLASSES_FEATURES[:] = []\n"
    )
    assert len(assignments_into_pygeoapi(source)) == 4


def test_no_module_but_the_adapter_patches_pygeoapi_or_uses_flask_g() -> None:
    flask_g = re.compile(r"flask import.*\bg\b|from flask import g|flask\.g\b")
    patched, uses_g = {}, []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ADAPTER:
            continue
        source = path.read_text(encoding="utf-8")
        found = assignments_into_pygeoapi(source)
        if found:
            patched[str(path.relative_to(PROJECT_ROOT))] = found
        if flask_g.search(source):
            uses_g.append(str(path.relative_to(PROJECT_ROOT)))
    assert patched == {}
    assert uses_g == []
    # the adapter does patch: the check would see it
    assert assignments_into_pygeoapi(ADAPTER.read_text(encoding="utf-8"))


# --- the app: our Flask app with pygeoapi mounted --------------------------------------


def test_pygeoapi_is_mounted_on_our_app(api: str) -> None:
    landing = requests.get(f"{api}/?f=json", timeout=30)
    assert landing.status_code == 200 and landing.json()["links"]
    assert requests.get(f"{api}/?f=html", timeout=30).text.lstrip().startswith("<!")
    assert requests.get(f"{api}/static/js/maps.js", timeout=30).status_code == 200
    assert requests.get(f"{api}/static/no-such-file.js", timeout=30).status_code == 404
    conformance = requests.get(f"{api}/conformance?f=json", timeout=30).json()["conformsTo"]
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in conformance
    # pygeoapi's strict_slashes (false): with and without the trailing slash
    assert requests.get(f"{api}/collections/?f=json", timeout=30).status_code == 200
    assert requests.get(f"{api}/collections?f=json", timeout=30).status_code == 200
    # our own blueprints and headers on the same app
    assert requests.get(f"{api}/map/", timeout=30).status_code == 200
    assert "Content-Security-Policy" in requests.get(f"{api}/conformance", timeout=30).headers


# --- the error bodies -------------------------------------------------------------------


def assert_error_body(answer: requests.Response, status: int, code: str | None = None) -> dict:
    assert answer.status_code == status, answer.text[:400]
    assert answer.headers["Content-Type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert body["code"] and (code is None or body["code"] == code), body
    message = body["message"]
    assert set(message) == {"pl", "en"} and all(message.values()), body
    assert body["description"] == message["en"], body  # the English only
    assert message["pl"] != message["en"] and " / " not in body["description"], body
    return body


def test_a_process_refusal_carries_its_messages_fields_and_notice(api: str) -> None:
    answer = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "no_such_category"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    body = assert_error_body(answer, 400, "InvalidParameterValue")
    assert body["message"]["pl"] == "Zgłoszenie zawiera błędy; nic nie zapisano."
    assert [e["field"] for e in body["errors"]] == ["category"]
    assert {"field", "pl", "en"} == set(body["errors"][0])
    assert "112" in body["notice"]["pl"]
    assert answer.headers["Content-Language"] == "pl, en"
    assert "Zgłoszenie zawiera błędy".encode() in answer.content  # UTF-8, not escaped


def test_a_process_refusal_keeps_its_status_and_headers(api: str) -> None:
    submitted = requests.post(
        f"{api}/processes/submit-threat/execution",
        json={"inputs": {**KRAKOW, "category": "illegal_dumping"}},
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert submitted.status_code == 200, submitted.text
    reference = submitted.json()["reference"]
    answer = requests.post(  # a 403 said to a caller with no token: 401 asking for one
        f"{api}/processes/review-threat/execution",
        json={"inputs": {"reference": reference, "status": "verification", "version": 1}},
        timeout=30,
    )
    body = assert_error_body(answer, 401, "Unauthorized")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="kmzb"'
    assert "tokenu" in body["message"]["pl"] and "token" in body["message"]["en"]


@pytest.mark.parametrize(
    ("path", "status", "polish"),
    [
        ("/processes/no-such-process", 404, "Nie ma obiektu o tym identyfikatorze"),
        ("/collections/no-such-collection", 404, "Nie ma takiej kolekcji"),
        ("/collections/threats/items/no-such-id", 404, "nie ma obiektu no-such-id"),
        ("/collections/threats/items?limit=x", 400, "liczbą całkowitą"),
        ("/collections/threats/items?datetime=yesterday", 400, "RFC 3339"),
        ("/collections/threats/items?filter=nonsense%20%3D", 400, "filtr"),
        ("/no/such/route", 404, "Nie ma takiego zasobu"),
    ],
)
def test_every_error_answer_has_both_messages(
    api: str, path: str, status: int, polish: str
) -> None:
    body = assert_error_body(requests.get(f"{api}{path}", timeout=30), status)
    assert polish.lower() in body["message"]["pl"].lower(), body


def test_a_method_a_route_does_not_take_has_both_messages(api: str) -> None:
    assert_error_body(requests.delete(f"{api}/collections/threats", timeout=30), 405)
    answer = requests.get(f"{api}/processes/submit-threat/execution", timeout=30)
    assert_error_body(answer, 405, "MethodNotAllowed")
    assert "POST" in answer.headers["Allow"]


def test_an_html_error_page_is_still_a_page(api: str) -> None:
    answer = requests.get(f"{api}/collections/no-such-collection?f=html", timeout=30)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Collection not found" in answer.text
