"""Requests generated from the served OpenAPI document (schemathesis, property-based,
positive and negative data) over every operation, against the real app on a database
of its own (generated submissions never reach the shared test database) and the real
QGIS Server behind /wms.

Checks, and why these:
- not_a_server_error: no input may give a 5xx;
- status_code_conformance: every answer's status is one the document declares;
- content_type_conformance: every answer's media type is one the document declares;
- response_schema_conformance: every JSON answer matches its declared schema.
Not used: negative_data_rejection (an OGC API may ignore what it does not know:
unknown and vendor parameters, a `lang` it negotiates down to its default, a `limit`
above its maximum it caps) and positive_data_acceptance (a schema cannot say which
references exist, which points lie in Poland or which category codes the database
holds; those refusals are 4xx with a message, checked by the checks above).

The document says what the service really answers (kmzb.service.openapi.truthful): the
media type of every `f` value, errors included, a null geometry, the empty tile (204),
gunicorn's 414 for a request line over 4094 bytes, 503 for a database fault; each such
declaration has a focused test in tests/test_openapi.py.

The seed is fixed (11); the run is bounded by --max-examples 5 and --max-time 90 (about
7,000 generated requests, 2 minutes with the database load on 2 cores);
bench/openapi_fuzz.sh runs it unbounded.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import TEST_DB, fresh_database, running_app
from kmzb.db import connection, migrations
from kmzb.loaders.all import load_all
from kmzb.settings import Settings

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
FUZZ_DB = f"{TEST_DB}_fuzz"


@pytest.fixture(scope="module")
def fuzz_api(server: Settings, data_dir: Path, wms: str, tmp_path_factory) -> Iterator[str]:
    url = fresh_database(server, FUZZ_DB)
    migrations.apply_all(url)
    load_all(url, data_dir, lambda _message: None)
    env = {"KMZB_WMS_URL": f"{wms}/ows/", "KMZB_DB_NAME": FUZZ_DB}
    if not server.embedded:
        env["DATABASE_URL"] = url
        if server.api_database_url:
            env["KMZB_API_DATABASE_URL"] = connection.api_url(server, FUZZ_DB)
    openapi = tmp_path_factory.mktemp("fuzz") / "openapi.yml"
    try:
        with running_app(url, server, openapi, env) as base:
            yield base
    finally:
        connection.drop_database(server, FUZZ_DB)


def schemathesis(base: str, report: Path, *args: str) -> subprocess.CompletedProcess:
    st = Path(sys.executable).with_name("st")
    return subprocess.run(
        [
            str(st),
            "run",
            f"{base}/openapi?f=json",
            "--url",
            base,
            "--checks",
            CHECKS,
            "--request-timeout",
            "30",
            "--workers",
            "2",
            "--no-shrink",
            "--seed",
            "11",
            "--report",
            "junit",
            "--report-dir",
            str(report),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_places_refuse_control_characters_with_a_message(fuzz_api: str) -> None:
    answer = requests.get(f"{fuzz_api}/places", params={"q": "D\x00ab", "limit": 3}, timeout=30)
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    assert "sterujących" in body["errors"][0]["pl"] and "control" in body["errors"][0]["en"]


def test_generated_requests_get_no_5xx_and_match_the_document(
    fuzz_api: str, tmp_path: Path
) -> None:
    run = schemathesis(
        fuzz_api,
        tmp_path,
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "5",
        "--max-time",
        "90",  # the suite's budget (the test takes about 2 minutes in all, with the
        # database load); bench/openapi_fuzz.sh runs without one
        "--continue-on-failure",
    )
    output = run.stdout + run.stderr
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) > 200, output[-3000:]
    assert run.returncode == 0, output[-12000:]
