"""The WSGI app: our Flask app with pygeoapi mounted, configured for our database.
`gunicorn kmzb.app:app`.

pygeoapi reads its configuration and OpenAPI document at import time, so the
environment is prepared first: database connection values from DATABASE_URL
(or the embedded cluster) and a generated OpenAPI document under var/. The
seam to pygeoapi (its blueprint, every patch, their version guard) is
kmzb.service.pygeoapi_adapter.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import psycopg
import yaml

if TYPE_CHECKING:
    from flask import Flask

    from kmzb.domain.vocabulary import Vocabulary

from kmzb.db import connection
from kmzb.errors import UnsupportedPygeoapi
from kmzb.service import asyncapi as asyncapi_document
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
ASYNCAPI_NAME = "pygeoapi-asyncapi.yml"  # next to the OpenAPI document


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
    os.environ.setdefault("PYGEOAPI_CONFIG", str(CONFIG_FILE))
    os.environ.setdefault("PYGEOAPI_OPENAPI", str(OPENAPI_FILE))
    openapi = Path(os.environ["PYGEOAPI_OPENAPI"])
    config = Path(os.environ["PYGEOAPI_CONFIG"])
    os.environ.setdefault("PYGEOAPI_ASYNCAPI", str(openapi.with_name(ASYNCAPI_NAME)))
    sources = (
        config,
        Path(__file__),
        Path(result_type.__file__),
        Path(openapi_document.__file__),
        Path(query_checks.__file__),
    )
    # the document also holds the vocabulary (process enums, status codes): a migration
    # that changes it must rebuild the document as an edit of these files does
    stamp = openapi.with_suffix(".vocabulary")
    asyncapi = Path(os.environ["PYGEOAPI_ASYNCAPI"])
    written = openapi.exists() and stamp.exists() and asyncapi.exists()
    try:
        # a worker that gunicorn starts again while the database restarts must come up
        # (and answer 503 until it is back) on the documents already written; only a
        # first start, with none written, waits for the database
        vocabulary = current_vocabulary(url, wait_seconds=0 if written else FIRST_START_WAIT)
    except psycopg.OperationalError as error:
        if not written:
            raise SettingsError(
                f"the database is unreachable and the API documents were never written: {error}"
            ) from error
        logging.getLogger(__name__).warning(
            "database unreachable at start (%s): serving the documents written before",
            str(error).splitlines()[0],
        )
        return
    tag = vocabulary.etag
    # the AsyncAPI document (/asyncapi): small, written at each start (the broker's
    # public URL and the categories are in it)
    asyncapi_document.write(config, asyncapi, vocabulary)
    stale = not openapi.exists() or not stamp.exists() or stamp.read_text() != tag
    if stale or openapi.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        write_openapi(config, openapi)
        stamp.write_text(tag)


FIRST_START_WAIT = 30.0  # seconds a first start waits for the database


def current_vocabulary(url: str, wait_seconds: float = 0.0) -> Vocabulary:
    """The database's vocabulary; tries again for `wait_seconds` while it is unreachable."""
    from kmzb.domain import vocabulary

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                return vocabulary.read(conn)
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


# gunicorn stops, instead of booting workers again and again, when a worker exits with
# its "app failed to load" status; any other runner sees a non-zero status too.
APP_LOAD_ERROR = 4


def refuse_to_start(error: Exception) -> NoReturn:
    """One line on stderr naming the setting, no traceback; exit status 4."""
    print(f"kmzb: error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR)


def create_app() -> Flask:
    try:
        prepare_environment()
        from kmzb.service import pygeoapi_adapter

        app = pygeoapi_adapter.create_app()  # refuses a pygeoapi its patches do not fit
    except (SettingsError, UnsupportedPygeoapi) as error:
        refuse_to_start(error)
    from kmzb.service import conformance, control_characters, faults, http_cache, security
    from kmzb.service.basemap import basemap
    from kmzb.service.feeds import feeds
    from kmzb.service.open311 import open311_routes
    from kmzb.service.routes import routes
    from kmzb.service.web import web
    from kmzb.service.wms_proxy import wms

    security.install(app, load_settings())  # the caller, closed writes, 404/413 handlers
    control_characters.install(app)  # a NUL anywhere in a request: 400, never a 500
    faults.install(app)  # database faults: 503 + Retry-After; reads retried; quiet 4xx logs
    query_checks.install(app)  # collection and tile parameters: 4xx, never a 500
    conformance.install(app)  # GeoJSON as application/geo+json
    http_cache.install(app)  # ETag, Last-Modified, Cache-Control on public reads; 304s
    for blueprint in (routes, web, wms, basemap, feeds, open311_routes):
        app.register_blueprint(blueprint)
    return app


app = create_app()
