"""A threat tile at z8 (the precomputed grid) and z14 (points) three ways, in one run:
from the app with no validator (the query runs), from the app with If-None-Match
(a 304: kmzb.service.http_cache answers from kmzb.change_times before pygeoapi
runs the query), and through nginx's proxy_cache on the shipped rules
(docker/nginx/kmzb-http.conf and kmzb-locations.conf, unchanged) as cache HITs.

    KMZB_DB_NAME=kmzb_bench .venv/bin/kmzb load all
    KMZB_DB_NAME=kmzb_bench .venv/bin/kmzb load demo --reports 500000
    KMZB_DB_NAME=kmzb_bench .venv/bin/kmzb refresh-aggregates
    KMZB_DB_NAME=kmzb_bench .venv/bin/python bench/tiles_cache.py [--duration 10] [--connections 8]

Needs wrk and nginx (Debian; scripts/bootstrap.sh installs both). The app gets 2
gunicorn workers, nginx 1 worker, on free loopback ports; wrk runs on the same
machine. Prints a Markdown table: requests/s, p50 and p99 per case, and the ratio of
requests/s to the uncached read of the same tile.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

from kmzb.db import connection
from kmzb.settings import PROJECT_ROOT, load_settings

NGINX_DIR = PROJECT_ROOT / "docker" / "nginx"
TILES = {8: (84, 142), 14: (5394, 9148)}  # (row, col) over central Warsaw, as bench/read_path.py


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited")
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def start_app(workdir: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        KMZB_API_PORT=str(port),
        KMZB_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYGEOAPI_OPENAPI=str(workdir / "openapi.yml"),
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level",
         "warning", "kmzb.app:app"],
        env=env,
        cwd=PROJECT_ROOT,
    )  # fmt: skip


def nginx_config(prefix: Path, api_port: int, port: int) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
error_log {prefix / "error.log"} warn;
pid {prefix / "nginx.pid"};
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
{temp}
    include {NGINX_DIR / "kmzb-http.conf"};
    upstream kmzb_api {{ server 127.0.0.1:{api_port}; keepalive 16; }}
    proxy_cache_path {prefix / "cache"} levels=1:2 keys_zone=kmzb_cache:4m
                     max_size=64m inactive=10m use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        set_real_ip_from 127.0.0.1;
        access_log off;
        include {NGINX_DIR / "kmzb-locations.conf"};
    }}
}}
"""


def start_nginx(prefix: Path, api_port: int, port: int) -> subprocess.Popen:
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / kind).mkdir(parents=True)
    (prefix / "cache").mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, api_port, port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-t", "-q", "-p", str(prefix), "-c", str(conf)], check=True)
    return subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])


def wrk(url: str, connections: int, duration: int, headers: dict[str, str]) -> dict:
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s",
         "--timeout", "60s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_group(r"Requests/sec:\s+([\d.]+)", out)),
        "p50": _ms(_group(r"50%\s+([\d.]+\w+)", out)),
        "p99": _ms(_group(r"99%\s+([\d.]+\w+)", out)),
        "errors": int(found.group(1)) if found else 0,
    }


def _group(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk said: {text}")
    return found.group(1)


def _ms(value: str) -> float:
    number = re.match(r"[\d.]+", value)
    assert number is not None
    unit = value[len(number.group()) :]
    return float(number.group()) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    settings = load_settings()
    with psycopg.connect(connection.server_url(settings)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM kmzb.reports), (SELECT count(*) FROM kmzb.public_threats)"
        ).fetchone()
        assert row is not None
        reports, public = row
    workdir = Path(tempfile.mkdtemp(prefix="kmzb-tiles-cache-"))
    app_port, nginx_port = free_port(), free_port()
    app = start_app(workdir, app_port)
    nginx: subprocess.Popen | None = None
    rows = []
    try:
        wait_for(f"http://127.0.0.1:{app_port}/", app)
        nginx = start_nginx(workdir / "nginx", app_port, nginx_port)
        wait_for(f"http://127.0.0.1:{nginx_port}/collections?f=json", nginx)
        for z, (row_, col) in TILES.items():
            path = f"/collections/threats/tiles/WebMercatorQuad/{z}/{row_}/{col}?f=mvt"
            direct = f"http://127.0.0.1:{app_port}{path}"
            cached = f"http://127.0.0.1:{nginx_port}{path}"
            first = requests.get(direct, timeout=60)
            assert first.status_code == 200, first.text
            etag = first.headers["ETag"]
            conditional = requests.get(direct, headers={"If-None-Match": etag}, timeout=60)
            assert conditional.status_code == 304, conditional.status_code
            requests.get(cached, timeout=60)
            hit = requests.get(cached, timeout=60)
            assert hit.headers["X-Cache-Status"] == "HIT", hit.headers
            cases = [
                ("app, uncached (query runs)", direct, {}),
                ("app, If-None-Match (304)", direct, {"If-None-Match": etag}),
                ("nginx proxy_cache (HIT)", cached, {}),
            ]
            base = None
            for name, url, headers in cases:
                measured = wrk(url, args.connections, args.duration, headers)
                base = base or measured["rps"]
                rows.append(
                    f"| z{z} ({len(first.content):,} B) | {name} | {measured['rps']:,.0f} "
                    f"| {measured['p50']:.2f} | {measured['p99']:.2f} "
                    f"| {measured['rps'] / base:.1f}x | {measured['errors']} |"
                )
    finally:
        for process in (nginx, app):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    print(f"{reports:,} reports ({public:,} public); wrk -c{args.connections} -d{args.duration}s")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| tile | how | requests/s | p50 ms | p99 ms | vs uncached | non-2xx/3xx |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
