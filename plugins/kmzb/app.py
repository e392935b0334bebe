"""The WSGI app: pygeoapi, configured for our database. `gunicorn kmzb.app:app`.

pygeoapi reads its configuration and OpenAPI document at import time, so the
environment is prepared first: database connection values from DATABASE_URL
(or the embedded cluster) and a generated OpenAPI document under var/.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import yaml

from kmzb.db import connection
from kmzb.service import openapi as openapi_document
from kmzb.service import query_checks, result_type
from kmzb.settings import (
    CONFIG_FILE,
    VAR_DIR,
    SettingsError,
    check_production,
    load_settings,
    pygeoapi_environment,
)

OPENAPI_FILE = VAR_DIR / "pygeoapi-openapi.yml"


def write_openapi(config: Path = CONFIG_FILE, target: Path = OPENAPI_FILE) -> Path:
    """Generate the OpenAPI document from the configuration (needs the database up)."""
    from pygeoapi.openapi import generate_openapi_document

    target.parent.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_dump(
        openapi_document.complete(
            result_type.advertise(yaml.safe_load(generate_openapi_document(config, "yaml")))
        ),
        allow_unicode=True,
        sort_keys=False,
    )
    # each gunicorn worker may get here at once: write apart, then swap atomically
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(target)
    return target


def prepare_environment() -> None:
    settings = load_settings()
    check_production(settings)
    # pygeoapi's providers connect as the API's role, never as the administrator
    url = connection.api_url(settings)
    problem = connection.service_role_problem(url)
    if problem and settings.production:
        raise SettingsError(f"KMZB_ENV=production refuses to start: {problem}.")
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
    os.environ.update(pygeoapi_environment(url))
    os.environ.setdefault("KMZB_HOME", str(CONFIG_FILE.parent))  # ${KMZB_HOME} in the config
    os.environ.setdefault("PYGEOAPI_CONFIG", str(CONFIG_FILE))
    os.environ.setdefault("PYGEOAPI_OPENAPI", str(OPENAPI_FILE))
    openapi = Path(os.environ["PYGEOAPI_OPENAPI"])
    config = Path(os.environ["PYGEOAPI_CONFIG"])
    sources = (
        config,
        Path(__file__),
        Path(result_type.__file__),
        Path(openapi_document.__file__),
        Path(query_checks.__file__),
    )
    if not openapi.exists() or openapi.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        write_openapi(config, openapi)


def skip_identity_bbox_transform() -> None:
    """pygeoapi transforms every bbox to the storage CRS, even from that same CRS,
    and each transform has pyproj identify the target CRS: about 0.1 s of CPU per
    request. The identity needs no work."""
    from pygeoapi.api import itemtypes

    transform = itemtypes.transform_bbox

    def transform_bbox(bbox, from_crs, to_crs, always_xy=False):
        if str(from_crs) == str(to_crs):
            return bbox
        return transform(bbox, from_crs, to_crs, always_xy)

    itemtypes.transform_bbox = transform_bbox


# gunicorn stops, instead of booting workers again and again, when a worker exits with
# its "app failed to load" status; any other runner sees a non-zero status too.
APP_LOAD_ERROR = 4


def refuse_to_start(error: SettingsError) -> NoReturn:
    """One line on stderr naming the setting, no traceback; exit status 4."""
    print(f"kmzb: error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR)


def create_app():
    try:
        prepare_environment()
    except SettingsError as error:
        refuse_to_start(error)
    from pygeoapi.flask_app import APP

    from kmzb.service import conformance, csv_safety, faults, query_checks, security
    from kmzb.service.basemap import basemap
    from kmzb.service.pages import install as install_pages
    from kmzb.service.plugin_locale import install as install_plugin_locale
    from kmzb.service.routes import routes
    from kmzb.service.web import web
    from kmzb.service.wms_proxy import wms

    skip_identity_bbox_transform()
    install_pages()
    install_plugin_locale()  # providers get the language asked for (pygeoapi 0.24 fault)
    security.install(APP, load_settings())
    faults.install(APP)  # database faults: 503 + Retry-After; reads retried; quiet 4xx logs
    result_type.install(APP)
    query_checks.install(APP)  # collection and tile parameters: 4xx, never a 500
    conformance.install(APP)  # Part 3 filter and CQL2 classes; GeoJSON as geo+json
    csv_safety.install()
    APP.register_blueprint(routes)
    APP.register_blueprint(web)
    APP.register_blueprint(wms)
    APP.register_blueprint(basemap)
    return APP


app = create_app()
