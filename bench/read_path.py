"""The public read path at national scale: this service vs tipg vs stock pygeoapi
vs the raw SQL, in one run, on one database.

    KMZB_DB_NAME=kmzb_bench .venv/bin/kmzb load all
    KMZB_DB_NAME=kmzb_bench .venv/bin/kmzb load demo --reports 5000000
    KMZB_DB_NAME=kmzb_bench .venv/bin/python bench/read_path.py [--duration 15]

Needs wrk and pgbench (Debian, installed by the set-up) and tipg, which the
script installs from PyPI into its own virtual environment on first use
(var/bench/tipg-venv; tipg's pins differ from pygeoapi's). Each server gets 2 worker
processes on loopback; the load tool runs on the same machine. Prints a
Markdown table with requests/s, p50 and p99 at concurrency 1 and 8 and the
ratios to tipg and to the raw SQL.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
import yaml

from kmzb.db import connection
from kmzb.providers.postgis import PostGISProvider
from kmzb.settings import PROJECT_ROOT, VAR_DIR, load_settings, pygeoapi_environment

BBOX = "20.85,52.10,21.27,52.37"  # Warsaw
CQL = "category = 'speeding' AND event_date BETWEEN DATE('2025-01-01') AND DATE('2025-06-30')"
TILES = {8: (84, 142), 14: (5394, 9148)}  # (row, col) over central Warsaw
PORTS = {"kmzb": 5201, "stock": 5202, "tipg": 5203}


def wait_for(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def stock_config(path: Path) -> None:
    """pygeoapi-config.yml with only the threats collection, on the stock provider."""
    config = yaml.safe_load((PROJECT_ROOT / "pygeoapi-config.yml").read_text())
    threats = config["resources"]["threats"]
    provider = dict(threats["providers"][0])
    provider["name"] = "PostgreSQL"
    provider.pop("count_limit", None)
    # the primary alone: the read block may list replicas (libpq host lists), which the
    # stock provider cannot take; the stock baseline reads the primary anyway
    data = {key: value for key, value in provider["data"].items() if key != "target_session_attrs"}
    provider["data"] = {
        **data,
        "host": "${PYGEOAPI_KMZB_DB_HOST}",
        "port": "${PYGEOAPI_KMZB_DB_PORT}",
    }
    threats["providers"] = [provider]
    config["resources"] = {"threats": threats}
    config["server"].pop("manager", None)
    path.write_text(yaml.safe_dump(config, allow_unicode=True))


TIPG_VENV = VAR_DIR / "bench" / "tipg-venv"


def ensure_tipg() -> Path:
    """uvicorn of a virtual environment holding tipg, made on first use."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        pip = TIPG_VENV / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", "tipg", "uvicorn"], check=True)
    return uvicorn


def start_servers(url: str, workdir: Path) -> list[subprocess.Popen]:
    os.environ.update(pygeoapi_environment(url))
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ)
    procs = []
    common = ["--workers", "2", "--log-level", "warning"]
    procs.append(
        subprocess.Popen(
            [
                str(venv_bin / "gunicorn"),
                "--bind",
                f"127.0.0.1:{PORTS['kmzb']}",
                *common,
                "kmzb.app:app",
            ],
            env={
                **env,
                "PYGEOAPI_OPENAPI": str(workdir / "kmzb-openapi.yml"),
                "KMZB_PUBLIC_URL": f"http://127.0.0.1:{PORTS['kmzb']}",
            },
        )
    )
    stock = workdir / "stock.yml"
    stock_config(stock)
    from pygeoapi.openapi import generate_openapi_document

    os.environ["KMZB_PUBLIC_URL"] = f"http://127.0.0.1:{PORTS['stock']}"
    (workdir / "stock-openapi.yml").write_text(generate_openapi_document(stock, "yaml"))
    procs.append(
        subprocess.Popen(
            [
                str(venv_bin / "gunicorn"),
                "--bind",
                f"127.0.0.1:{PORTS['stock']}",
                *common,
                "pygeoapi.flask_app:APP",
            ],
            env={
                **env,
                "PYGEOAPI_CONFIG": str(stock),
                "PYGEOAPI_OPENAPI": str(workdir / "stock-openapi.yml"),
                "KMZB_PUBLIC_URL": f"http://127.0.0.1:{PORTS['stock']}",
            },
        )
    )
    tipg = ensure_tipg()
    procs.append(
        subprocess.Popen(
            [
                str(tipg),
                "tipg.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORTS["tipg"]),
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            env={
                **env,
                "DATABASE_URL": url,
                "TIPG_DB_SCHEMAS": '["kmzb"]',
                "TIPG_MAX_FEATURES_PER_QUERY": "10000",
            },
        )
    )
    for port in PORTS.values():
        wait_for(f"http://127.0.0.1:{port}/collections")
    return procs


def wrk(url: str, connections: int, duration: int) -> dict:
    threads = 1 if connections < 2 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "60s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group())
    unit = value[len(re.match(r"[\d.]+", value).group()) :]
    return number * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def raw_sql(url: str, statement: str, connections: int, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(statement.replace("\n", " ") + ";\n")
    env = dict(os.environ, PGOPTIONS="-c jit=off -c max_parallel_workers_per_gather=0")
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-f",
            script.name,
            "-c",
            str(connections),
            "-j",
            str(min(connections, 2)),
            "-T",
            str(duration),
            "-r",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return {
        "rps": float(re.search(r"tps = ([\d.]+)", out).group(1)),
        "p50": float(re.search(r"latency average = ([\d.]+) ms", out).group(1)),
        "p99": None,
        "errors": 0,
    }


def provider_sql(url: str, item_id: str) -> dict[str, str]:
    """The statements this service's provider sends, values inlined for pgbench."""
    from pygeofilter.parsers.cql2_text import parse

    db = pygeoapi_environment(url)
    config = yaml.safe_load((PROJECT_ROOT / "pygeoapi-config.yml").read_text())
    provider_def = dict(config["resources"]["threats"]["providers"][0])
    provider_def["data"] = {
        "host": db["PYGEOAPI_KMZB_DB_HOST"],
        "port": db["PYGEOAPI_KMZB_DB_PORT"],
        "dbname": db["PYGEOAPI_KMZB_DB_NAME"],
        "user": db["PYGEOAPI_KMZB_DB_USER"],
        "password": db["PYGEOAPI_KMZB_DB_PASSWORD"],
        "search_path": ["kmzb"],
    }
    provider = PostGISProvider(provider_def)
    captured: dict[str, str] = {}
    with psycopg.connect(url) as conn:
        cursor = psycopg.ClientCursor(conn)

        def capture(name):
            def run(statement, params):
                captured.setdefault(name, cursor.mogrify(statement, params))
                return conn.execute(statement, params).fetchone()

            return run

        provider._run = capture("bbox")
        provider.query(limit=1000, bbox=[float(v) for v in BBOX.split(",")])
        provider._run = capture("cql")
        provider.query(limit=10, filterq=parse(CQL))
        provider._run = capture("item")
        provider.get(item_id)
    return captured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    args = parser.parse_args()
    settings = load_settings()
    url = connection.server_url(settings)
    with psycopg.connect(url) as conn:
        reports = conn.execute("SELECT count(*) FROM kmzb.reports").fetchone()[0]
        public = conn.execute("SELECT count(*) FROM kmzb.public_threats").fetchone()[0]
        item_id = conn.execute(
            "SELECT id FROM kmzb.public_threats WHERE police_unit = 'KSP' LIMIT 1"
        ).fetchone()[0]
    statements = provider_sql(url, item_id)
    cql = quote(CQL)
    tipg_cql = quote(
        CQL.replace("DATE('2025-01-01')", "'2025-01-01'").replace(
            "DATE('2025-06-30')", "'2025-06-30'"
        )
    )
    ours = f"http://127.0.0.1:{PORTS['kmzb']}/collections/threats"
    stock = f"http://127.0.0.1:{PORTS['stock']}/collections/threats"
    tipg = f"http://127.0.0.1:{PORTS['tipg']}/collections/kmzb.public_threats"
    cases = {
        "(a) city bbox, limit=1000": {
            "kmzb": f"{ours}/items?f=json&bbox={BBOX}&limit=1000",
            "stock pygeoapi": f"{stock}/items?f=json&bbox={BBOX}&limit=1000",
            "tipg": f"{tipg}/items?f=geojson&bbox={BBOX}&limit=1000",
            "raw SQL": statements["bbox"],
        },
        "(b) CQL2 category + date range": {
            "kmzb": f"{ours}/items?f=json&limit=10&filter={cql}",
            "stock pygeoapi": f"{stock}/items?f=json&limit=10&filter={cql}",
            "tipg": f"{tipg}/items?f=geojson&limit=10&filter-lang=cql2-text&filter={tipg_cql}",
            "raw SQL": statements["cql"],
        },
        "(c) one item by id": {
            "kmzb": f"{ours}/items/{item_id}?f=json",
            "stock pygeoapi": f"{stock}/items/{item_id}?f=json",
            "tipg": f"{tipg}/items/{item_id}?f=geojson",
            "raw SQL": statements["item"],
        },
    }
    for z, (row, col) in TILES.items():
        cases[f"(d) vector tile z{z}"] = {
            "kmzb": f"{ours}/tiles/WebMercatorQuad/{z}/{row}/{col}?f=mvt",
            "tipg": f"{tipg}/tiles/WebMercatorQuad/{z}/{col}/{row}",
        }
    workdir = Path(tempfile.mkdtemp(prefix="kmzb-bench-"))
    procs = start_servers(url, workdir)
    results: list[tuple] = []
    try:
        for case, systems in cases.items():
            for system, target in systems.items():
                if system != "raw SQL":
                    check = requests.get(target, timeout=120)
                    if check.status_code >= 400:
                        print(
                            f"{system} {case}: HTTP {check.status_code} {check.text[:200]}",
                            file=sys.stderr,
                        )
                for connections in (1, 8):
                    if system == "raw SQL":
                        measured = raw_sql(url, target, connections, args.duration)
                    else:
                        measured = wrk(target, connections, args.duration)
                    results.append((case, system, connections, measured))
                    print(case, system, connections, measured, file=sys.stderr, flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()  # uvicorn's worker manager may not stop in time
    print(
        f"\n{reports:,} reports ({public:,} public); "
        f"{os.cpu_count()} cores; {args.duration} s per cell; "
        f"{time.strftime('%Y-%m-%d')}\n"
    )
    print("| request | system | conc. | req/s | p50 ms | p99 ms | vs tipg | vs raw SQL |")
    print("|---|---|---|---|---|---|---|---|")
    index = {(c, s, n): m for c, s, n, m in results}
    for case, system, connections, m in results:
        tipg_rps = index.get((case, "tipg", connections), {}).get("rps")
        raw = index.get((case, "raw SQL", connections), {}).get("rps")
        ratio_tipg = f"{m['rps'] / tipg_rps:.2f}" if tipg_rps else ""
        ratio_raw = f"{m['rps'] / raw:.2f}" if raw else ""
        p99 = f"{m['p99']:.1f}" if m["p99"] is not None else "–"
        p50 = f"{m['p50']:.1f}" + (" (avg)" if system == "raw SQL" else "")
        errors = f" ({m['errors']} errors)" if m["errors"] else ""
        print(
            f"| {case} | {system} | {connections} | {m['rps']:.1f}{errors} | {p50} | {p99} "
            f"| {ratio_tipg} | {ratio_raw} |"
        )


if __name__ == "__main__":
    main()
