"""Public reads/s on the primary alone vs the primary plus one hot standby, in one run.

On an embedded cluster of its own (not the shared one: give it its own var folder
and ports, below the kernel's ephemeral range 32768-60999, which an outgoing
connection may hold when the server binds):

    export KMZB_VAR_DIR=/tmp/kmzb-bench-var KMZB_PG_PORT=25433 KMZB_REPLICA_PORT=25434
    .venv/bin/kmzb db up && .venv/bin/kmzb load all
    .venv/bin/kmzb load demo --reports 200000
    .venv/bin/kmzb db replica up
    .venv/bin/python bench/read_replica.py [--duration 5] [--rounds 3] [--connections 8]

The same app (gunicorn, 2 workers) runs twice at once on the same database: one
with the primary only (DATABASE_URL, no DATABASE_REPLICA_URLS), one with
DATABASE_REPLICA_URLS naming the standby (public reads go there, prefer-standby).
wrk drives each public read for --duration seconds at --connections on one app
then the other, the order alternating, for --rounds rounds (so both meet the same
machine load); then again while pgbench keeps the primary busy with writes (the
case a replica is for). Prints Markdown tables of the medians: requests/s and p99
per read, and the ratio replica/primary alone. The API's sessions on the replica
are counted, to show the reads went there. On one machine the replica shares the
CPUs with the primary: what it can show here is isolation, not more capacity.
a replica is for). Prints Markdown tables of the medians: requests/s and p99
per read, and the ratio replica/primary alone. The API's sessions on the replica
are counted, to show the reads went there. On one machine the replica shares the
CPUs with the primary: what it can show here is isolation, not more capacity.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
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

PORTS = {"primary alone": 5211, "+ replica": 5212}
READS = {
    "items (bbox, 50)": "/collections/threats/items?bbox=19.85,50.00,20.05,50.10&limit=50&f=json",
    "tile z8": "/collections/threats/tiles/WebMercatorQuad/8/86/142?f=mvt",
    "tile z14": "/collections/threats/tiles/WebMercatorQuad/14/5552/9099?f=mvt",
    "statistics": "/collections/crime-rates/items?limit=50&f=json",
    "feed (Atom)": "/feeds/threats.atom?gmina=1261011",
    "vocabulary": "/vocabulary",
}
# the primary's write load in the second part: reports touched at random (each
# update is WAL the replica replays too)
WRITES = """
\\set id random(1, 200000)
UPDATE kmzb.reports SET status_changed_at = now() WHERE id = :id;
"""


def start_app(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**env, "KMZB_API_PORT": str(port), "KMZB_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "kmzb.app:app"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"the app did not come up: see {log}")


def wrk(port: int, path: str, duration: int, connections: int) -> tuple[float, float, int]:
    """requests/s, p99 in ms, and the count of non-2xx answers."""
    done = subprocess.run(
        ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{duration}s"]
        + [f"http://127.0.0.1:{port}{path}"],
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


def sessions_on(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'kmzb_api'"
        ).fetchone()
    return int(row[0]) if row else 0


Result = dict[str, dict[str, list[tuple[float, float, int]]]]  # read -> app -> rounds


def interleaved(args: argparse.Namespace) -> Result:
    """Each read, round after round, on one app then the other (the order alternating),
    so both meet the same machine load."""
    found: Result = {name: {app: [] for app in PORTS} for name in READS}
    for round_ in range(args.rounds):
        for name, path in READS.items():
            order = list(PORTS.items())
            if round_ % 2:
                order.reverse()
            for app, port in order:
                found[name][app].append(wrk(port, path, args.duration, args.connections))
    return found


def table(title: str, found: Result) -> None:
    print(f"\n{title}\n")
    print("| read | primary alone r/s (p99 ms) | + replica r/s (p99 ms) | ratio |")
    print("|---|---|---|---|")
    total = dict.fromkeys(PORTS, 0.0)
    for name in READS:
        med = {}
        for app in PORTS:
            rounds = found[name][app]
            med[app] = (
                statistics.median(r[0] for r in rounds),
                statistics.median(r[1] for r in rounds),
            )
            total[app] += med[app][0]
        a, r = med["primary alone"], med["+ replica"]
        print(f"| {name} | {a[0]:.0f} ({a[1]:.0f}) | {r[0]:.0f} ({r[1]:.0f}) | {r[0] / a[0]:.2f} |")
    a_sum, r_sum = total["primary alone"], total["+ replica"]
    print(f"| sum of medians | {a_sum:.0f} | {r_sum:.0f} | {r_sum / a_sum:.2f} |")
    bad = sum(r[2] for by_app in found.values() for rounds in by_app.values() for r in rounds)
    print(f"\nnon-2xx answers: {bad}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per read and app (median)")
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
    replica_admin = connection.replica_url(admin, "127.0.0.1", standby.port)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYGEOAPI_") and k not in ("KMZB_ENV", "DATABASE_REPLICA_URLS")
    }
    base.update({"DATABASE_URL": admin, "KMZB_API_DATABASE_URL": api})
    envs = {
        "primary alone": base,
        "+ replica": {
            **base,
            "DATABASE_REPLICA_URLS": f"postgresql://127.0.0.1:{standby.port}/{settings.db_name}",
        },
    }
    with tempfile.TemporaryDirectory(prefix="kmzb-bench-replica-") as tmp:
        folder = Path(tmp)
        apps = []
        try:
            for app, port in PORTS.items():
                env = {**envs[app], "PYGEOAPI_OPENAPI": str(folder / f"openapi-{port}.yml")}
                apps.append(start_app(env, port, folder / f"{port}.log"))
                for path in READS.values():  # warm the caches and the pools
                    requests.get(f"http://127.0.0.1:{port}{path}", timeout=60)
            before = os.getloadavg()
            idle = interleaved(args)
            print(f"kmzb_api sessions on the replica: {sessions_on(replica_admin)}")
            script = folder / "writes.sql"
            script.write_text(WRITES)
            password = str(psycopg.conninfo.conninfo_to_dict(admin)["password"])
            writer = subprocess.Popen(
                ["pgbench", "-n", "-c", "4", "-T", "3600", "-f", str(script)]
                + ["-h", "127.0.0.1", "-p", str(settings.embedded_port), "-U", "kmzb"]
                + [settings.db_name],
                env={**os.environ, "PGPASSWORD": password},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                busy = interleaved(args)
            finally:
                writer.terminate()
                writer.wait(timeout=30)
        finally:
            for process in apps:
                process.terminate()
                process.wait(timeout=30)
    after = os.getloadavg()
    print(f"load average (1 min) before {before[0]:.2f}, after {after[0]:.2f}")
    table("Idle primary (medians of the rounds):", idle)
    table("Primary busy with writes (pgbench, 4 clients, a report updated at random):", busy)


if __name__ == "__main__":
    main()
