"""A pygeoapi process manager that answers domain errors with their own HTTP status.

pygeoapi's stock managers turn any exception into a 400 "Error executing
process". Ours lets a DomainError through as a ProcessorExecuteError with the
error's status (401, 403, 404, 409, 429 ...) and records it, so the HTTP layer
can add the per-field messages and headers (Retry-After) to the answer.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import psycopg
from flask import g, has_request_context
from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.process.manager.dummy import DummyManager

from kmzb.domain.errors import DomainError

LOGGER = logging.getLogger(__name__)


class DomainProcessError(ProcessorExecuteError):
    def __init__(self, error: DomainError) -> None:
        super().__init__(user_msg=str(error))
        self.http_status_code = error.status
        self.ogc_exception_code = error.code


class InternalProcessError(ProcessorExecuteError):
    http_status_code = HTTPStatus.INTERNAL_SERVER_ERROR
    ogc_exception_code = "NoApplicableCode"


class DomainAwareManager(DummyManager):
    """Synchronous execution, as DummyManager, with domain errors kept intact."""

    def execute_process(
        self,
        process_id,
        data_dict,
        execution_mode=None,
        requested_outputs=None,
        subscriber=None,
        requested_response="raw",
    ):
        processor = self.get_processor(process_id)
        try:
            mime_type, outputs = processor.execute(data_dict, outputs=requested_outputs)
        except DomainError as error:
            if has_request_context():
                g.kmzb_domain_error = error
            raise DomainProcessError(error) from error
        except psycopg.OperationalError as error:
            # the database is unreachable: kmzb.service.faults answers 503 + Retry-After
            # from this error's cause and logs one line; no traceback here
            raise InternalProcessError(user_msg="database unavailable") from error
        except Exception as error:  # never a stack trace to the client
            LOGGER.exception("process %s failed", process_id)
            raise InternalProcessError(
                user_msg="Internal error; nothing was stored. / Błąd wewnętrzny; nic nie zapisano."
            ) from error
        if requested_response == "document":
            outputs = {"outputs": [outputs]}
        return None, mime_type, outputs, "successful", None
