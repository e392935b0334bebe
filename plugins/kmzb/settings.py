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
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str | None  # production: the OIDC issuer's keys; else the local key pair
    reporter_salt: str | None  # None: a generated salt kept in var/
    daily_report_limit: int
    trusted_proxy_header: str | None  # e.g. X-Forwarded-For, only behind a proxy
    public_url: str  # where clients reach the API (links in answers)

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
        jwt_issuer=os.environ.get("KMZB_JWT_ISSUER", "kmzb-dev"),
        jwt_audience=os.environ.get("KMZB_JWT_AUDIENCE", "kmzb"),
        jwks_url=os.environ.get("KMZB_JWKS_URL") or None,
        reporter_salt=os.environ.get("KMZB_REPORTER_SALT") or None,
        daily_report_limit=int(os.environ.get("KMZB_DAILY_REPORT_LIMIT", 1)),
        trusted_proxy_header=os.environ.get("KMZB_TRUSTED_PROXY_HEADER") or None,
        public_url=os.environ.get("KMZB_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
    )
