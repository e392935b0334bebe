"""Our own read routes beside pygeoapi: status by reference, the police queue,
report details and attachments for the police, and what partners received."""

from __future__ import annotations

from flask import Blueprint, Response, request

from kmzb.db.pool import get_pool
from kmzb.domain import reports
from kmzb.domain.caller import current_caller
from kmzb.service.responses import json_response

routes = Blueprint("kmzb", __name__)


@routes.get("/reports/<reference>")
def report_status(reference: str) -> Response:
    """Public: the status and public history of a report, by its reference."""
    with get_pool().connection() as conn:
        return json_response(reports.lookup(conn, reference))


@routes.get("/police/queue")
def police_queue() -> Response:
    """Open reports of the caller's unit(s), oldest first; ?status=&category=&from=&to=."""
    with get_pool().connection() as conn:
        return json_response(reports.queue(conn, current_caller.get(), request.args.to_dict()))


@routes.get("/police/reports/<reference>")
def police_report(reference: str) -> Response:
    with get_pool().connection() as conn:
        return json_response(reports.police_view(conn, current_caller.get(), reference))


@routes.get("/police/reports/<reference>/attachments/<int:attachment_id>")
def police_attachment(reference: str, attachment_id: int) -> Response:
    with get_pool().connection() as conn:
        name, media_type, content = reports.attachment(
            conn, current_caller.get(), reference, attachment_id
        )
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@routes.get("/partner/forwarded")
def partner_forwarded() -> Response:
    with get_pool().connection() as conn:
        return json_response(reports.forwarded_to_partner(conn, current_caller.get()))
