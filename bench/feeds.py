"""Atom feed requests per second, with and without conditional GET, against a running app.

    .venv/bin/kmzb run &                      # or any running KMZB (make run)
    .venv/bin/python bench/feeds.py [--url http://127.0.0.1:5000] [--duration 10]

For each feed (the whole country, a gmina, a powiat, a bbox, one report's history) it
runs wrk (Debian) twice: plain GETs, which render the feed each time, and GETs with the
feed's ETag in If-None-Match, which the app answers 304 without rendering. Prints a
Markdown table: requests/s, p50 and p99 latency of each, and the ratio.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from urllib.parse import urlencode

import feedparser
import requests

FEEDS = {
    "Poland": {},
    "gmina Kraków": {"gmina": "1261011"},
    "powiat Kraków": {"powiat": "1261"},
    "bbox Kraków": {"bbox": "19.79,49.97,20.22,50.13"},
    "województwo 12, 200 entries": {"wojewodztwo": "12", "limit": "200"},
}


def wrk(url: str, duration: int, connections: int, header: str | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if header:
        command += ["-H", header]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"wrk gave no rate:\n{out}")
    latency = {}
    for percent in ("50", "99"):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"wrk gave no p{percent}:\n{out}")
        value, unit = float(found.group(1)), found.group(2)
        latency[percent] = value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} answers were errors:\n{out}")
    return {"rps": float(rate.group(1)), "p50": latency["50"], "p99": latency["99"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/feeds.py needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    base = args.url.rstrip("/")
    feeds = {name: f"{base}/feeds/threats.atom?{urlencode(q)}" for name, q in FEEDS.items()}
    newest = feedparser.parse(requests.get(feeds["gmina Kraków"], timeout=60).content)
    if newest.entries:  # the newest report in Kraków: its own history feed
        ref = newest.entries[0].id.split("reports/")[1].split("/")[0]
        feeds[f"report {ref}"] = f"{base}/reports/{ref}/feed.atom"
    print(f"{args.connections} connections, {args.duration} s each, {base}\n")
    print(
        "| feed | entries | bytes | 200 req/s | p50 ms | p99 ms "
        "| 304 req/s | p50 ms | p99 ms | 304/200 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, url in feeds.items():
        first = requests.get(url, timeout=60)
        first.raise_for_status()
        entries = len(feedparser.parse(first.content).entries)
        etag = first.headers["ETag"]
        if requests.get(url, headers={"If-None-Match": etag}, timeout=60).status_code != 304:
            raise RuntimeError(f"{url}: If-None-Match {etag} was not answered 304")
        full = wrk(url, args.duration, args.connections, None)
        cached = wrk(url, args.duration, args.connections, f"If-None-Match: {etag}")
        print(
            f"| {name} | {entries} | {len(first.content)} | {full['rps']:.0f} "
            f"| {full['p50']:.1f} | {full['p99']:.1f} | {cached['rps']:.0f} "
            f"| {cached['p50']:.1f} | {cached['p99']:.1f} | {cached['rps'] / full['rps']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
