"""A clone anywhere runs: the real data ships in data/, so a `git clone` of HEAD into a
folder with no ../shared beside it loads everything with KMZB_DATA_DIR unset.

The clone's own code does the work (`python -m kmzb.cli` with PYTHONPATH on the
clone's plugins/), into a fresh database of its own on the test server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conftest import TEST_DB, fresh_database
from kmzb.db import connection
from kmzb.settings import PROJECT_ROOT, Settings


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("anywhere")
    target = root / "kmzb"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def clone_db(server: Settings) -> Iterator[str]:
    name = f"{TEST_DB}_clone"
    url = fresh_database(server, name)
    yield url
    connection.drop_database(server, name)


def clone_environment(clone: Path, db_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KMZB_DATA_DIR", "KMZB_HOME", "KMZB_VAR_DIR", "PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PYTHONPATH"] = str(clone / "plugins")
    env["DATABASE_URL"] = db_url
    env["KMZB_VAR_DIR"] = str(clone.parent / "state")
    return env


def test_a_clone_with_no_shared_folder_loads_the_shipped_data(clone: Path, clone_db: str) -> None:
    assert not (clone.parent / "shared").exists()
    assert not (clone.parent.parent / "shared").exists()
    env = clone_environment(clone, clone_db)

    where = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, kmzb, kmzb.settings as s;"
                "print(json.dumps([kmzb.__file__, str(s.HOME), str(s.data_dir_default())]))",
            ],
            cwd=clone.parent,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    module, home, data = (Path(p) for p in where)
    assert module == clone / "plugins" / "kmzb" / "__init__.py"  # the clone's code
    assert home == clone and data == clone / "data"  # the clone's shipped data
    assert sorted(p.name for p in (clone / "data" / "boundaries").iterdir()) == [
        "gminy.geojson.gz",
        "polska.geojson.gz",
        "powiaty.geojson.gz",
        "wojewodztwa.geojson.gz",
    ]

    loaded = subprocess.run(
        [sys.executable, "-m", "kmzb.cli", "load", "all"],
        cwd=clone.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "territorial_units[gmina]: 2477 inserted" in loaded.stdout, loaded.stdout

    with psycopg.connect(clone_db) as conn:
        levels = dict(
            conn.execute("SELECT level, count(*) FROM kmzb.territorial_units GROUP BY level")
        )
        assert levels == {"kraj": 1, "wojewodztwo": 16, "powiat": 380, "gmina": 2477}
        kinds = dict(conn.execute("SELECT kind, count(*) FROM kmzb.police_units GROUP BY kind"))
        assert kinds == {"KGP": 1, "KWP": 16, "KSP": 1, "KMP": 65, "KPP": 271, "KRP": 7}
        statistics = conn.execute(
            "SELECT count(*), count(DISTINCT teryt), min(year), max(year)"
            " FROM kmzb.crime_statistics"
        ).fetchone()
        # 1 country + 16 województwa + 380 powiaty, 12 years, 9 categories
        assert statistics == (397 * 12 * 9, 397, 2013, 2024)
        krakow = conn.execute(
            "SELECT name FROM kmzb.territorial_units WHERE teryt = '1261011'"
        ).fetchone()
        assert krakow == ("Kraków",)
