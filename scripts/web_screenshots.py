#!/usr/bin/env python3
"""Refresh the web client's screenshots in docs/.

    .venv/bin/python scripts/web_screenshots.py                # run the browser tests, copy
    .venv/bin/python scripts/web_screenshots.py --url http://127.0.0.1:5000
        # the same, and the map picture from a running service with real data (`make run`
        # with `kmzb load demo`), which shows more than the tests' fresh database

The browser tests (tests/test_web.py, tests/test_web_follow.py) save their screenshots in
var/screenshots/; this script copies the best of them to docs/web-*.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "var" / "screenshots"
DOCS = ROOT / "docs"
CHOSEN = {
    "map-report.png": "web-map.png",
    "report-form.png": "web-report-form.png",
    "area-summary.png": "web-area-summary.png",
    "police-queue-unit.png": "web-police-queue.png",
    "follow-area.png": "web-follow-area.png",
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=pl",
]


def run_tests() -> None:
    env = dict(os.environ)
    env.setdefault("KMZB_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pytest", "-q", "tests/test_web.py", "tests/test_web_follow.py"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def live_map(url: str, target: Path) -> None:
    """The national map, then a city at street level with a report opened, from a live service."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("KMZB_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860}, locale="pl-PL")
        page.goto(f"{url.rstrip('/')}/map/")
        page.wait_for_function(
            "() => { const m = document.getElementById('map'); "
            "return m.dataset.rendered && m.dataset.loading !== '1'; }",
            timeout=60_000,
        )
        page.wait_for_timeout(1500)
        page.screenshot(path=str(target))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service to take the map picture from")
    parser.add_argument("--no-tests", action="store_true", help="copy what var/ holds")
    args = parser.parse_args()
    if not args.no_tests:
        run_tests()
    DOCS.mkdir(exist_ok=True)
    for source, target in CHOSEN.items():
        shutil.copyfile(SHOTS / source, DOCS / target)
        print(f"docs/{target} <- var/screenshots/{source}")
    if args.url:
        live_map(args.url, DOCS / "web-map.png")
        print(f"docs/web-map.png <- {args.url}/map/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
