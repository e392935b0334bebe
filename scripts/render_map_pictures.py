#!/usr/bin/env python3
"""Render the pictures of the styled map in docs/ with the real QGIS Server.

    .venv/bin/python scripts/render_map_pictures.py [--db-name kmzb]

Starts qgis_mapserver (the KMZB project and access plugin) on a free port over
the named database of the configured server (embedded or DATABASE_URL), asks
it for GetMap and GetLegendGraphic, and writes the PNGs into docs/. The
database should hold the real data (`kmzb load all`) and reports (a real
database, or `kmzb load demo`); run `kmzb refresh-aggregates` first.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

import requests

from kmzb import qgis_launcher
from kmzb.settings import PROJECT_ROOT, load_settings

DOCS = PROJECT_ROOT / "docs"
# (file, layers, bbox in EPSG:2180 as minE, minN, maxE, maxN, width, height, extra)
COUNTRY = (160000.0, 120000.0, 880000.0, 790000.0)
KRAKOW_REGION = (536000.0, 214000.0, 596000.0, 274000.0)  # Kraków and its neighbours
KRAKOW_CENTRE = (564000.0, 242000.0, 568000.0, 246000.0)  # the Old Town, 4 km
PICTURES = [
    ("map-country-crime-rates.png", "przestepczosc_powiaty,wojewodztwa", COUNTRY, 900, 840),
    ("map-country-threats.png", "wojewodztwa,zagrozenia", COUNTRY, 900, 840),
    (
        "map-krakow-crime-rates-threats.png",
        "przestepczosc_powiaty,granice,zagrozenia",
        KRAKOW_REGION,
        800,
        800,
    ),
    ("map-krakow-centre-threats.png", "gminy,zagrozenia", KRAKOW_CENTRE, 800, 800),
]
LEGENDS = [
    ("map-legend-threats.png", "zagrozenia_punkty"),
    ("map-legend-crime-rates.png", "przestepczosc_powiaty"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(base: str, params: dict[str, str | int], path: Path) -> None:
    answer = requests.get(f"{base}/ows/", params=params, timeout=300)
    if answer.status_code != 200 or answer.headers.get("Content-Type") != "image/png":
        raise SystemExit(f"{path.name}: {answer.status_code} {answer.text[:300]}")
    path.write_bytes(answer.content)
    print(f"wrote {path.relative_to(PROJECT_ROOT)} ({len(answer.content) // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-name", help="database to draw (default: KMZB_DB_NAME or kmzb)")
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        service = qgis_launcher.write_service_file(
            settings, folder / "pg_service.conf", args.db_name
        )
        port = free_port()
        process = qgis_launcher.start(
            service, port, runtime_dir=folder / "runtime", log=folder / "server.log"
        )
        base = f"http://127.0.0.1:{port}"
        try:
            qgis_launcher.wait_until_ready(process, base)
            for name, layers, (e0, n0, e1, n1), width, height in PICTURES:
                params = {
                    "SERVICE": "WMS",
                    "VERSION": "1.3.0",
                    "REQUEST": "GetMap",
                    "LAYERS": layers,
                    "STYLES": "",
                    "CRS": "EPSG:2180",
                    "BBOX": f"{n0},{e0},{n1},{e1}",  # EPSG:2180 axis order: northing first
                    "WIDTH": width,
                    "HEIGHT": height,
                    "FORMAT": "image/png",
                    "TRANSPARENT": "FALSE",
                    "BGCOLOR": "0xF4F6F8",
                }
                fetch(base, params, DOCS / name)
            for name, layer in LEGENDS:
                params = {
                    "SERVICE": "WMS",
                    "VERSION": "1.3.0",
                    "REQUEST": "GetLegendGraphic",
                    "LAYER": layer,
                    "FORMAT": "image/png",
                    "SLD_VERSION": "1.1.0",
                    "LAYERTITLE": "TRUE",
                }
                fetch(base, params, DOCS / name)
        finally:
            qgis_launcher.stop(process)


if __name__ == "__main__":
    main()
