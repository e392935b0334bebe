"""What every loader shares: reading and checking input files, progress, summaries."""

from __future__ import annotations

import csv
import gzip
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from kmzb.domain.crs_names import WGS84_NAMES
from kmzb.errors import LoadError

# Poland with a margin, in degrees: coordinates outside it mean a wrong CRS.
POLAND_LON = (13.5, 24.5)
POLAND_LAT = (48.8, 55.2)

# what a loader tells its progress to, a line at a time (click.echo; a no-op in tests)
ProgressCallback = Callable[[str], None]


@dataclass
class TableSummary:
    """Counts for the closing line of a loader, per table."""

    table: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.table}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        return text + "".join(f"; {note}" for note in self.notes)


class Progress:
    """Prints what a loader is doing and how long each step took."""

    def __init__(self, echo: ProgressCallback) -> None:
        self.echo = echo
        self.started = time.monotonic()

    def step(self, message: str) -> None:
        self.echo(f"  [{time.monotonic() - self.started:6.1f}s] {message}")


def resolve_input(data_dir: Path | None, given: Path | None, relative: str) -> Path:
    """The file to read: the path given on the command line, else KMZB_DATA_DIR/relative."""
    if given is not None:
        path = given
    elif data_dir is not None:
        path = data_dir / relative
    else:
        raise LoadError(f"no path given for {relative} and KMZB_DATA_DIR is not set")
    if not path.is_file() and given is None:
        # the project ships its copy of the data gzipped (data/)
        compressed = path.with_name(path.name + ".gz")
        if compressed.is_file():
            return compressed
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    return path


def open_text(path: Path) -> TextIO:
    """A file as UTF-8 text; a .gz file is decompressed on the way."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_csv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    try:
        with open_text(path) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [name for name in required if name not in header]
            if missing:
                raise LoadError(f"{path.name}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise LoadError(f"{path.name}: malformed CSV: {exc}") from exc
    if not rows:
        raise LoadError(f"{path.name}: no rows")
    return rows


def _walk_positions(coords: Any) -> Iterable[tuple[float, float]]:
    if isinstance(coords, list) and coords and isinstance(coords[0], int | float):
        yield float(coords[0]), float(coords[1])
    elif isinstance(coords, list):
        for part in coords:
            yield from _walk_positions(part)


def read_geojson(path: Path, required: Iterable[str]) -> list[dict[str, Any]]:
    """Features of a GeoJSON file in WGS84 with the required properties present."""
    try:
        with open_text(path) as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise LoadError(f"{path.name}: not valid GeoJSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise LoadError(f"{path.name}: expected a GeoJSON FeatureCollection")
    crs = (document.get("crs") or {}).get("properties", {}).get("name")
    if crs is not None and crs not in WGS84_NAMES:
        raise LoadError(f"{path.name}: CRS {crs} is not WGS84; reproject to EPSG:4326 first")
    features = document.get("features") or []
    if not features:
        raise LoadError(f"{path.name}: no features")
    required = list(required)
    for number, feature in enumerate(features, start=1):
        props = feature.get("properties") or {}
        missing = [name for name in required if props.get(name) in (None, "")]
        if missing:
            raise LoadError(f"{path.name}: feature {number} lacks {', '.join(missing)}")
        geometry = feature.get("geometry") or {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise LoadError(f"{path.name}: feature {number} is not a polygon")
        for lon, lat in _walk_positions(geometry.get("coordinates")):
            if not (
                POLAND_LON[0] <= lon <= POLAND_LON[1] and POLAND_LAT[0] <= lat <= POLAND_LAT[1]
            ):
                raise LoadError(
                    f"{path.name}: feature {number} has coordinates ({lon}, {lat}) outside "
                    "Poland in WGS84; is the file in another CRS?"
                )
    return features


def upsert_counts(rows: Iterable[tuple[bool]], total: int, table: str) -> TableSummary:
    """Summary from `RETURNING (xmax = 0)` of an upsert that skips unchanged rows."""
    flags = [row[0] for row in rows]
    inserted = sum(1 for flag in flags if flag)
    updated = len(flags) - inserted
    return TableSummary(table, inserted, updated, total - len(flags))


def run_in_transaction(
    url: str, work: Callable[[psycopg.Connection], list[TableSummary]]
) -> list[TableSummary]:
    """Run a loader's writes in one transaction: a failure leaves the database as it was."""
    try:
        with psycopg.connect(url) as conn:
            with conn.transaction():
                return work(conn)
    except psycopg.Error as exc:
        raise LoadError(f"the database refused the data, nothing was changed: {exc}") from exc
