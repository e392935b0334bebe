"""Settings from the environment: the bottom layer, imported by everything else."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The checkout: plugins/kmzb/settings.py -> three levels up.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("KMZB_VAR_DIR", PROJECT_ROOT / "var"))
SQL_DIR = PROJECT_ROOT / "sql"

DEFAULT_EMBEDDED_PORT = 5433
DEFAULT_DB_NAME = "kmzb"


@dataclass(frozen=True)
class Settings:
    database_url: str | None  # None means: use the embedded cluster
    embedded_port: int
    db_name: str
    data_dir: Path | None
    api_host: str
    api_port: int

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def data_dir_default() -> Path | None:
    """KMZB_DATA_DIR, else the shared/ folder beside the checkout if it is there."""
    value = os.environ.get("KMZB_DATA_DIR")
    if value:
        return Path(value)
    beside = PROJECT_ROOT.parent / "shared" / "data"
    return beside if beside.is_dir() else None


def load_settings() -> Settings:
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        embedded_port=int(os.environ.get("KMZB_PG_PORT", DEFAULT_EMBEDDED_PORT)),
        db_name=os.environ.get("KMZB_DB_NAME", DEFAULT_DB_NAME),
        data_dir=data_dir_default(),
        api_host=os.environ.get("KMZB_API_HOST", "127.0.0.1"),
        api_port=int(os.environ.get("KMZB_API_PORT", 5000)),
    )
