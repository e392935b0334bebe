"""`kmzb load all`: every real data set, in dependency order."""

from __future__ import annotations

from pathlib import Path

from kmzb.loaders.common import ProgressCallback, TableSummary
from kmzb.loaders.places import load_places
from kmzb.loaders.police_units import load_police_units
from kmzb.loaders.statistics import load_statistics
from kmzb.loaders.territorial_units import TerritorialUnitInputs, load_territorial_units


def load_all(url: str, data_dir: Path | None, echo: ProgressCallback) -> list[TableSummary]:
    summaries = load_territorial_units(url, TerritorialUnitInputs.from_dir(data_dir), echo)
    summaries += load_police_units(url, data_dir, None, echo)
    summaries += load_statistics(url, data_dir, None, None, echo)
    summaries += load_places(url, echo)  # GeoNames, for the offline basemap
    return summaries
