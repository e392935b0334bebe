"""Our own read routes beside pygeoapi: the vocabulary, status by reference, the police queue,
report details and attachments for the police, what partners received, the
institutions reports are forwarded to, and the police read audit for admins.

Every protected route follows one rule: no token or a bad one is 401, a valid
token with the wrong role or unit is 403 (see kmzb.service.security)."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, request

from kmzb.db.pool import get_pool, get_read_pool
from kmzb.domain import (
    attachments,
    audit,
    institutions,
    lookup,
    partners,
    police_view,
    queue,
    vocabulary,
)
from kmzb.domain.caller import current_caller
from kmzb.domain.police_reach import reachable_units
from kmzb.domain.spelling import ascii_spelling
from kmzb.service.responses import json_response

routes = Blueprint("kmzb", __name__)

UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._()+ -]")


def content_disposition(name: str) -> str:
    """`attachment` with an RFC 6266 ASCII fallback and the RFC 5987 UTF-8 name.

    The fallback keeps letters, digits and a few harmless marks; everything else
    (quotes, backslashes, `;`, CR, LF and other controls, path separators)
    becomes `_`. The UTF-8 name is percent-encoded whole, so nothing in it can
    end the parameter or the header.
    """
    ascii_name = ascii_spelling(name)
    fallback = UNSAFE_IN_FALLBACK.sub("_", ascii_name).strip(" .") or "zalacznik"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


# The vocabulary changes only with a migration: caches may keep it for 5 minutes.
VOCABULARY_CACHE = "public, max-age=300"


@routes.get("/vocabulary")
def vocabulary_document() -> Response:
    """Public: statuses (names, colours, flags, next statuses), categories, times of day
    and the submission limits, as the database defines them; ETag and 304."""
    with get_read_pool().connection() as conn:
        found = vocabulary.load(conn)
    headers = {"Cache-Control": VOCABULARY_CACHE, "ETag": found.etag}
    if request.if_none_match.contains_weak(found.etag.strip('"')):
        response = Response(status=304)
        for name, value in headers.items():
            response.headers[name] = value
        return response
    return json_response(found.as_json(), headers=headers)


@routes.get("/reports/<reference>")
def report_status(reference: str) -> Response:
    """Public: the status and public history of a report, by its reference."""
    with get_pool().connection() as conn:
        return json_response(lookup.by_reference(conn, reference))


@routes.get("/police/queue")
def police_queue() -> Response:
    """Open reports of the caller's unit(s), oldest first; ?status=&category=&from=&to=.
    Each answered read is recorded in the access log before the answer leaves."""
    caller = current_caller.get()
    with get_pool().connection() as conn:
        answer = queue.read(conn, caller, request.args.to_dict())
        audit.record(conn, caller, "queue")
        conn.commit()
    return json_response(answer)


@routes.get("/police/reports/<reference>")
def police_report(reference: str) -> Response:
    caller = current_caller.get()
    with get_pool().connection() as conn:
        # who may ask comes first (401/403): a refusal says nothing of whether it exists
        reachable_units(conn, caller)
        return json_response(police_view.read(conn, caller, reference))


@routes.get("/police/reports/<reference>/attachments/<int:attachment_id>")
def police_attachment(reference: str, attachment_id: int) -> Response:
    caller = current_caller.get()
    with get_pool().connection() as conn:
        reachable_units(conn, caller)
        name, media_type, content = attachments.download(conn, caller, reference, attachment_id)
    response = Response(content, mimetype=media_type)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "private, no-store"
    # a download, never a page: no sniffing into HTML, no script if it is opened anyway
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@routes.get("/partner/forwarded")
def partner_forwarded() -> Response:
    with get_pool().connection() as conn:
        return json_response(partners.forwarded_reports(conn, current_caller.get()))


@routes.get("/institutions")
def institution_list() -> Response:
    """For the police panel: institutions by code; ?unit= those that unit may forward to."""
    with get_pool().connection() as conn:
        return json_response(
            institutions.listing(conn, current_caller.get(), request.args.get("unit"))
        )


@routes.get("/admin/access-log")
def access_log() -> Response:
    """For the admin role: police reads, newest first; ?reference=&actor=&from=&to=&limit=."""
    with get_pool().connection() as conn:
        return json_response(
            audit.read_log(conn, current_caller.get(), request.args.to_dict()),
            headers={"Cache-Control": "private, no-store"},
        )
