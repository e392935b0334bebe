"""Settings from the environment: the bottom layer, imported by everything else.

Where the service's files are (configuration, migrations, QGIS project, web
build, shipped data) is found, never assumed from the checkout's layout:

1. `KMZB_HOME`, a folder holding them (the docker image, a packaged install);
2. else the checkout this module runs from (an editable install, `make run`);
3. else the copy bundled in the installed package (`pip install .`), under
   `kmzb/share/`.

Mutable state (the embedded cluster, development keys, generated files) goes
to `KMZB_VAR_DIR`, else `var/` in the home or the checkout, else
`$XDG_STATE_HOME/kmzb` for an installed package.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_SHARE = PACKAGE_DIR / "share"  # filled at build time (see setup.py)


def _is_home(folder: Path) -> bool:
    return (folder / "pygeoapi-config.yml").is_file() and (folder / "sql").is_dir()


def find_home() -> Path:
    """The folder with pygeoapi-config.yml, sql/, qgis_projects/, web/dist, data/."""
    configured = os.environ.get("KMZB_HOME")
    if configured:
        return Path(configured).resolve()
    checkout = PACKAGE_DIR.parents[1]  # plugins/kmzb -> the checkout
    if _is_home(checkout):
        return checkout
    return BUNDLED_SHARE


def find_var_dir(home: Path) -> Path:
    configured = os.environ.get("KMZB_VAR_DIR")
    if configured:
        return Path(configured)
    if home != BUNDLED_SHARE:
        return home / "var"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "kmzb"


HOME = find_home()
# Kept under its old name: scripts and tests read the checkout's files through it.
PROJECT_ROOT = HOME
VAR_DIR = find_var_dir(HOME)
SQL_DIR = HOME / "sql"
CONFIG_FILE = HOME / "pygeoapi-config.yml"
QGIS_PROJECT_FILE = HOME / "qgis_projects" / "kmzb_public.qgs"
QGIS_BASEMAP_PROJECT_FILE = HOME / "qgis_projects" / "kmzb_basemap.qgs"
BASEMAPS_FILE = HOME / "basemaps.yml"
OGC_SCHEMAS_DIR = HOME / "openapi" / "ogc"
QGIS_PLUGIN_DIR = HOME / "plugins" / "qgis_server"
WEB_DIST_DIR = HOME / "web" / "dist"
SHIPPED_DATA_DIR = HOME / "data"

DEFAULT_EMBEDDED_PORT = 5433
DEFAULT_DB_NAME = "kmzb"
DEFAULT_WMS_PORT = 5001
DEV_JWT_ISSUER = "kmzb-dev"


@dataclass(frozen=True)
class Settings:
    env: str  # "development" or "production" (KMZB_ENV)
    database_url: str | None  # None means: use the embedded cluster
    embedded_port: int
    db_name: str
    data_dir: Path | None
    api_host: str
    api_port: int
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str | None  # production: the OIDC issuer's keys; else the local key pair
    jwt_public_key: str | None  # a PEM file to verify with instead of the local pair
    reporter_key: str | None  # None: a generated key kept in var/ (development only)
    daily_report_limit: int
    trusted_proxy_header: str | None  # e.g. X-Forwarded-For, only behind a proxy
    trusted_proxy_hops: int  # how many proxies of ours append to that header
    public_url: str  # where clients reach the API (links in answers)
    wms_port: int
    wms_url: str  # the QGIS Server the /wms route forwards to
    basemap_wms_port: int  # where `kmzb run` starts QGIS Server for the offline basemap
    basemap_wms_url: str  # the QGIS Server the /basemap/wms route forwards to
    basemaps_file: Path  # the basemap list the page offers (basemaps.yml)
    # The API's and QGIS Server's own least-privilege roles (DATABASE_URL is the owner's,
    # for migrations). With the embedded cluster these come from var/pg.
    api_database_url: str | None
    wms_database_url: str | None
    # Flood guard: this many new reports within this radius and window hold the burst back.
    burst_radius_m: float
    burst_window_minutes: int
    burst_threshold: int
    # The reporter's hash lives only as long as the daily limit needs it.
    reporter_hash_retention_hours: int

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def tls(self) -> bool:
        return self.public_url.startswith("https://")


def data_dir_default() -> Path | None:
    """KMZB_DATA_DIR, else the data shipped with the project (data/)."""
    value = os.environ.get("KMZB_DATA_DIR")
    if value:
        return Path(value)
    return SHIPPED_DATA_DIR if SHIPPED_DATA_DIR.is_dir() else None


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from exc


class SettingsError(ValueError):
    """A setting is malformed, or unsafe for production."""


def load_settings() -> Settings:
    wms_port = _int("KMZB_WMS_PORT", DEFAULT_WMS_PORT)
    basemap_port = _int("KMZB_BASEMAP_WMS_PORT", wms_port + 1)
    env = (os.environ.get("KMZB_ENV") or "development").strip().lower()
    if env not in ("development", "production"):
        raise SettingsError(f"KMZB_ENV is 'development' or 'production', not {env!r}")
    return Settings(
        env=env,
        database_url=os.environ.get("DATABASE_URL") or None,
        embedded_port=_int("KMZB_PG_PORT", DEFAULT_EMBEDDED_PORT),
        db_name=os.environ.get("KMZB_DB_NAME", DEFAULT_DB_NAME),
        data_dir=data_dir_default(),
        api_host=os.environ.get("KMZB_API_HOST", "127.0.0.1"),
        api_port=_int("KMZB_API_PORT", 5000),
        jwt_issuer=os.environ.get("KMZB_JWT_ISSUER", DEV_JWT_ISSUER),
        jwt_audience=os.environ.get("KMZB_JWT_AUDIENCE", "kmzb"),
        jwks_url=os.environ.get("KMZB_JWKS_URL") or None,
        jwt_public_key=os.environ.get("KMZB_JWT_PUBLIC_KEY") or None,
        reporter_key=(
            os.environ.get("KMZB_REPORTER_KEY") or os.environ.get("KMZB_REPORTER_SALT") or None
        ),
        daily_report_limit=_int("KMZB_DAILY_REPORT_LIMIT", 1),
        trusted_proxy_header=os.environ.get("KMZB_TRUSTED_PROXY_HEADER") or None,
        trusted_proxy_hops=_int("KMZB_TRUSTED_PROXY_HOPS", 1),
        public_url=os.environ.get("KMZB_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
        wms_port=wms_port,
        wms_url=os.environ.get("KMZB_WMS_URL") or f"http://127.0.0.1:{wms_port}/ows/",
        basemap_wms_port=basemap_port,
        basemap_wms_url=(
            os.environ.get("KMZB_BASEMAP_WMS_URL") or f"http://127.0.0.1:{basemap_port}/ows/"
        ),
        basemaps_file=Path(os.environ.get("KMZB_BASEMAPS_FILE") or BASEMAPS_FILE),
        api_database_url=os.environ.get("KMZB_API_DATABASE_URL") or None,
        wms_database_url=os.environ.get("KMZB_WMS_DATABASE_URL") or None,
        burst_radius_m=_float("KMZB_BURST_RADIUS_M", 250.0),
        burst_window_minutes=_int("KMZB_BURST_WINDOW_MINUTES", 15),
        burst_threshold=_int("KMZB_BURST_THRESHOLD", 10),
        reporter_hash_retention_hours=_int("KMZB_REPORTER_HASH_RETENTION_HOURS", 48),
    )


MIN_REPORTER_KEY_CHARS = 32


def _loopback_host(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def production_problems(settings: Settings) -> list[str]:
    """What makes this configuration unsafe for the public internet (empty: none).

    Each entry is one line that names the setting and says what to do.
    """
    problems: list[str] = []
    if not settings.jwks_url:
        problems.append("KMZB_JWKS_URL is not set: give the OIDC issuer's JWKS URL")
    elif not settings.jwks_url.startswith("https://"):
        problems.append("KMZB_JWKS_URL must be an https:// URL")
    if not os.environ.get("KMZB_JWT_ISSUER") or settings.jwt_issuer == DEV_JWT_ISSUER:
        problems.append("KMZB_JWT_ISSUER is not set (the development issuer 'kmzb-dev' is refused)")
    if not os.environ.get("KMZB_JWT_AUDIENCE"):
        problems.append("KMZB_JWT_AUDIENCE is not set: give the audience the issuer signs for")
    if settings.jwt_public_key:
        problems.append("KMZB_JWT_PUBLIC_KEY is a development key file: use KMZB_JWKS_URL")
    if not settings.reporter_key:
        problems.append("KMZB_REPORTER_KEY is not set: give a random secret of 32+ characters")
    elif len(settings.reporter_key) < MIN_REPORTER_KEY_CHARS:
        problems.append(f"KMZB_REPORTER_KEY is shorter than {MIN_REPORTER_KEY_CHARS} characters")
    public = urlsplit(settings.public_url)
    if public.scheme != "https":
        problems.append(f"KMZB_PUBLIC_URL must be https://, not {settings.public_url!r}")
    elif _loopback_host(public.hostname or ""):
        problems.append(f"KMZB_PUBLIC_URL names a loopback host: {settings.public_url!r}")
    if settings.burst_threshold < 2:
        problems.append("KMZB_BURST_THRESHOLD is under 2: the flood guard must be on")
    if not 24 <= settings.reporter_hash_retention_hours <= 48:
        problems.append("KMZB_REPORTER_HASH_RETENTION_HOURS must be between 24 and 48")
    if settings.embedded:
        problems.append("DATABASE_URL is not set: production uses its own PostgreSQL server")
    elif not settings.api_database_url:
        problems.append("KMZB_API_DATABASE_URL is not set: the API connects as its own role")
    return problems


def check_production(settings: Settings) -> None:
    """Refuse to start in production on an unsafe configuration: one line per problem."""
    if not settings.production:
        return
    problems = production_problems(settings)
    if problems:
        raise SettingsError("KMZB_ENV=production refuses to start: " + "; ".join(problems) + ".")


def pygeoapi_environment(url: str) -> dict[str, str]:
    """The values pygeoapi-config.yml's ${...} placeholders take, from a libpq URL."""
    parts = urlsplit(url)
    return {
        "KMZB_DB_HOST": parts.hostname or "127.0.0.1",
        "KMZB_DB_PORT": str(parts.port or 5432),
        "KMZB_DB_NAME": unquote(parts.path.lstrip("/")),
        "KMZB_DB_USER": unquote(parts.username or ""),
        "KMZB_DB_PASSWORD": unquote(parts.password or ""),
    }
