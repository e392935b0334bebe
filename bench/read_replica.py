"""Public reads/s on the primary alone vs the primary plus one hot standby, in one run.

On an embedded cluster of its own (not the shared one: give it its own var folder
and port), loaded and with its replica made:

    export KMZB_VAR_DIR=/tmp/kmzb-bench-var KMZB_PG_PORT=55433
    .venv/bin/kmzb db up && .venv/bin/kmzb load all
    .venv/bin/kmzb load demo --reports 200000
    .venv/bin/kmzb db replica up
    .venv/bin/python bench/read_replica.py [--duration 10] [--connections 8]

The same app (gunicorn, 2 workers) is started twice on the same database: once
with the primary only (DATABASE_URL, no DATABASE_REPLICA_URLS), once with
DATABASE_REPLICA_URLS naming the standby (public reads go there, prefer-standby).
wrk drives each public read for --duration seconds at --connections; a third
pass runs the reads with the replica while pgbench keeps the primary busy with
writes (the case a replica is for). Prints a Markdown table: requests/s and p99
per read, and the ratio replica/primary. The replica's sessions are counted
during its run, to show the reads went there.
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

import psycopg
import requests

from kmzb.db import connection
from kmzb.db.replica import embedded_standby, running
from kmzb.settings import PROJECT_ROOT, load_settings

PORT = 5211
READS = {
    "items (bbox, 50)": "/collections/threats/items?bbox=19.85,50.00,20.05,50.10&limit=50&f=json",
    "tile z8": "/collections/threats/tiles/WebMercatorQuad/8/86/142?f=mvt",
    "tile z14": "/collections/threats/tiles/WebMercatorQuad/14/5552/9099?f=mvt",
    "statistics": "/collections/crime-rates/items?limit=50&f=json",
    "feed (Atom)": "/feeds/threats.atom?gmina=1261011",
    "vocabulary": "/vocabulary",
}
# the primary's write load in the last two passes: reports touched at random (each
# update is WAL the replica replays too)
WRITES = """
\\set id random(1, 200000)
UPDATE kmzb.reports SET status_changed_at = now() WHERE id = :id;
"""


def start_app(env: dict[str, str], log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{PORT}", "--workers", "2", "kmzb.app:app"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{PORT}/", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the app did not come up: see {log}")


def wrk(path: str, duration: int, connections: int) -> tuple[float, float, int]:
    """requests/s, p99 in ms, and the count of non-2xx answers."""
    done = subprocess.run(
        ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{duration}s"]
        + [f"http://127.0.0.1:{PORT}{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, float(p99.group(1)) * scale, int(bad.group(1)) if bad else 0


def run_pass(
    env: dict[str, str], log: Path, args: argparse.Namespace, count_on: str | None = None
) -> dict[str, tuple]:
    """wrk on each read against a fresh app; with `count_on`, the API's sessions on that
    server (the replica) are counted before the app stops."""
    app = start_app(env, log)
    try:
        for path in READS.values():  # warm the caches and the pools
            requests.get(f"http://127.0.0.1:{PORT}{path}", timeout=60)
        found = {name: wrk(path, args.duration, args.connections) for name, path in READS.items()}
        if count_on:
            print(f"kmzb_api sessions on the replica during its run: {sessions_on(count_on)}")
        return found
    finally:
        app.terminate()
        app.wait(timeout=30)


def sessions_on(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'kmzb_api'"
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per read")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    settings = load_settings()
    if not settings.embedded:
        raise SystemExit("run on an embedded cluster of its own (KMZB_VAR_DIR, KMZB_PG_PORT)")
    standby = embedded_standby(settings)
    if not running(standby):
        raise SystemExit("no replica: run `kmzb db replica up` first")
    admin = connection.server_url(settings)
    api = connection.api_url(settings)
    replica_setting = f"postgresql://127.0.0.1:{standby.port}/{settings.db_name}"
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("PYGEOAPI_") and k != "KMZB_ENV"
    }
    base.update({"DATABASE_URL": admin, "KMZB_API_DATABASE_URL": api})
    base.update({"KMZB_API_PORT": str(PORT), "KMZB_PUBLIC_URL": f"http://127.0.0.1:{PORT}"})
    with tempfile.TemporaryDirectory(prefix="kmzb-bench-replica-") as tmp:
        folder = Path(tmp)
        base["PYGEOAPI_OPENAPI"] = str(folder / "openapi.yml")
        alone = run_pass(base, folder / "alone.log", args)
        with_replica_env = {**base, "DATABASE_REPLICA_URLS": replica_setting}
        replica_admin = connection.replica_url(admin, "127.0.0.1", standby.port)
        with_replica = run_pass(with_replica_env, folder / "replica.log", args, replica_admin)
        script = folder / "writes.sql"
        script.write_text(WRITES)
        total = args.duration * len(READS) + 30
        writes_env = {
            **os.environ,
            "PGPASSWORD": str(psycopg.conninfo.conninfo_to_dict(admin)["password"]),
        }
        pgbench_args = ["pgbench", "-n", "-c", "4", "-T", str(total), "-f", str(script)]
        pgbench_args += ["-h", "127.0.0.1", "-p", str(settings.embedded_port)]
        pgbench_args += ["-U", "kmzb", settings.db_name]
        loaded: dict[str, dict[str, tuple]] = {}
        for name, env in (("alone", base), ("replica", with_replica_env)):
            writer = subprocess.Popen(
                pgbench_args, env=writes_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                loaded[name] = run_pass(env, folder / f"{name}-loaded.log", args)
            finally:
                writer.terminate()
                writer.wait(timeout=30)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(
        "| read | primary alone r/s (p99 ms) | + replica r/s (p99 ms) | ratio |"
        " primary busy: alone | primary busy: + replica | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in READS:
        a, r = alone[name], with_replica[name]
        la, lr = loaded["alone"][name], loaded["replica"][name]
        print(
            f"| {name} | {a[0]:.0f} ({a[1]:.1f}) | {r[0]:.0f} ({r[1]:.1f}) | {r[0] / a[0]:.2f} "
            f"| {la[0]:.0f} ({la[1]:.1f}) | {lr[0]:.0f} ({lr[1]:.1f}) | {lr[0] / la[0]:.2f} |"
        )
    bad = sum(v[2] for run in (alone, with_replica, *loaded.values()) for v in run.values())
    print(f"\nnon-2xx answers: {bad}")


if __name__ == "__main__":
    main()
