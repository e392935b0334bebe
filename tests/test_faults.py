"""Faults: a worker killed and PostgreSQL restarted under load lose nothing and answer no 500.

On a PostgreSQL cluster of its own (initdb in a temporary folder, on a free port,
with the same settings as the embedded cluster of kmzb.db.cluster: the shared
cluster on 5433 is never touched), migrated and loaded with the real data, the
real app runs under gunicorn with three workers. Eight citizens' threads submit
reports, each from its own address and with its own Idempotency-Key, retrying
with the same key after a 503 or a reset connection, while the test SIGKILLs
gunicorn workers and restarts PostgreSQL in immediate mode; a reader reads
meanwhile. The app's stdout and stderr (pygeoapi's and gunicorn's logs) go to a
file, which the first test reads for the lines of client errors.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests

import throwaway_cluster
from kmzb.settings import Settings
from throwaway_cluster import OwnCluster, free_port

SUBMISSIONS = 320
THREADS = 8
# after how many accepted submissions each fault strikes
# ("outage": stopped in immediate mode, reads made while it is down, then started)
FAULTS = ((50, "kill"), (110, "restart"), (190, "kill"), (250, "outage"))
READS_WHILE_DOWN = (
    "/collections/threats/items?limit=5&f=json",
    "/reports/{reference}",
    "/open311/v2/requests/{reference}.json",  # Open311's own error list
)
DB_NAME = "kmzb_faults"


@pytest.fixture(scope="module")
def own_cluster(settings: Settings, data_dir: Path) -> Iterator[OwnCluster]:
    with throwaway_cluster.own_cluster(settings, data_dir, DB_NAME, "kmzb-faults-") as own:
        yield own


@dataclass
class App:
    base: str
    process: subprocess.Popen
    log: Path

    def workers(self) -> list[int]:
        """The gunicorn master's children: its workers."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def app(own_cluster: OwnCluster) -> Iterator[App]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": own_cluster.url,
            "KMZB_API_DATABASE_URL": own_cluster.api_url,
            "KMZB_API_PORT": str(port),
            "KMZB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PYGEOAPI_OPENAPI": str(own_cluster.folder / "openapi.yml"),
            "KMZB_TRUSTED_PROXY_HEADER": "X-Forwarded-For",
            "KMZB_BURST_THRESHOLD": "0",  # many reports in one city within minutes
            "PYTHONUNBUFFERED": "1",
        }
    )
    with throwaway_cluster.gunicorn_app(own_cluster.folder, env, port, workers=3) as process:
        yield App(f"http://127.0.0.1:{port}", process, own_cluster.folder / "app.log")


KRAKOW = {"lon": 19.9383, "lat": 50.0614}


def submit(app: App, inputs: dict, address: str, key: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": address}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(
        f"{app.base}/processes/submit-threat/execution",
        json={"inputs": inputs},
        headers=headers,
        timeout=60,
    )


def test_a_clients_mistake_logs_one_line_without_traceback(app: App) -> None:
    mark = app.log_size()
    mistakes = [
        submit(app, {**KRAKOW, "category": "no_such_category"}, "198.51.100.1"),  # 400
        requests.get(f"{app.base}/collections/no-such-collection?f=json", timeout=30),  # 404
        requests.get(f"{app.base}/collections/gminy/items?limit=abc&f=json", timeout=30),
        requests.get(f"{app.base}/reports/AAAA-BBBB-CCCC", timeout=30),  # 404, our route
        submit(app, {**KRAKOW, "category": "begging"}, "198.51.100.2", "k" * 300),
    ]
    assert submit(app, {**KRAKOW, "category": "begging"}, "198.51.100.3").status_code == 200
    mistakes.append(submit(app, {**KRAKOW, "category": "begging"}, "198.51.100.3"))  # 429
    statuses = [answer.status_code for answer in mistakes]
    assert all(400 <= status < 500 for status in statuses), statuses
    assert 429 in statuses and 404 in statuses and 400 in statuses
    time.sleep(0.5)
    logged = app.log_since(mark)
    assert "Traceback" not in logged, logged
    lines = [line for line in logged.splitlines() if line.strip()]
    assert len(lines) <= len(mistakes), logged
    # the lines there are say what the client got
    for line in lines:
        assert re.search(r" 4\d\d ", line), line
    assert any(" 429 " in line for line in lines), logged


def test_faults_under_load_lose_nothing_and_answer_no_500(
    app: App, own_cluster: OwnCluster
) -> None:
    work: queue.Queue[tuple[str, str, dict]] = queue.Queue()
    for n in range(SUBMISSIONS):
        inputs = {
            "lon": 19.90 + (n % 40) * 0.002,
            "lat": 50.03 + (n // 40) * 0.006,
            "category": "illegal_dumping",
            "description": f"fault test {n}",
        }
        work.put((f"10.{n // 65536}.{(n // 256) % 256}.{n % 256}", str(uuid.uuid4()), inputs))
    accepted: dict[str, str] = {}  # key -> reference
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def citizen() -> None:
        while True:
            try:
                address, key, inputs = work.get_nowait()
            except queue.Empty:
                return
            for _attempt in range(30):
                try:
                    answer = submit(app, inputs, address, key)
                except requests.ConnectionError:
                    with lock:
                        outcomes["reset"] += 1
                    time.sleep(0.2)
                    continue  # the same key again: safe
                with lock:
                    outcomes[str(answer.status_code)] += 1
                if answer.status_code == 200:
                    reference = answer.json()["reference"]
                    with lock:
                        assert accepted.get(key, reference) == reference
                        accepted[key] = reference
                    break
                if answer.status_code == 503:
                    retry_after = answer.headers.get("Retry-After", "")
                    body = answer.json()
                    with lock:
                        if not retry_after.isdigit() or "niedostępna" not in body["message"]["pl"]:
                            unexpected.append(f"503 without Retry-After or pl/en: {answer.text}")
                    time.sleep(1)
                    continue
                with lock:
                    unexpected.append(f"{answer.status_code}: {answer.text[:300]}")
                break

    reads: Counter[str] = Counter()

    def reader() -> None:
        while not done.is_set():
            for path in (
                "/collections/threats/items?limit=5&f=json",
                "/collections/gminy/items/1261011?f=json",
            ):
                try:
                    answer = requests.get(f"{app.base}{path}", timeout=60)
                except requests.ConnectionError:
                    with lock:
                        reads["reset"] += 1
                    continue
                with lock:
                    reads[str(answer.status_code)] += 1
                    if answer.status_code == 503 and not answer.headers.get("Retry-After"):
                        unexpected.append(f"GET {path}: 503 without Retry-After")
                    elif answer.status_code not in (200, 503):
                        unexpected.append(f"GET {path}: {answer.status_code} {answer.text[:300]}")
            time.sleep(0.1)

    faults: list[str] = []
    down_reads: list[tuple[str, int, str | None, str]] = []
    pool = ThreadPoolExecutor(len(READS_WHILE_DOWN))

    def saboteur() -> None:
        for after, fault in FAULTS:
            while len(accepted) < after and not done.is_set():
                time.sleep(0.05)
            if done.is_set():
                return
            if fault == "kill":
                victim = app.workers()[0]
                os.kill(victim, signal.SIGKILL)
                faults.append(f"kill {victim}")
            elif fault == "restart":
                started = time.monotonic()
                own_cluster.pg_ctl("restart", "-m", "immediate", "-w")
                faults.append(f"restart {time.monotonic() - started:.1f} s")
            else:
                own_cluster.pg_ctl("stop", "-m", "immediate", "-w")
                reference = next(iter(accepted.values()))
                paths = [path.format(reference=reference) for path in READS_WHILE_DOWN]
                answers = list(
                    pool.map(lambda p: requests.get(f"{app.base}{p}", timeout=60), paths)
                )
                own_cluster.pg_ctl("start", "-w")
                faults.append("outage")
                for path, answer in zip(paths, answers, strict=True):
                    down_reads.append(
                        (path, answer.status_code, answer.headers.get("Retry-After"), answer.text)
                    )

    threads = [threading.Thread(target=citizen) for _ in range(THREADS)]
    helpers = [threading.Thread(target=reader), threading.Thread(target=saboteur)]
    for thread in threads + helpers:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in helpers:
        thread.join()

    figures = (
        f"submissions {SUBMISSIONS}, faults {faults}, answers {dict(outcomes)}, "
        f"accepted {len(accepted)}, reads {dict(reads)}, "
        f"reads while down {[(p, s) for p, s, _, _ in down_reads]}"
    )
    print(figures)
    pool.shutdown()
    assert len(faults) == len(FAULTS), figures
    # reads while the database is down: 503 with Retry-After and a pl/en body, no 500
    assert [(path, status) for path, status, _, _ in down_reads] == [
        (path, 503) for path, _, _, _ in down_reads
    ], down_reads
    for _path, _status, retry_after, text in down_reads:
        assert retry_after is not None and 0 < int(retry_after) <= 60
        # the body is JSON (pygeoapi's answers escape non-ASCII letters): read it as JSON
        body = json.loads(text)
        if isinstance(body, list):  # Open311: [{code, description, field, pl, en}]
            (body,) = body
            assert body["code"] == 503
            body["message"] = {"pl": body["pl"], "en": body["en"]}
        assert "unavailable" in body["message"]["en"]
        assert "niedostępna" in body["message"]["pl"]
        assert body["description"] in (body["message"]["en"], body["message"]["pl"])
    assert unexpected == [], figures
    assert outcomes["500"] == 0 and reads["500"] == 0, figures
    assert outcomes["429"] == 0, figures  # one report per address, retries under their key
    assert len(accepted) == SUBMISSIONS, figures  # nothing lost
    # every accepted reference reads back, and no retry made a second report
    with psycopg.connect(own_cluster.url) as conn:
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT public_ref FROM kmzb.reports WHERE description LIKE 'fault test %'"
            )
        ]
    assert sorted(stored) == sorted(accepted.values()), figures
    # and over HTTP, after the faults
    for reference in list(accepted.values())[:: SUBMISSIONS // 8]:
        assert requests.get(f"{app.base}/reports/{reference}", timeout=30).status_code == 200
