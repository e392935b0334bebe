"""A soak of a running KMZB: mixed public reads and submissions at a steady rate for a
long time, with errors, latency over time, memory of every process and the no-loss check.

    KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For make run          # in another terminal
    bench/soak.sh [duration=30m] [rate=auto]                     # calls this script

Phase 1 (rate "auto"): wrk sends the same mix as fast as it can for --measure seconds at
8 connections (bench/soak.lua); the soak's rate is half of what it reached. Phase 2: an
open-loop generator (threads with keep-alive connections) sends request i at
start + i/rate whatever the answers' speed, for the whole duration; a request's latency
is counted from the moment it was due, so a stall of the server shows in the p99 and is
not hidden by the generator waiting (no coordinated omission).

The mix: submissions (POST submit-threat, each from its own X-Forwarded-For address, an
IPv6 /64 of its own, so the daily limit does not stop the load: the stack must run with
KMZB_TRUSTED_PROXY_HEADER=X-Forwarded-For), items, a single feature, tiles at z8 and z14,
/vocabulary, the Atom feed, Open311 GET requests and a WMS GetMap through /wms (so QGIS
Server works too). A share of the reads is conditional (If-None-Match), as feed readers
and browsers send them; 304 counts as a success.

Memory: the resident set (VmRSS), its private part (RssAnon) and the proportional set
(PSS, from smaps_rollup) of every process of the stack, found from the API's listening
socket: the gunicorn master and its workers, their parent `kmzb run` (which holds the
alerts publisher and the refresh threads) and its other children (Mosquitto,
qgis_mapserver); the PostgreSQL postmaster, the backends of this database (summed) and
the cluster's auxiliary processes, through pg_stat_activity; and each streaming replica
on this machine (its postmaster and all its processes), through pg_stat_replication.
Sampled at the start of phase 2 (after the warm-up), every minute, and at the end. The
memory target is read on the stack's summed PSS: summed RSS counts PostgreSQL's shared
buffers once per backend that touched them. (PSS also shares library pages with any
other process on the machine that maps them: other programs starting or stopping move it
a little.)

No loss: every submission answered 200 carries its reference; after the run each of them
must be a row of kmzb.reports.

Prints a Markdown report (and writes it to --report). Exit status 1 when a target is
missed: a non-2xx/304 answer (429s included), a lost submission, or a stack whose PSS
grew 10 % or more.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
CITIES = [  # (lon, lat): Warszawa, Kraków, Wrocław, Poznań, Gdańsk, Łódź, Szczecin, Lublin
    (21.012, 52.230),
    (19.945, 50.065),
    (17.038, 51.108),
    (16.925, 52.406),
    (18.646, 54.352),
    (19.457, 51.759),
    (14.552, 53.428),
    (22.568, 51.246),
]
CATEGORIES = [
    "vandalism",
    "illegal_dumping",
    "illegal_parking",
    "speeding",
    "public_drinking",
    "stray_dogs",
    "poor_road_infrastructure",
    "destruction_of_greenery",
]
KINDS = ["submit", "items", "feature", "tile8", "tile14", "vocabulary", "atom", "open311", "wms"]
# share of requests (percent) by kind
DEFAULT_MIX = (
    "submit=20,items=15,feature=15,tile8=10,tile14=10,vocabulary=5,atom=10,open311=10,wms=5"
)
TILE_CENTRES = {8: (84, 142), 14: (5394, 9148)}  # (row, col) over central Warsaw
SUBMIT_PATH = "/processes/submit-threat/execution"
GROWTH_TARGET = 10.0  # percent, the whole stack's resident memory
LATE_SECONDS = 0.1  # a request sent this much after it was due: the generator fell behind


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"a duration like 30m, 90s or 1h, not {text!r}")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown kind {name!r}: {', '.join(KINDS)}")
        mix[name.strip()] = float(share)
    return {name: share for name, share in mix.items() if share > 0}


# ---------------------------------------------------------------------------- the mix


@dataclass
class Target:
    kind: str
    path: str  # "" for a submission
    weight: float
    etag: str | None = None


def _bbox(lon: float, lat: float) -> str:
    return f"{lon - 0.06:.3f},{lat - 0.04:.3f},{lon + 0.06:.3f},{lat + 0.04:.3f}"


def read_paths(feature_ids: list[str]) -> dict[str, list[str]]:
    """The URLs of each read kind: a few variants each, so caches are not all hot."""
    tiles = {
        z: [
            f"/collections/threats/tiles/WebMercatorQuad/{z}/{row + dr}/{col + dc}?f=mvt"
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
        ]
        for z, (row, col) in TILE_CENTRES.items()
    }
    wms = []
    for x, y in ((242000, 564000), (246000, 564000), (486000, 634000), (490000, 638000)):
        query = {
            "SERVICE": "WMS",
            "VERSION": "1.3.0",
            "REQUEST": "GetMap",
            "LAYERS": "granice,zagrozenia",
            "STYLES": "",
            "CRS": "EPSG:2180",
            "BBOX": f"{x},{y},{x + 4000},{y + 4000}",
            "WIDTH": "256",
            "HEIGHT": "256",
            "FORMAT": "image/png",
            "TRANSPARENT": "TRUE",
        }
        wms.append("/wms?" + urlencode(query))
    return {
        "items": [
            f"/collections/threats/items?f=json&limit=10&bbox={_bbox(lon, lat)}"
            for lon, lat in CITIES
        ],
        "feature": [f"/collections/threats/items/{ref}?f=json" for ref in feature_ids],
        "tile8": tiles[8],
        "tile14": tiles[14],
        "vocabulary": ["/vocabulary"],
        "atom": ["/feeds/threats.atom", "/feeds/threats.atom?powiat=1261"],
        "open311": [
            "/open311/v2/requests.json?"
            + urlencode({"lat": lat, "long": lon, "radius": 2000, "max_requests": 50})
            for lon, lat in CITIES
        ],
        "wms": wms,
    }


def build_targets(client: Client, mix: dict[str, float]) -> list[Target]:
    # confirmed reports first: a report still `new` may be held by a burst the soak's own
    # submissions make around it, and then its feature is rightly a 404
    feature_ids: list[str] = []
    for query in ("status=confirmed&", ""):
        status, body, _ = client.get(f"/collections/threats/items?{query}f=json&limit=100")
        if status != 200:
            raise SystemExit(f"GET /collections/threats/items answered {status}: is KMZB running?")
        feature_ids = [feature["id"] for feature in json.loads(body)["features"]]
        if feature_ids:
            break
    if not feature_ids and "feature" in mix:
        raise SystemExit("no public report to read: load some (kmzb load demo --reports 100000)")
    paths = read_paths(feature_ids)
    targets: list[Target] = []
    for kind, share in mix.items():
        if kind == "submit":
            targets.append(Target(kind, "", share))
            continue
        for path in paths[kind]:
            status, _, headers = client.get(path)
            if status != 200:
                raise SystemExit(f"GET {path} answered {status} before the soak began")
            targets.append(Target(kind, path, share / len(paths[kind]), headers.get("etag")))
    return targets


def write_mix_file(targets: list[Target], folder: Path) -> Path:
    path = folder / "soak-mix.tsv"
    path.write_text(
        "".join(
            f"{t.weight:.6f}\t{t.kind}\t{t.path or SUBMIT_PATH}\t{t.etag or '-'}\n" for t in targets
        )
    )
    return path


# ---------------------------------------------------------------------------- HTTP


class Client:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = kind(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        # a connection idle for a while may have been closed by the server: a POST never
        # goes out on one (it could not be retried), a GET is retried once
        if method == "POST" and time.monotonic() - self.last_used > 1.0:
            self.close()
        for attempt in (1, 2):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.last_used = time.monotonic()
                if response.will_close:
                    self.close()
                return (
                    response.status,
                    data,
                    {k.lower(): v for k, v in response.getheaders()},
                )
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not (reused and method == "GET" and attempt == 1):
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
        return self.send("GET", path, None, headers or {})


# ---------------------------------------------------------------------------- processes


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def memory_kib(pid: int) -> tuple[int, int, int]:
    """(VmRSS, RssAnon, Pss) in KiB; zeros for a process that is gone.

    Pss shares each shared page among the processes that map it, so the stack's
    summed Pss is its real footprint (summed RSS counts PostgreSQL's shared buffers
    once per backend)."""
    text = _read(f"/proc/{pid}/status") + _read(f"/proc/{pid}/smaps_rollup")
    values = dict(re.findall(r"^(VmRSS|RssAnon|Pss):\s+(\d+) kB", text, re.M))
    return int(values.get("VmRSS", 0)), int(values.get("RssAnon", 0)), int(values.get("Pss", 0))


def parent_map() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat:
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def cmdline(pid: int) -> list[str]:
    return [part for part in _read(f"/proc/{pid}/cmdline").split("\0") if part]


def listening_pids(port: int, state: str = "0A") -> set[int]:
    """The processes holding a TCP socket on this local port: listening (0A) or
    connected (01)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in _read(table).splitlines()[1:]:
            fields = line.split()
            if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return set()
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(entry))
                    break
        except OSError:
            continue
    return pids


def _label(pid: int) -> str:
    argv = cmdline(pid)
    text = " ".join(argv)
    if "alerts" in argv and "publish" in argv:
        return "alerts publisher (kmzb alerts publish)"
    name = Path(argv[0]).name if argv else "?"
    if name in ("qgis_mapserver", "qgis_mapserv.fcgi"):
        return f"{name} {argv[-1] if len(argv) > 1 else ''}".strip()
    if name == "mosquitto":
        return "mosquitto"
    return text[:60]


@dataclass
class Stack:
    """Which process plays which part, found again at each sample (workers may be
    replaced); the roles are the rows of the memory table."""

    api_port: int
    db_url: str
    pg: psycopg.Connection

    def roles(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {}
        parents = parent_map()
        api = listening_pids(self.api_port)
        masters = [pid for pid in api if parents.get(pid) not in api]
        if masters:
            master = masters[0]
            roles["gunicorn master"] = [master]
            roles["gunicorn workers"] = sorted(p for p, pp in parents.items() if pp == master)
            supervisor = parents.get(master, 0)
            if supervisor > 1 and "kmzb" in " ".join(cmdline(supervisor)):
                roles["kmzb run (alerts publisher, refresh threads)"] = [supervisor]
                for child in sorted(p for p, pp in parents.items() if pp == supervisor):
                    if child != master:
                        roles.setdefault(_label(child), []).append(child)
        rows = self.pg.execute(
            "SELECT pid, backend_type, datname = current_database() "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).fetchall()
        mine = self.pg.execute("SELECT pg_backend_pid()").fetchone()
        postmaster = parents.get(int(mine[0]) if mine else 0, 0)
        if postmaster and Path(f"/proc/{postmaster}").exists():
            roles["PostgreSQL postmaster"] = [postmaster]
            roles["PostgreSQL backends of this database"] = sorted(
                pid for pid, kind, here in rows if kind == "client backend" and here
            )
            roles["PostgreSQL auxiliary (checkpointer, walwriter…)"] = sorted(
                pid
                for pid, kind, _ in rows
                if kind not in ("client backend", "autovacuum worker", "parallel worker")
            )
        # streaming replicas on this machine: the walreceiver's end of each replication
        # connection leads to the replica's postmaster; all its processes are one row
        for (port,) in self.pg.execute(
            "SELECT client_port FROM pg_stat_replication WHERE client_port IS NOT NULL"
        ).fetchall():
            for receiver in listening_pids(int(port), state="01"):
                replica = parents.get(receiver, 0)
                if replica > 1:
                    family = [replica] + sorted(p for p, pp in parents.items() if pp == replica)
                    roles[f"PostgreSQL replica (pid {replica}, all its processes)"] = family
        return roles

    def sample(self) -> dict[str, tuple[int, int, int, int]]:
        """role -> (processes, VmRSS KiB, RssAnon KiB, Pss KiB)."""
        out = {}
        for role, pids in self.roles().items():
            sizes = [memory_kib(pid) for pid in pids]
            rss, private, pss = (sum(size[i] for size in sizes) for i in range(3))
            out[role] = (len(pids), rss, private, pss)
        return out


# ---------------------------------------------------------------------------- phase 1


@dataclass
class MaxResult:
    rate: float
    p50: float
    p99: float
    counts: dict[str, int]
    stored: int


def measure_max(
    url: str,
    mix_file: Path,
    conditional: float,
    run: str,
    seconds: int,
    connections: int,
    pg: psycopg.Connection,
) -> MaxResult:
    marker = f"soakmax {run} %"
    before = count_rows(pg, marker)
    command = [
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(ROOT / "bench" / "soak.lua"), url, "--", str(mix_file), str(conditional), run,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    line = next(row for row in out.splitlines() if row.startswith("soak-counts"))
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    latency = dict(re.findall(r"(p50|p99)=([\d.]+)", out))
    return MaxResult(
        rate,
        float(latency["p50"]),
        float(latency["p99"]),
        counts,
        count_rows(pg, marker) - before,
    )


def count_rows(pg: psycopg.Connection, marker: str) -> int:
    row = pg.execute("SELECT count(*) FROM kmzb.reports WHERE description LIKE %s", [marker])
    return int(row.fetchone()[0])  # type: ignore[index]


# ---------------------------------------------------------------------------- phase 2


@dataclass
class Results:
    """Per request: when it was due (s from the start), its kind, status, latency (s)."""

    due: array = field(default_factory=lambda: array("d"))
    kind: array = field(default_factory=lambda: array("b"))
    status: array = field(default_factory=lambda: array("h"))
    latency: array = field(default_factory=lambda: array("d"))
    late: int = 0
    references: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # exception names


class Generator:
    def __init__(
        self, url: str, targets: list[Target], rate: float, seconds: float, threads: int,
        conditional: float, run: str,
    ) -> None:  # fmt: skip
        self.url, self.targets, self.rate, self.seconds = url, targets, rate, seconds
        self.threads, self.conditional, self.run = threads, conditional, run
        self.weights = [t.weight for t in targets]
        self.next_index = 0
        self.lock = threading.Lock()
        self.results: list[Results] = []
        self.start = 0.0
        self.run_key = random.getrandbits(16)

    def _take(self) -> int:
        with self.lock:
            index = self.next_index
            self.next_index += 1
            return index

    def _submission(self, rng: random.Random, index: int) -> tuple[bytes, dict[str, str]]:
        lon, lat = rng.choice(CITIES)
        body = {
            "inputs": {
                "lon": round(lon + (rng.random() - 0.5) * 0.1, 5),
                "lat": round(lat + (rng.random() - 0.5) * 0.06, 5),
                "category": rng.choice(CATEGORIES),
                "description": f"soak {self.run} {index}",
            }
        }
        # a /64 of its own per submission: fdXX:XXXX (this run) + the index
        key, n = self.run_key, index
        address = f"fd{key >> 8:02x}:{(key & 0xFF) << 8 | n >> 32 & 0xFF:04x}:{n >> 16 & 0xFFFF:04x}:{n & 0xFFFF:04x}::1"  # noqa: E501
        headers = {"Content-Type": "application/json", "X-Forwarded-For": address}
        return json.dumps(body).encode(), headers

    def _worker(self, seed: int) -> None:
        rng = random.Random(seed)
        client = Client(self.url)
        out = Results()
        self.results.append(out)
        etags = {t.path: t.etag for t in self.targets if t.etag}
        while True:
            index = self._take()
            due = index / self.rate
            if due >= self.seconds:
                break
            wait = self.start + due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -LATE_SECONDS:
                out.late += 1
            target = rng.choices(self.targets, self.weights)[0]
            kind = KINDS.index(target.kind)
            try:
                if target.kind == "submit":
                    body, headers = self._submission(rng, index)
                    status, data, _ = client.send("POST", SUBMIT_PATH, body, headers)
                    if status == 200:
                        out.references.append(json.loads(data)["reference"])
                else:
                    etag = etags.get(target.path)
                    send = (
                        {"If-None-Match": etag} if etag and rng.random() < self.conditional else {}
                    )
                    status, _, answer = client.get(target.path, send)
                    if status == 200 and "etag" in answer:
                        etags[target.path] = answer["etag"]
            except (OSError, http.client.HTTPException) as exc:
                client.close()
                status = 0
                out.errors[type(exc).__name__] += 1
            done = time.perf_counter()
            out.due.append(due)
            out.kind.append(kind)
            out.status.append(status)
            out.latency.append(done - self.start - due)
        client.close()

    def run_for(self, on_minute: Callable[[int, int], None]) -> None:
        self.start = time.perf_counter()
        workers = [
            threading.Thread(target=self._worker, args=(seed,), daemon=True)
            for seed in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        minute = 0
        while any(worker.is_alive() for worker in workers):
            next_mark = self.start + 60 * (minute + 1)
            while time.perf_counter() < next_mark and any(w.is_alive() for w in workers):
                time.sleep(0.5)
            if time.perf_counter() >= next_mark:
                minute += 1
                on_minute(minute, self.next_index)
        for worker in workers:
            worker.join()


# ---------------------------------------------------------------------------- report


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def growth(start: int, end: int) -> str:
    return f"{(end - start) * 100 / start:+.1f} %" if start else "—"


def duration_text(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:.0f} s"


def machine() -> str:
    memory = re.search(r"MemTotal:\s+(\d+)", _read("/proc/meminfo"))
    gib = int(memory[1]) / 1024 / 1024 if memory else 0
    return f"{os.cpu_count()} cores, {gib:.0f} GiB"


def load_average() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("duration", nargs="?", default="30m", type=parse_duration)
    parser.add_argument("rate", nargs="?", default="auto", help="requests/s, or auto")
    parser.add_argument("--url", default=os.environ.get("KMZB_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--db-url", default=os.environ.get("SOAK_DB_URL"))
    parser.add_argument("--mix", default=DEFAULT_MIX, type=parse_mix)
    parser.add_argument("--conditional", type=float, default=0.2, help="share of GETs")
    parser.add_argument("--measure", type=int, default=20, help="seconds of phase 1")
    parser.add_argument("--connections", type=int, default=8, help="wrk's, in phase 1")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the maximum")
    parser.add_argument(
        "--threads", type=int, help="of the generator (default: 32, or rate/5 when more)"
    )
    parser.add_argument("--warmup", type=int, default=10, help="seconds, with a rate given")
    parser.add_argument("--report", type=Path, help="write the Markdown report here too")
    parser.add_argument("--command", default="bench/soak.py", help="shown in the report")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    db_url = args.db_url or subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kmzb"), "db", "url"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    api_port = urlsplit(url).port or 80
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    began = datetime.now(UTC)
    load_before = load_average()

    def threads_for(rate: float) -> int:
        return int(args.threads or min(512, max(32, math.ceil(rate / 5))))

    def say(text: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    with psycopg.connect(db_url, autocommit=True) as pg:
        stack = Stack(api_port, db_url, pg)
        targets = build_targets(Client(url), args.mix)
        measured: MaxResult | None = None
        with tempfile.TemporaryDirectory() as folder:
            mix_file = write_mix_file(targets, Path(folder))
            if args.rate == "auto":
                say(f"phase 1: the maximum, wrk -c{args.connections} for {args.measure} s")
                measured = measure_max(
                    url, mix_file, args.conditional, run, args.measure, args.connections, pg
                )
                rate = measured.rate * args.fraction
                say(f"maximum {measured.rate:.0f} requests/s; the soak runs at {rate:.0f}/s")
            else:
                rate = float(args.rate)
                say(f"warm-up: {args.warmup} s at {rate:.0f}/s")
                Generator(url, targets, rate, args.warmup, threads_for(rate), args.conditional,
                          run + "w").run_for(lambda *_: None)  # fmt: skip

        start_memory = stack.sample()
        per_minute_memory: list[int] = []

        def on_minute(minute: int, sent: int) -> None:
            total = sum(v[3] for v in stack.sample().values())
            per_minute_memory.append(total)
            say(f"minute {minute}: {sent} requests sent, stack PSS {mib(total)} MiB")

        threads = threads_for(rate)
        say(f"phase 2: {args.duration:.0f} s at {rate:.0f} requests/s, {threads} threads")
        generator = Generator(url, targets, rate, args.duration, threads, args.conditional, run)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        generator.run_for(on_minute)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        generator_cpu = (
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
        ) / args.duration
        end_memory = stack.sample()
        if len(per_minute_memory) < math.ceil(args.duration / 60):  # a part minute at the end
            per_minute_memory.append(sum(v[3] for v in end_memory.values()))
        load_after = load_average()

        references = [ref for r in generator.results for ref in r.references]
        found = pg.execute(
            "SELECT count(*) FROM kmzb.reports WHERE public_ref = ANY(%s)", [references]
        ).fetchone()
        stored_found = int(found[0]) if found else 0
        stored_marked = count_rows(pg, f"soak {run} %")

    # ------------------------------------------------------------------ the figures
    due = [d for r in generator.results for d in r.due]
    kinds = [k for r in generator.results for k in r.kind]
    statuses = [s for r in generator.results for s in r.status]
    latencies = [v for r in generator.results for v in r.latency]
    late = sum(r.late for r in generator.results)
    exceptions: Counter[str] = Counter()
    for r in generator.results:
        exceptions.update(r.errors)
    by_status = Counter(statuses)
    failed = sum(n for s, n in by_status.items() if not (200 <= s < 300 or s == 304))
    limited = by_status.get(429, 0)
    minutes = max(1, int(-(-args.duration // 60)))

    lines: list[str] = []
    add = lines.append
    add(
        f"### Soak: {duration_text(args.duration)} of mixed reads and submissions"
        + f" at {rate:.0f} requests/s"
    )
    add("")
    add(f"- Command: `{args.command}` against {url} ({began:%Y-%m-%d %H:%M} UTC).")
    add(f"- Machine: {machine()}; load average {load_before} before, {load_after} after"
        " (the load generator runs on the same machine).")  # fmt: skip
    if measured is not None:
        c = measured.counts
        add(
            f"- Maximum (phase 1, wrk {args.connections} connections, {args.measure} s, same mix): "
            f"**{measured.rate:.0f} requests/s**, p50 {ms(measured.p50)} ms, p99 "
            f"{ms(measured.p99)} ms; answers: {c.get('ok', 0)} 2xx, {c.get('not_modified', 0)} "
            f"304, {c.get('limited', 0)} 429, {c.get('failed', 0)} other, "
            f"{c.get('errors', 0)} socket errors; submissions accepted "
            f"{c.get('submitted', 0)}, rows stored {measured.stored}. "
            f"The soak runs at {args.fraction:g} of it."
        )
    else:
        add(f"- Rate given: {rate:.0f} requests/s (after a {args.warmup} s warm-up).")
    share = ", ".join(f"{k} {v:g} %" for k, v in args.mix.items())
    add(f"- Mix: {share}; {args.conditional:.0%} of the reads conditional (If-None-Match).")
    total = len(statuses)
    add(
        f"- Sent {total} requests in {args.duration:.0f} s ({total / args.duration:.1f}/s); "
        f"{late} sent more than {LATE_SECONDS * 1000:.0f} ms after they were due "
        f"({threads} generator threads, using {generator_cpu:.0%} of a core). "
        "Latency counts from when a request was due."
    )
    add("")
    add(
        "**Errors**: "
        + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(by_status.items()))
        + f". Non-2xx/304: **{failed}** (of which 429: {limited})"
        + (f"; no answer: {dict(exceptions)}" if exceptions else "")
        + "."
        + (
            " (429s: does the stack trust X-Forwarded-For? KMZB_TRUSTED_PROXY_HEADER)"
            if limited
            else ""
        )
    )
    add("")
    ok = [200 <= s < 300 or s == 304 for s in statuses]
    by_kind: dict[int, list[float]] = defaultdict(list)
    bad_by_kind: Counter[int] = Counter()
    by_minute: dict[int, list[float]] = defaultdict(list)
    bad_by_minute: Counter[int] = Counter()
    accepted_by_minute: Counter[int] = Counter()
    submit = KINDS.index("submit")
    for i in range(total):
        minute = int(due[i] // 60)
        by_kind[kinds[i]].append(latencies[i])
        by_minute[minute].append(latencies[i])
        if not ok[i]:
            bad_by_kind[kinds[i]] += 1
            bad_by_minute[minute] += 1
        elif kinds[i] == submit and statuses[i] == 200:
            accepted_by_minute[minute] += 1
    add("| kind | requests | p50 ms | p99 ms | max ms | not 2xx/304 |")
    add("|---|---:|---:|---:|---:|---:|")
    for index, kind in enumerate(KINDS):
        values = by_kind.get(index)
        if values:
            add(
                f"| {kind} | {len(values)} | {ms(percentile(values, 0.5))} | "
                f"{ms(percentile(values, 0.99))} | {ms(max(values))} | {bad_by_kind[index]} |"
            )
    add("")
    add(
        "| minute | requests/s | submissions/s | p50 ms | p99 ms | max ms | errors "
        "| stack PSS MiB |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for minute in range(minutes):
        values = by_minute.get(minute, [])
        span = min((minute + 1) * 60, args.duration) - minute * 60
        memory = mib(per_minute_memory[minute]) if minute < len(per_minute_memory) else "—"
        add(
            f"| {minute + 1} | {len(values) / span:.1f} | "
            f"{accepted_by_minute[minute] / span:.1f} | "
            f"{ms(percentile(values, 0.5))} | {ms(percentile(values, 0.99))} | "
            f"{ms(max(values, default=0))} | {bad_by_minute[minute]} | {memory} |"
        )
    add("")
    add(
        "| process | count start→end | RSS start MiB | RSS end MiB | RSS growth "
        "| private MiB start→end | private growth | PSS MiB start→end | PSS growth |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = [0] * 6  # RSS, private, PSS: start, end
    for role in list(dict.fromkeys([*start_memory, *end_memory])):
        n0, *first = start_memory.get(role, (0, 0, 0, 0))
        n1, *last = end_memory.get(role, (0, 0, 0, 0))
        for i in range(3):
            totals[2 * i] += first[i]
            totals[2 * i + 1] += last[i]
        add(
            f"| {role} | {n0}→{n1} | {mib(first[0])} | {mib(last[0])} | "
            f"{growth(first[0], last[0])} | {mib(first[1])}→{mib(last[1])} | "
            f"{growth(first[1], last[1])} | {mib(first[2])}→{mib(last[2])} | "
            f"{growth(first[2], last[2])} |"
        )
    add(
        f"| **whole stack** | | {mib(totals[0])} | {mib(totals[1])} | "
        f"{growth(totals[0], totals[1])} | {mib(totals[2])}→{mib(totals[3])} | "
        f"{growth(totals[2], totals[3])} | {mib(totals[4])}→{mib(totals[5])} | "
        f"**{growth(totals[4], totals[5])}** |"
    )
    add("")
    add(
        "RSS is VmRSS from /proc: it counts every shared page a process has touched, so "
        "PostgreSQL's shared buffers are counted once per backend and the summed RSS grows as "
        "backends touch more of them. Private (RssAnon) is the memory a leak grows; PSS "
        "(smaps_rollup) shares each shared page among its users, so the stack's summed PSS "
        "is its real footprint: the memory target is read on it."
    )
    add("")
    accepted_total = len(references)
    lost = accepted_total - stored_found
    add(
        f"**No loss**: {accepted_total} submissions accepted (200 with a reference), "
        f"{stored_found} of them are rows of kmzb.reports"
        + (" — every accepted submission is stored." if lost == 0 else f" — **{lost} LOST**.")
        + f" Rows carrying this run's marker: {stored_marked}"
        + (
            f" ({stored_marked - stored_found} stored whose answer did not arrive)."
            if stored_marked != stored_found
            else "."
        )
    )

    max_failed = max_lost = 0
    if measured is not None:
        c = measured.counts
        max_failed = c.get("limited", 0) + c.get("failed", 0) + c.get("errors", 0)
        # wrk stops counting at its deadline with up to one request per connection in
        # flight: those may be stored without their answer counted, never the reverse
        max_lost = max(0, c.get("submitted", 0) - measured.stored)

    def percent(start: int, end: int) -> float:
        return (end - start) * 100 / start if start else 0.0

    rss, private, pss = (percent(totals[2 * i], totals[2 * i + 1]) for i in range(3))
    verdicts = [
        (
            "errors",
            failed + max_failed == 0,
            f"{failed} non-2xx/304 answers, {max_failed} in phase 1",
        ),
        ("no loss", lost + max_lost == 0, f"{lost} lost, {max_lost} in phase 1"),
        (
            "memory",
            0 < totals[4] and pss < GROWTH_TARGET,  # no process found: not measured
            f"whole stack PSS {pss:+.1f} % (RSS {rss:+.1f} %, private {private:+.1f} %); "
            "target < 10 %",
        ),
    ]
    add("")
    add(
        "**Targets**: "
        + "; ".join(f"{name} {'met' if ok else 'MISSED'} ({what})" for name, ok, what in verdicts)
        + "."
    )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
