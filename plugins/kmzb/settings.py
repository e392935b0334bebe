"""Settings from the environment: the bottom layer, imported by everything else.

Every variable the service reads (`KMZB_*` and `DATABASE_URL`) is a typed,
validated field of `Environment` below, with its default: no other module reads
os.environ for a setting of its own. `load_settings()` reads them once per
process and caches the result; a malformed value is a `SettingsError` of one
line that names the variable (and never echoes a secret). Tests reload with
`reload_settings()`.

Where the service's files are (configuration, migrations, QGIS project, web
build, shipped data) is found, never assumed from the checkout's layout:

1. `KMZB_HOME`, a folder holding them (the docker image, a packaged install);
2. else the checkout this module runs from (an editable install, `make run`);
3. else the copy bundled in the installed package (`pip install .`), under
   `kmzb/share/`.

Mutable state (the embedded cluster, development keys, generated files) goes
to `KMZB_VAR_DIR`, else `var/` in the home or the checkout, else
`$XDG_STATE_HOME/kmzb` for an installed package. These two are read at import
(`Locations`), since the path constants below are module-level names.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_SHARE = PACKAGE_DIR / "share"  # filled at build time (see setup.py)

DEFAULT_EMBEDDED_PORT = 5433
DEFAULT_DB_NAME = "kmzb"
DEFAULT_WMS_PORT = 5001
DEFAULT_API_PORT = 5000
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
DEFAULT_MQTT_PORT = 1883
MQTT_PUBLISHER_USER = "kmzb-publisher"  # the only broker user that may publish
DEV_JWT_ISSUER = "kmzb-dev"
DEFAULT_JWT_AUDIENCE = "kmzb"
MIN_REPORTER_KEY_CHARS = 32


class SettingsError(ValueError):
    """A setting is malformed, or unsafe for production."""


_CONFIG = SettingsConfigDict(
    case_sensitive=True,  # KMZB_API_PORT, never kmzb_api_port
    env_ignore_empty=True,  # an empty value means: the default
    extra="ignore",
    frozen=True,
    validate_by_alias=True,
    validate_by_name=False,
    str_strip_whitespace=True,
    allow_inf_nan=False,
    hide_input_in_errors=True,  # SettingsError shows values itself, secrets never
)


def _whole_number(value: Any) -> Any:
    """Digits only: pydantic alone would take "5.0" (and "5_000") as an int."""
    if isinstance(value, str) and not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        raise PydanticCustomError("int_parsing", "must be a whole number")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Port = Annotated[WholeNumber, Field(ge=1, le=65535)]


class Locations(BaseSettings):
    """Where the files are: read at import, for the path constants."""

    model_config = _CONFIG

    home: Path | None = Field(None, validation_alias="KMZB_HOME")
    var_dir: Path | None = Field(None, validation_alias="KMZB_VAR_DIR")
    xdg_state_home: Path | None = Field(None, validation_alias="XDG_STATE_HOME")


def _is_home(folder: Path) -> bool:
    return (folder / "pygeoapi-config.yml").is_file() and (folder / "sql").is_dir()


def find_home(locations: Locations | None = None) -> Path:
    """The folder with pygeoapi-config.yml, sql/, qgis_projects/, web/dist, data/."""
    configured = (locations or Locations()).home
    if configured is not None:
        return configured.resolve()
    checkout = PACKAGE_DIR.parents[1]  # plugins/kmzb -> the checkout
    if _is_home(checkout):
        return checkout
    return BUNDLED_SHARE


def find_var_dir(home: Path, locations: Locations | None = None) -> Path:
    locations = locations or Locations()
    if locations.var_dir is not None:
        return locations.var_dir
    if home != BUNDLED_SHARE:
        return home / "var"
    state = locations.xdg_state_home or Path.home() / ".local" / "state"
    return state / "kmzb"


_LOCATIONS = Locations()
HOME = find_home(_LOCATIONS)
# Kept under its old name: scripts and tests read the checkout's files through it.
PROJECT_ROOT = HOME
VAR_DIR = find_var_dir(HOME, _LOCATIONS)
SQL_DIR = HOME / "sql"
CONFIG_FILE = HOME / "pygeoapi-config.yml"
QGIS_PROJECT_FILE = HOME / "qgis_projects" / "kmzb_public.qgs"
QGIS_BASEMAP_PROJECT_FILE = HOME / "qgis_projects" / "kmzb_basemap.qgs"
BASEMAPS_FILE = HOME / "basemaps.yml"
OGC_SCHEMAS_DIR = HOME / "openapi" / "ogc"
QGIS_PLUGIN_DIR = HOME / "plugins" / "qgis_server"
WEB_DIST_DIR = HOME / "web" / "dist"
SHIPPED_DATA_DIR = HOME / "data"
# The embedded cluster's hot standby (`kmzb db replica up`), beside var/pg. The
# services read from it once it exists (read_hosts), whether it runs or not: a
# stopped replica costs a read one refused connection to 127.0.0.1.
EMBEDDED_REPLICA_NAME = "kmzb_replica_1"  # its folder var/pg-replica-1 and its slot
EMBEDDED_REPLICA_DIR = VAR_DIR / "pg-replica-1"

# The values a SettingsError never repeats: secrets, and URLs that may hold a password.
SECRET_VARIABLES = frozenset(
    {
        "KMZB_REPORTER_KEY",
        "KMZB_REPORTER_SALT",
        "DATABASE_URL",
        "KMZB_API_DATABASE_URL",
        "KMZB_WMS_DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "KMZB_MQTT_URL",
        "KMZB_MQTT_PASSWORD",
    }
)

_DB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_$-]{0,62}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def _postgres_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be a postgresql:// URL (malformed port)") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql:// URL")
    return value


def _replica_urls(value: str | None) -> str | None:
    """A comma list of postgresql:// URLs, each naming a host (its port: 5432 if none)."""
    if value is None:
        return None
    urls = [url.strip() for url in value.split(",")]
    if not all(urls):
        raise ValueError("must be a comma list of postgresql:// URLs (an empty entry)")
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError(
                "must be a comma list of postgresql:// URLs (malformed port)"
            ) from None
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ValueError("must be a comma list of postgresql:// URLs, each with a host")
    return ",".join(urls)


def _mqtt_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be an mqtt:// or mqtts:// URL (malformed port)") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("must be an mqtt:// or mqtts:// URL with a host")
    return value


class Environment(BaseSettings):
    """Every variable, its type, default and rule: the one place they are written.

    Each field's alias is the variable's exact name.
    """

    model_config = _CONFIG

    env: str = Field("development", validation_alias="KMZB_ENV")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    api_database_url: str | None = Field(None, validation_alias="KMZB_API_DATABASE_URL")
    wms_database_url: str | None = Field(None, validation_alias="KMZB_WMS_DATABASE_URL")
    embedded_port: Port = Field(DEFAULT_EMBEDDED_PORT, validation_alias="KMZB_PG_PORT")
    replica_port: Port | None = Field(None, validation_alias="KMZB_REPLICA_PORT")
    database_replica_urls: str | None = Field(None, validation_alias="DATABASE_REPLICA_URLS")
    db_name: str = Field(DEFAULT_DB_NAME, validation_alias="KMZB_DB_NAME")
    data_dir: Path | None = Field(None, validation_alias="KMZB_DATA_DIR")
    web_dir: Path | None = Field(None, validation_alias="KMZB_WEB_DIR")
    basemaps_file: Path | None = Field(None, validation_alias="KMZB_BASEMAPS_FILE")
    api_host: str = Field("127.0.0.1", min_length=1, validation_alias="KMZB_API_HOST")
    api_port: Port = Field(DEFAULT_API_PORT, validation_alias="KMZB_API_PORT")
    public_url: str = Field(DEFAULT_PUBLIC_URL, validation_alias="KMZB_PUBLIC_URL")
    wms_port: Port = Field(DEFAULT_WMS_PORT, validation_alias="KMZB_WMS_PORT")
    wms_url: str | None = Field(None, validation_alias="KMZB_WMS_URL")
    basemap_wms_port: Port | None = Field(None, validation_alias="KMZB_BASEMAP_WMS_PORT")
    basemap_wms_url: str | None = Field(None, validation_alias="KMZB_BASEMAP_WMS_URL")
    jwt_issuer: str | None = Field(None, validation_alias="KMZB_JWT_ISSUER")
    jwt_audience: str | None = Field(None, validation_alias="KMZB_JWT_AUDIENCE")
    jwks_url: str | None = Field(None, validation_alias="KMZB_JWKS_URL")
    jwt_public_key: Path | None = Field(None, validation_alias="KMZB_JWT_PUBLIC_KEY")
    # KMZB_REPORTER_SALT is its old name, still read
    reporter_key: str | None = Field(
        None, validation_alias=AliasChoices("KMZB_REPORTER_KEY", "KMZB_REPORTER_SALT")
    )
    daily_report_limit: WholeNumber = Field(1, ge=1, validation_alias="KMZB_DAILY_REPORT_LIMIT")
    trusted_proxy_header: str | None = Field(None, validation_alias="KMZB_TRUSTED_PROXY_HEADER")
    trusted_proxy_hops: WholeNumber = Field(
        1, ge=1, le=10, validation_alias="KMZB_TRUSTED_PROXY_HOPS"
    )
    burst_radius_m: float = Field(250.0, gt=0, le=100_000, validation_alias="KMZB_BURST_RADIUS_M")
    burst_window_minutes: WholeNumber = Field(
        15, ge=1, le=24 * 60, validation_alias="KMZB_BURST_WINDOW_MINUTES"
    )
    burst_threshold: WholeNumber = Field(10, ge=0, validation_alias="KMZB_BURST_THRESHOLD")
    reporter_hash_retention_hours: WholeNumber = Field(
        48, ge=1, validation_alias="KMZB_REPORTER_HASH_RETENTION_HOURS"
    )
    mqtt_port: Port = Field(DEFAULT_MQTT_PORT, validation_alias="KMZB_MQTT_PORT")
    mqtt_url: str | None = Field(None, validation_alias="KMZB_MQTT_URL")
    mqtt_public_url: str | None = Field(None, validation_alias="KMZB_MQTT_PUBLIC_URL")
    mqtt_password: str | None = Field(None, min_length=8, validation_alias="KMZB_MQTT_PASSWORD")

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in ("development", "production"):
            raise ValueError("is 'development' or 'production'")
        return text

    @field_validator("database_url", "api_database_url", "wms_database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        return _postgres_url(value)

    @field_validator("database_replica_urls")
    @classmethod
    def _replicas(cls, value: str | None) -> str | None:
        return _replica_urls(value)

    @field_validator("public_url", "wms_url", "basemap_wms_url", "jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("mqtt_url", "mqtt_public_url")
    @classmethod
    def _mqtt(cls, value: str | None) -> str | None:
        return _mqtt_url(value)

    @field_validator("db_name")
    @classmethod
    def _db_name(cls, value: str) -> str:
        if not _DB_NAME.match(value):
            raise ValueError("must be a database name of at most 63 letters, digits, _, $ or -")
        return value

    @field_validator("trusted_proxy_header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER_NAME.match(value):
            raise ValueError("must be an HTTP header name, e.g. X-Forwarded-For")
        return value

    @field_validator("jwt_issuer", "jwt_audience", "api_host")
    @classmethod
    def _no_space(cls, value: str | None) -> str | None:
        if value is not None and any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        return value


@dataclass(frozen=True)
class Settings:
    """The settings the code reads, resolved from an Environment (load_settings)."""

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
    # Alerts: the MQTT broker. mqtt_url is the publisher's (credentials in it, or the
    # user kmzb-publisher with mqtt_password); mqtt_public_url the subscribe-only one
    # advertised to clients. KMZB_MQTT_URL unset: `kmzb run` starts a local Mosquitto.
    # Read replicas: the embedded hot standby's port (KMZB_REPLICA_PORT, default the
    # primary's + 1), and the hot standbys of a server of one's own (DATABASE_REPLICA_URLS:
    # only their host and port are used; the roles are the primary's, as a physical
    # replica has them).
    replica_port: int = DEFAULT_EMBEDDED_PORT + 1
    database_replica_urls: tuple[str, ...] = ()
    mqtt_port: int = DEFAULT_MQTT_PORT
    mqtt_url: str = f"mqtt://{MQTT_PUBLISHER_USER}@127.0.0.1:{DEFAULT_MQTT_PORT}"
    mqtt_public_url: str = f"mqtt://127.0.0.1:{DEFAULT_MQTT_PORT}"
    # None: the one generated into var/mqtt/ (development); never in a repr
    mqtt_password: str | None = field(default=None, repr=False)
    web_dir: Path = WEB_DIST_DIR  # the built web client served at /map/ (KMZB_WEB_DIR)
    home: Path = HOME
    var_dir: Path = VAR_DIR
    # the variables set in the environment (production refuses some defaults)
    given: frozenset[str] = field(default_factory=frozenset)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def tls(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def local_broker(self) -> bool:
        """No KMZB_MQTT_URL: the broker is the local Mosquitto `kmzb run` starts."""
        return "KMZB_MQTT_URL" not in self.given


def _variable(field_name: str | int) -> str:
    """The environment variable of a field (a location in a ValidationError)."""
    name = str(field_name)
    if name.isupper():
        return name  # already the alias
    info = Environment.model_fields.get(name)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or name)


def _plain(number: Any) -> Any:
    """250.0 as 250 in a message."""
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _describe(error: Any, raw: dict[str, str]) -> str:
    """One ValidationError entry as `VARIABLE what-is-wrong, not 'value'`."""
    name = _variable(error["loc"][0]) if error["loc"] else "setting"
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "int_type"):
        what = "must be a whole number"
    elif kind in ("float_parsing", "float_type"):
        what = "must be a number"
    elif kind == "finite_number":
        what = "must be a finite number"
    elif kind == "greater_than_equal":
        what = f"must be at least {_plain(ctx['ge'])}"
    elif kind == "greater_than":
        what = f"must be more than {_plain(ctx['gt'])}"
    elif kind == "less_than_equal":
        what = f"must be at most {_plain(ctx['le'])}"
    elif kind == "less_than":
        what = f"must be less than {_plain(ctx['lt'])}"
    elif kind == "string_too_short" and int(ctx.get("min_length", 1)) > 1:
        what = f"must be at least {ctx['min_length']} characters"
    elif kind == "string_too_short":
        what = "must not be empty"
    elif kind == "value_error":
        what = str(ctx.get("error", error["msg"]))
    else:
        what = str(error["msg"]).lower()
    value = raw.get(name)
    if name == "KMZB_REPORTER_KEY" and value is None:
        value = raw.get("KMZB_REPORTER_SALT")
    if value is None or name in SECRET_VARIABLES:
        return f"{name} {what}"
    return f"{name} {what}, not {value.strip()!r}"


def _environment_names() -> set[str]:
    names: set[str] = set()
    for info in Environment.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif alias:
            names.add(str(alias))
    return names


def read_environment() -> Settings:
    """Settings from the process's environment, validated (load_settings caches them).

    Raises SettingsError: one line naming each malformed variable.
    """
    try:
        values = Environment()
    except ValidationError as invalid:
        raise SettingsError(
            "; ".join(_describe(error, dict(os.environ)) for error in invalid.errors())
        ) from None
    given = frozenset(name for name in _environment_names() if os.environ.get(name, "").strip())
    basemap_port = values.basemap_wms_port or values.wms_port + 1
    # each field as read, then the defaults that depend on another value or on the home
    return Settings(
        **{
            **values.model_dump(),
            "data_dir": values.data_dir
            or (SHIPPED_DATA_DIR if SHIPPED_DATA_DIR.is_dir() else None),
            "jwt_issuer": values.jwt_issuer or DEV_JWT_ISSUER,
            "jwt_audience": values.jwt_audience or DEFAULT_JWT_AUDIENCE,
            "jwt_public_key": str(values.jwt_public_key) if values.jwt_public_key else None,
            "public_url": values.public_url.rstrip("/"),
            "wms_url": values.wms_url or f"http://127.0.0.1:{values.wms_port}/ows/",
            "basemap_wms_port": basemap_port,
            "replica_port": values.replica_port or values.embedded_port + 1,
            "database_replica_urls": tuple(
                values.database_replica_urls.split(",") if values.database_replica_urls else ()
            ),
            "basemap_wms_url": values.basemap_wms_url or f"http://127.0.0.1:{basemap_port}/ows/",
            "basemaps_file": values.basemaps_file or BASEMAPS_FILE,
            "web_dir": values.web_dir or WEB_DIST_DIR,
            "mqtt_url": values.mqtt_url
            or f"mqtt://{MQTT_PUBLISHER_USER}@127.0.0.1:{values.mqtt_port}",
            "mqtt_public_url": (
                values.mqtt_public_url or f"mqtt://127.0.0.1:{values.mqtt_port}"
            ).rstrip("/"),
            "home": HOME,
            "var_dir": VAR_DIR,
            "given": given,
        }
    )


@functools.cache
def load_settings() -> Settings:
    """The process's settings, read from the environment on the first call only."""
    return read_environment()


def reload_settings() -> Settings:
    """Read the environment again (tests; a process that changed its environment)."""
    load_settings.cache_clear()
    return load_settings()


def data_dir_default() -> Path | None:
    """KMZB_DATA_DIR, else the data shipped with the project (data/)."""
    return load_settings().data_dir


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
    if "KMZB_JWT_ISSUER" not in settings.given or settings.jwt_issuer == DEV_JWT_ISSUER:
        problems.append("KMZB_JWT_ISSUER is not set (the development issuer 'kmzb-dev' is refused)")
    if "KMZB_JWT_AUDIENCE" not in settings.given:
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
    broker = urlsplit(settings.mqtt_public_url)
    if "KMZB_MQTT_PUBLIC_URL" not in settings.given:
        problems.append(
            "KMZB_MQTT_PUBLIC_URL is not set: give the broker URL subscribers connect to"
        )
    elif _loopback_host(broker.hostname or ""):
        problems.append(f"KMZB_MQTT_PUBLIC_URL names a loopback host: {settings.mqtt_public_url!r}")
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


# The ${...} names pygeoapi-config.yml takes. None is a KMZB_* input: the app writes
# them into its own environment for pygeoapi's loader, after reading its settings.
PYGEOAPI_PLACEHOLDERS = (
    "PYGEOAPI_KMZB_DB_HOST",
    "PYGEOAPI_KMZB_DB_PORT",
    "PYGEOAPI_KMZB_READ_DB_HOST",
    "PYGEOAPI_KMZB_READ_DB_PORT",
    "PYGEOAPI_KMZB_DB_NAME",
    "PYGEOAPI_KMZB_DB_USER",
    "PYGEOAPI_KMZB_DB_PASSWORD",
    "PYGEOAPI_KMZB_HOME",
    "PYGEOAPI_KMZB_PUBLIC_URL",
    "PYGEOAPI_KMZB_MQTT_URL",
)


def read_hosts(url: str, settings: Settings) -> list[tuple[str, int]]:
    """Where public reads go, in the order tried (libpq's multi-host list, with
    target_session_attrs=prefer-standby): the replicas of DATABASE_REPLICA_URLS, the
    embedded hot standby once `kmzb db replica up` made it, then the primary of `url`."""
    hosts = []
    for replica in settings.database_replica_urls:
        parts = urlsplit(replica)
        hosts.append((parts.hostname or "127.0.0.1", parts.port or 5432))
    if (
        settings.embedded
        and (settings.var_dir / EMBEDDED_REPLICA_DIR.name / "data").joinpath("PG_VERSION").is_file()
    ):
        hosts.append(("127.0.0.1", settings.replica_port))
    parts = urlsplit(url)
    hosts.append((parts.hostname or "127.0.0.1", parts.port or 5432))
    return hosts


def pygeoapi_environment(url: str, settings: Settings | None = None) -> dict[str, str]:
    """The values pygeoapi-config.yml's ${...} placeholders take: the database from a
    libpq URL (the primary; the read hosts, replicas first, from read_hosts), the home
    folder and the public URL from the settings."""
    settings = settings or load_settings()
    parts = urlsplit(url)
    reads = read_hosts(url, settings)
    return {
        "PYGEOAPI_KMZB_DB_HOST": parts.hostname or "127.0.0.1",
        "PYGEOAPI_KMZB_DB_PORT": str(parts.port or 5432),
        "PYGEOAPI_KMZB_READ_DB_HOST": ",".join(host for host, _ in reads),
        "PYGEOAPI_KMZB_READ_DB_PORT": ",".join(str(port) for _, port in reads),
        "PYGEOAPI_KMZB_DB_NAME": unquote(parts.path.lstrip("/")),
        "PYGEOAPI_KMZB_DB_USER": unquote(parts.username or ""),
        "PYGEOAPI_KMZB_DB_PASSWORD": unquote(parts.password or ""),
        "PYGEOAPI_KMZB_HOME": str(settings.home),
        "PYGEOAPI_KMZB_PUBLIC_URL": settings.public_url,
        "PYGEOAPI_KMZB_MQTT_URL": settings.mqtt_public_url,
    }
