"""`kmzb load all`: every real data set, in dependency order."""

from __future__ import annotations

from pathlib import Path

from kmzb.loaders.common import Reporter, TableSummary
from kmzb.loaders.places import load_places
from kmzb.loaders.police_units import load_police_units
from kmzb.loaders.statistics import load_statistics
from kmzb.loaders.units import UnitInputs, load_units


def load_all(url: str, data_dir: Path | None, report: Reporter) -> list[TableSummary]:
    summaries = load_units(url, UnitInputs.from_dir(data_dir), report)
    summaries += load_police_units(url, data_dir, None, report)
    summaries += load_statistics(url, data_dir, None, None, report)
    summaries += load_places(url, report)  # GeoNames, for the offline basemap
    return summaries
