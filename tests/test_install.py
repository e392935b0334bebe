"""A production install runs from anywhere: `pip install .` (non-editable) into a fresh
venv in a temporary folder, gunicorn started from another folder, no checkout in sight.

The venv is made from .venv's interpreter and sees the dependencies already installed
in .venv through a .pth file (one line: a path, so .venv's own editable kmzb is not
activated), and the project is built with no build isolation: offline and fast. What
is installed is what the checkout would ship: its tracked and new files plus the
built web client (web/dist, git-ignored), copied apart, so the build writes nothing
into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import free_port
from kmzb.db import connection
from kmzb.settings import PROJECT_ROOT, Settings

CHECKOUT = PROJECT_ROOT
# what must never leak into the installed service's environment
CHECKOUT_VARIABLES = (
    "KMZB_HOME",
    "KMZB_DATA_DIR",
    "KMZB_WEB_DIR",
    "KMZB_VAR_DIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYGEOAPI_CONFIG",
    "PYGEOAPI_OPENAPI",
    "VIRTUAL_ENV",
)


def shippable_files(checkout: Path) -> list[Path]:
    """The checkout's tracked and new (not ignored) files, and the web build."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=checkout,
        check=True,
        capture_output=True,
    ).stdout.decode()
    files = [Path(name) for name in listed.split("\0") if name]
    dist = checkout / "web" / "dist"
    files += [p.relative_to(checkout) for p in dist.rglob("*") if p.is_file()]
    return [f for f in files if (checkout / f).is_file()]


def copy_checkout(checkout: Path, target: Path) -> Path:
    for name in shippable_files(checkout):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkout / name, target / name)
    return target


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_VARIABLES}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with kmzb installed from a wheel built off a copy of the checkout."""
    root = tmp_path_factory.mktemp("install")
    source = copy_checkout(CHECKOUT, root / "source")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "kmzb-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
        env=clean_environment(),
    )
    shutil.rmtree(source)  # nothing of the checkout is left to fall back on
    return venv


def run_python(venv: Path, code: str, cwd: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


WHERE = """
import json, sys
import kmzb, kmzb.settings as s
print(json.dumps({
    "module": kmzb.__file__, "home": str(s.HOME), "var": str(s.VAR_DIR),
    "sql": str(s.SQL_DIR), "config": str(s.CONFIG_FILE), "web": str(s.WEB_DIST_DIR),
    "qgis_project": str(s.QGIS_PROJECT_FILE), "qgis_plugin": str(s.QGIS_PLUGIN_DIR),
    "data": str(s.data_dir_default()), "path": sys.path,
}))
"""


@pytest.fixture(scope="module")
def installed_app(
    installed: Path, db_url: str, server: Settings, tmp_path_factory
) -> Iterator[dict]:
    """gunicorn from the installed venv, started in an unrelated folder."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    var = elsewhere / "state"
    port = free_port()
    env = clean_environment(
        DATABASE_URL=db_url,
        # as in production, the API connects as its own role (kmzb_api) on that database
        KMZB_API_DATABASE_URL=connection.api_url(server, connection.database_name(db_url)),
        KMZB_VAR_DIR=str(var),
        KMZB_API_PORT=str(port),
        KMZB_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    where = run_python(installed, WHERE, elsewhere, env)
    log = (elsewhere / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            str(installed / "bin" / "python"),
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "kmzb.app:app",
        ],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    "the installed app exited: " + (elsewhere / "gunicorn.log").read_text()
                )
            try:
                if requests.get(f"{base}/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the installed app did not answer within 60 s")
            time.sleep(0.3)
        yield {"base": base, "where": where, "var": var, "cwd": elsewhere, "pid": process.pid}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_wheel_carries_the_service_files(installed: Path, tmp_path: Path) -> None:
    where = run_python(installed, WHERE, tmp_path, clean_environment())
    share = Path(where["home"])
    assert share.name == "share" and share.parent == Path(where["module"]).parent
    assert "site-packages" in share.parts and share.is_relative_to(installed)
    assert not share.is_relative_to(CHECKOUT)
    # of the checkout, only .venv's installed dependencies are on the path
    inside = [e for e in where["path"] if e and Path(e).resolve().is_relative_to(CHECKOUT)]
    assert inside == [sysconfig.get_paths()["purelib"]], where["path"]
    # every migration, the configuration, the QGIS project and plugin, the web build, the data
    assert sorted(p.name for p in Path(where["sql"]).glob("*.sql")) == sorted(
        p.name for p in (CHECKOUT / "sql").glob("*.sql")
    )
    assert Path(where["config"]).read_bytes() == (CHECKOUT / "pygeoapi-config.yml").read_bytes()
    assert Path(where["qgis_project"]).is_file()
    assert (Path(where["qgis_plugin"]) / "kmzb_access" / "server.py").is_file()
    assert (Path(where["web"]) / "index.html").read_bytes() == (
        CHECKOUT / "web" / "dist" / "index.html"
    ).read_bytes()
    shipped = sorted(
        p.relative_to(CHECKOUT / "data").as_posix()
        for p in (CHECKOUT / "data").rglob("*")
        if p.is_file()
    )
    bundled = sorted(
        p.relative_to(where["data"]).as_posix()
        for p in Path(where["data"]).rglob("*")
        if p.is_file()
    )
    assert bundled == shipped and Path(where["data"]).is_relative_to(share)
    # state goes to the user's state folder, not into site-packages
    assert not Path(where["var"]).is_relative_to(share)


def test_the_installed_cli_finds_its_migrations(installed: Path, db_url: str, tmp_path) -> None:
    env = clean_environment(DATABASE_URL=db_url, KMZB_VAR_DIR=str(tmp_path / "state"))
    done = subprocess.run(
        [str(installed / "bin" / "kmzb"), "db", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    # the bundled migrations are the checkout's, checksums and all: nothing to apply
    assert done.returncode == 0, done.stderr
    assert "none (up to date)" in done.stdout


def test_the_installed_app_serves_the_api_and_the_web_page(installed_app: dict) -> None:
    base, where = installed_app["base"], installed_app["where"]
    assert Path(f"/proc/{installed_app['pid']}/cwd").resolve() == installed_app["cwd"].resolve()

    collections = requests.get(f"{base}/collections", params={"f": "json"}, timeout=60)
    assert collections.status_code == 200, collections.text
    ids = {c["id"] for c in collections.json()["collections"]}
    assert {"threats", "gminy", "powiaty", "wojewodztwa", "police-units"} <= ids

    page = requests.get(f"{base}/map/", timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.content == (Path(where["web"]) / "index.html").read_bytes()

    process = requests.get(f"{base}/processes/submit-threat", params={"f": "json"}, timeout=30)
    assert process.status_code == 200, process.text
    assert process.json()["id"] == "submit-threat"
    assert "category" in process.json()["inputs"]

    # pygeoapi's pages use the bundled templates and their vendored, self-hosted assets
    landing = requests.get(f"{base}/", params={"f": "html"}, timeout=30)
    assert landing.status_code == 200
    assert "/static/vendor/bootstrap/bootstrap.min.css" in landing.text
    assert "unpkg.com" not in landing.text and "jsdelivr" not in landing.text
    css = requests.get(f"{base}/static/vendor/bootstrap/bootstrap.min.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")

    # the one item with data behind it: a gmina, from the test database
    gmina = requests.get(
        f"{base}/collections/gminy/items/1261011", params={"f": "json"}, timeout=30
    )
    assert gmina.status_code == 200 and gmina.json()["properties"]["name"] == "Kraków"

    # the OpenAPI document was generated into the state folder given, nowhere else
    assert (installed_app["var"] / "pygeoapi-openapi.yml").is_file()
