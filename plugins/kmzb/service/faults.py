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

Two seams:

- Flask (here): error handlers for the exceptions above (our routes, and
  anything pygeoapi lets through), and the app's `dispatch_request` wrapped for
  the retry of reads;
- pygeoapi: `API.get_exception`, where every provider or process error of
  pygeoapi's own views becomes an answer, is replaced in
  kmzb.service.pygeoapi_adapter (version-guarded), which asks this module
  whether the error is a database fault and how to log it. pygeoapi 0.24 answers
  a provider's ProviderConnectionError with its class's 500 and logs every error
  answer at ERROR with a traceback, a client's 400 included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
from flask import Flask, Response, has_request_context, request
from pygeoapi.provider.base import ProviderConnectionError

from kmzb.domain.errors import DomainError
from kmzb.service.responses import error_response

LOGGER = logging.getLogger(__name__)

UNAVAILABLE_MARK = "kmzb.database_unavailable"  # in the request's WSGI environ
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


def _unavailable_types() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = [psycopg.OperationalError, ProviderConnectionError]
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


def log_server_error(status: int, description: str, error: BaseException | None) -> None:
    LOGGER.error("%s: %d %s", _where(), int(status), description, exc_info=error)


def mark_database_unavailable() -> None:
    """Note that this request was answered 503 for a database fault (pygeoapi's views
    answer instead of raising), so that a read is dispatched once more."""
    if has_request_context():
        request.environ[UNAVAILABLE_MARK] = True


def _answered_unavailable() -> bool:
    return bool(request.environ.get(UNAVAILABLE_MARK))


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
        request.environ[UNAVAILABLE_MARK] = False
        try:
            answer = dispatch()
        except Exception as error:
            fault = database_unavailable_cause(error)
            if fault is None:
                raise
        else:
            if not _answered_unavailable():
                return answer
            fault = None
        LOGGER.warning(
            "%s: database fault, reading once more%s",
            _where(),
            f" ({_one_line(fault)})" if fault is not None else "",
        )
        request.environ[UNAVAILABLE_MARK] = False
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
    """Database faults answered 503 + Retry-After, reads retried once, our warnings
    logged (see the module's docstring)."""
    our_logs_say_warnings()
    for kind in UNAVAILABLE_TYPES:
        app.register_error_handler(kind, _answer_unavailable)
    if not getattr(app.dispatch_request, "kmzb_faults", False):
        wrapped = _retrying_reads(app.dispatch_request)
        wrapped.kmzb_faults = True  # type: ignore[attr-defined]
        app.dispatch_request = wrapped  # type: ignore[method-assign]
