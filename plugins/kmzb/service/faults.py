"""Faults a client can act on, and logs without noise.

1. **The database unreachable is a 503 with Retry-After**, never a 500: while
   PostgreSQL restarts (or a pool finds no connection in time) a request gets
   `503 Service Unavailable`, `Retry-After: 5` and an OGC exception body in
   Polish and English. Recognised anywhere in an exception's chain:
   psycopg's OperationalError (psycopg_pool's PoolTimeout is one), SQLAlchemy's
   OperationalError and DisconnectionError, and pygeoapi's
   ProviderConnectionError.
2. **An idempotent read retries once** (GET, HEAD) before it answers 503: the
   pools check connections before lending them, so the retry meets a fresh
   connection, or waits for the server to come back.
3. **A client's mistake logs one line, a server fault its traceback.**

Two seams, both in this module:

- Flask: error handlers for the exceptions above (our routes, and anything
  pygeoapi lets through), and the app's `dispatch_request` wrapped for the
  retry of reads;
- pygeoapi: `API.get_exception`, where every provider or process error of
  pygeoapi's own views becomes an answer. pygeoapi 0.24 answers a provider's
  ProviderConnectionError with its class's 500 and logs every error answer at
  ERROR with the traceback of the exception being handled, a client's 400
  included. Ours answers a database fault 503 + Retry-After, logs a 4xx in one
  line (WARNING) and keeps the traceback for a 5xx. Version-guarded
  (PATCHED_VERSIONS); upstream, `get_exception` would take the status from a
  ProviderConnectionError as 503 and log 4xx without `exc_info`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
import pygeoapi
from flask import Flask, Response, g, has_request_context, request
from pygeoapi.provider.base import ProviderConnectionError

from kmzb.domain.errors import DomainError
from kmzb.service.responses import error_response

LOGGER = logging.getLogger(__name__)

PATCHED_VERSIONS = ("0.24.",)  # pygeoapi releases whose get_exception we replace
RETRY_AFTER_SECONDS = 5  # about as long as PostgreSQL takes to come back from a restart
READ_RETRY_DELAY_SECONDS = 0.5
RETRIED_METHODS = {"GET", "HEAD"}

UNAVAILABLE_PL = (
    "Baza danych jest chwilowo niedostępna. Spróbuj ponownie za kilka sekund. "
    "Zgłoszenie wysłane ponownie z tym samym nagłówkiem Idempotency-Key nie zostanie "
    "zapisane dwa razy."
)
UNAVAILABLE_EN = (
    "The database is unavailable for a moment. Try again in a few seconds. "
    "A report sent again with the same Idempotency-Key header is not stored twice."
)


def _unavailable_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [psycopg.OperationalError, ProviderConnectionError]
    try:
        from sqlalchemy import exc as sa_exc

        found += [sa_exc.OperationalError, sa_exc.DisconnectionError]
    except ImportError:  # pragma: no cover - SQLAlchemy comes with pygeoapi
        pass
    return tuple(found)


UNAVAILABLE_TYPES = _unavailable_types()


def database_unavailable_cause(error: BaseException | None) -> BaseException | None:
    """The database fault in this exception's chain (cause or context), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, UNAVAILABLE_TYPES):
            return error
        error = error.__cause__ or error.__context__
    return None


def unavailable() -> DomainError:
    return DomainError(
        pl=UNAVAILABLE_PL,
        en=UNAVAILABLE_EN,
        status=HTTPStatus.SERVICE_UNAVAILABLE,
        code="ServiceUnavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def _where() -> str:
    return f"{request.method} {request.path}" if has_request_context() else "-"


def log_unavailable(error: BaseException) -> None:
    """One line: the cause is known, its traceback says nothing more."""
    LOGGER.error("%s: database unavailable, answered 503: %s", _where(), _one_line(error))


def log_client_error(status: int, description: str) -> None:
    LOGGER.warning("%s: %d %s", _where(), int(status), " ".join(str(description).split()))


# --- pygeoapi's error answers -----------------------------------------------------------


def _get_exception(
    api: Any, status: int, headers: dict, format_: str | None, code: str, description: str
) -> tuple[dict, int, str]:
    """pygeoapi 0.24's API.get_exception, with our status for database faults and our
    logging (see the module's docstring); the body is built as pygeoapi builds it."""
    from pygeoapi.api import F_HTML, FORMAT_TYPES, SYSTEM_LOCALE
    from pygeoapi.util import render_j2_template, to_json

    handled = sys.exc_info()[1]
    fault = database_unavailable_cause(handled)
    if fault is not None:
        error = unavailable()
        status, code, description = int(error.status), error.code, str(error)
        headers.update(error.headers)
        if has_request_context():
            g.kmzb_database_unavailable = True
        log_unavailable(fault)
    elif int(status) < 500:
        log_client_error(status, description)
    else:
        LOGGER.error("%s: %d %s", _where(), int(status), description, exc_info=handled)

    exception = {"code": code, "type": code, "description": description}
    if format_ == F_HTML:
        headers["Content-Type"] = FORMAT_TYPES[F_HTML]
        content = render_j2_template(
            api.tpl_config,
            api.config["server"]["templates"],
            "exception.html",
            exception,
            SYSTEM_LOCALE,
        )
    else:
        content = to_json(exception, api.pretty_print)
    if status == HTTPStatus.NO_CONTENT:
        content = ""
    return headers, status, content


def patch_pygeoapi() -> bool:
    """Replace API.get_exception (once); False when this pygeoapi is not one we patch."""
    if not pygeoapi.__version__.startswith(PATCHED_VERSIONS):
        LOGGER.warning(
            "pygeoapi %s: its error answers are not adapted (503 for database faults, "
            "one log line per client error); check kmzb.service.faults",
            pygeoapi.__version__,
        )
        return False
    from pygeoapi.api import API

    if getattr(API.get_exception, "kmzb_faults", False):
        return True

    def get_exception(self, status, headers, format_, code, description):
        return _get_exception(self, status, headers, format_, code, description)

    get_exception.kmzb_faults = True  # type: ignore[attr-defined]
    API.get_exception = get_exception  # type: ignore[method-assign]
    return True


# --- Flask --------------------------------------------------------------------------------


def _answer_unavailable(error: Exception) -> Response:
    log_unavailable(database_unavailable_cause(error) or error)
    return error_response(unavailable())


def _retrying_reads(dispatch: Callable[[], Any]) -> Callable[[], Any]:
    """The app's dispatch_request, with a read (GET, HEAD) dispatched once more when
    the database failed it: raised (our routes) or answered 503 (pygeoapi's views)."""

    def dispatch_request() -> Any:
        if request.method not in RETRIED_METHODS:
            return dispatch()
        g.kmzb_database_unavailable = False
        try:
            answer = dispatch()
        except Exception as error:
            fault = database_unavailable_cause(error)
            if fault is None:
                raise
        else:
            if not g.get("kmzb_database_unavailable"):
                return answer
            fault = None
        LOGGER.warning(
            "%s: database fault, reading once more%s",
            _where(),
            f" ({_one_line(fault)})" if fault is not None else "",
        )
        g.kmzb_database_unavailable = False
        time.sleep(READ_RETRY_DELAY_SECONDS)
        return dispatch()

    return dispatch_request


def our_logs_say_warnings() -> None:
    """pygeoapi's `logging.level` (ERROR in pygeoapi-config.yml) keeps pygeoapi and the
    libraries quiet (pygeoapi 0.24 warns on every /items request without `offset`,
    psycopg_pool on every connection it replaces); our own loggers still say WARNING
    and above, so a client's mistake is one line and a database fault one line. A more
    verbose configured level applies to ours too."""
    ours = logging.getLogger("kmzb")
    if ours.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.WARNING:
        ours.setLevel(logging.WARNING)


def install(app: Flask) -> None:
    """Database faults answered 503 + Retry-After, reads retried once, pygeoapi's error
    answers adapted, our warnings logged (see the module's docstring)."""
    our_logs_say_warnings()
    patch_pygeoapi()
    for kind in UNAVAILABLE_TYPES:
        app.register_error_handler(kind, _answer_unavailable)
    if not getattr(app.dispatch_request, "kmzb_faults", False):
        wrapped = _retrying_reads(app.dispatch_request)
        wrapped.kmzb_faults = True  # type: ignore[attr-defined]
        app.dispatch_request = wrapped  # type: ignore[method-assign]
