"""CSV output that a spreadsheet opens as text, never as a formula (OWASP: CSV injection).

pygeoapi's `f=csv` writes feature properties as they are, so a citizen's
description starting with `=HYPERLINK(...)` would run as a formula in the
spreadsheet of whoever opens the download. pygeoapi 0.24 looks its CSV
formatter up by name in `PLUGINS['formatter']['CSV']` for every items request;
`install()` points that entry at `SafeCSVFormatter`, which prefixes a single
quote to every text cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return. Numbers (ints, floats, including negative ones) are written
as numbers: a spreadsheet reads `-3.5` as a number, not a formula, and quoting
it would turn it into text. The guard refuses to install over any other
pygeoapi version or formatter, so an upgrade is checked, not silently missed.

Upstream: pygeoapi's CSVFormatter could escape formula prefixes itself (an
option, default on); this module goes away then.
"""

from __future__ import annotations

import csv

from pygeoapi.formatter.csv_ import CSVFormatter

SUPPORTED_PYGEOAPI = "0.24."
STOCK_FORMATTER = "pygeoapi.formatter.csv_.CSVFormatter"
SAFE_FORMATTER = f"{__name__}.SafeCSVFormatter"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text cell that would start a formula, prefixed with a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeCSVFormatter(CSVFormatter):
    """pygeoapi's CSV formatter with formula prefixes neutralised in text cells."""

    def _add_feature(self, writer: csv.DictWriter, feature: dict, is_point: bool) -> None:
        feature = {
            **feature,
            "properties": {k: neutralise(v) for k, v in feature["properties"].items()},
        }
        super()._add_feature(writer, feature, is_point)


def guard_problem(version: str, current: str | None) -> str | None:
    """Why SafeCSVFormatter cannot replace `current` in this pygeoapi (None: it can)."""
    if version.startswith(SUPPORTED_PYGEOAPI) and current in (STOCK_FORMATTER, SAFE_FORMATTER):
        return None
    return (
        f"kmzb.service.csv_safety supports pygeoapi {SUPPORTED_PYGEOAPI}x with its stock CSV "
        f"formatter, not pygeoapi {version} with {current!r}: check that formula prefixes "
        "are still neutralised, then update the guard"
    )
