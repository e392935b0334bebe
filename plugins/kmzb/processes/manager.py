"""A pygeoapi process manager that answers domain errors with their own HTTP status.

pygeoapi's stock managers turn any exception into a 400 "Error executing
process". Ours raises a DomainError as a DomainProcessError, the
ProcessorExecuteError pygeoapi turns into its error answer, and the error
travels inside it: pygeoapi 0.24 calls `API.get_exception` while handling it,
where kmzb.service.pygeoapi_adapter reads `error` and answers with its status,
both messages, per-field errors and headers (Retry-After, WWW-Authenticate).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import psycopg
from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.process.manager.dummy import DummyManager

from kmzb.domain.errors import DomainError

LOGGER = logging.getLogger(__name__)

INTERNAL_ERROR = DomainError(
    pl="Błąd wewnętrzny; nic nie zapisano.",
    en="Internal error; nothing was stored.",
    status=HTTPStatus.INTERNAL_SERVER_ERROR,
    code="NoApplicableCode",
)


class DomainProcessError(ProcessorExecuteError):
    """A process's DomainError, as pygeoapi's ProcessorExecuteError (status, code,
    the English message), carrying the error itself for the answer."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(user_msg=error.en)
        self.error = error
        self.http_status_code = error.status
        self.ogc_exception_code = error.code


class DomainAwareManager(DummyManager):
    """Synchronous execution, as DummyManager, with domain errors kept intact."""

    def execute_process(
        self,
        process_id: str,
        data_dict: dict,
        execution_mode: Any = None,
        requested_outputs: dict | None = None,
        subscriber: Any = None,
        requested_response: Any = "raw",
    ) -> tuple[None, str, Any, str, None]:
        processor = self.get_processor(process_id)
        try:
            mime_type, outputs = processor.execute(data_dict, outputs=requested_outputs)
        except DomainError as error:
            raise DomainProcessError(error) from error
        except psycopg.OperationalError as error:
            # the database is unreachable: the adapter answers 503 + Retry-After from
            # this error's cause (kmzb.service.faults) and logs one line; no traceback
            raise DomainProcessError(INTERNAL_ERROR) from error
        except Exception as error:  # never a stack trace to the client
            LOGGER.exception("process %s failed", process_id)
            raise DomainProcessError(INTERNAL_ERROR) from error
        if requested_response == "document":
            outputs = {"outputs": [outputs]}
        return None, mime_type, outputs, "successful", None
