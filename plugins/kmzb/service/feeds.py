"""Atom 1.0 feeds for people (made with feedgen): the latest public changes in an area
(`/feeds/threats.atom`) and one report's public history (`/reports/<ref>/feed.atom`),
so anyone can follow an area or their own report with no account and no e-mail.
Conditional GET: a strong ETag from the entries and the filter, Last-Modified from the
newest change, 304 when either still holds. What they hold: kmzb.domain.feeds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from feedgen.ext.base import (  # type: ignore[import-untyped]
    BaseEntryExtension,
    BaseExtension,
)
from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from flask import Blueprint, Response, request
from werkzeug.http import http_date

from kmzb.db.pool import get_read_pool
from kmzb.domain import feeds as domain
from kmzb.settings import load_settings

feeds = Blueprint("kmzb_feeds", __name__)

ATOM = "application/atom+xml; charset=utf-8"
FEED_CACHE = "public, max-age=60"
# an empty feed's `updated`: a fixed instant (the KMZB's start), so its body is stable
EMPTY_UPDATED = datetime(2016, 1, 1, tzinfo=UTC)
TAG = "tag:kmzb.policja.pl,2016:"


class EntryLinks(BaseEntryExtension):
    """An entry's links with their rel, type and title. feedgen 1.0.0's FeedEntry.link()
    writes only href in Atom (its loop rebinds `link` to the new element before reading
    the attributes), so the entry links go through this extension instead (fix for
    upstream: a distinct name for the element in FeedEntry.atom_entry)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def add(self, **attributes: str) -> None:
        self.links.append(attributes)

    def extend_atom(self, entry: Any) -> Any:
        """`entry`: feedgen's lxml element of the Atom entry."""
        for attributes in self.links:
            entry.append(entry.makeelement("link", attributes))  # as feedgen: default ns
        return entry


def _entry(fg: FeedGenerator, base: str, change: domain.Change, report_feed: bool) -> None:
    entry = fg.add_entry(order="append")
    entry.id(f"{TAG}reports/{change.reference}/changes/{change.history_id}")
    place = change.gmina.name
    entry.title(
        f"{change.category_pl} — {change.status_pl}, {place} "
        f"/ {change.category_en} — {change.status_en}, {place}"
    )
    entry.updated(change.changed_at)
    entry.links.add(
        href=f"{base}/reports/{change.reference}",
        rel="alternate",
        type="application/json",
        title="Status zgłoszenia / report status",
    )
    entry.links.add(
        href=f"{base}/collections/threats/items/{change.reference}",
        rel="related",
        type="application/geo+json",
        title="Obiekt na mapie / map feature",
    )
    if not report_feed:
        entry.links.add(
            href=f"{base}/reports/{change.reference}/feed.atom",
            rel="related",
            type="application/atom+xml",
            title="Obserwuj zgłoszenie / follow this report",
        )
    for term, label in (
        (change.category, f"{change.category_pl} / {change.category_en}"),
        (f"status:{change.status}", f"{change.status_pl} / {change.status_en}"),
    ):
        entry.category(term=term, label=label)
    entry.geo.point(f"{change.lat:.5f} {change.lon:.5f}")
    lines = [
        f"Zgłoszenie {change.reference}: {change.category_pl}, status „{change.status_pl}”. "
        f"Gmina {change.gmina.name} ({change.gmina.teryt}), {change.powiat.name}, "
        f"województwo {change.wojewodztwo.name}.",
        f"Report {change.reference}: {change.category_en}, status “{change.status_en}”. "
        f"Municipality {change.gmina.name} ({change.gmina.teryt}), county: "
        f"{change.powiat.name}, voivodeship: {change.wojewodztwo.name}.",
    ]
    if change.note:
        lines.append(f"Notatka Policji / police note: {change.note}")
    entry.content("\n".join(lines), type="text")


def _atom(
    base: str,
    self_url: str,
    feed_id: str,
    title: str,
    subtitle: str,
    found: domain.Feed,
    report_feed: bool = False,
) -> bytes:
    fg = FeedGenerator()
    fg.load_extension("geo")
    fg.register_extension("links", BaseExtension, EntryLinks, rss=False)
    fg.id(feed_id)
    fg.title(title)
    fg.subtitle(subtitle)
    fg.author({"name": "Krajowa Mapa Zagrożeń Bezpieczeństwa (KMZB)"})
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=f"{base}/", rel="alternate", type="text/html")
    fg.language("pl")
    fg.updated(found.newest or EMPTY_UPDATED)
    for change in found.changes:
        _entry(fg, base, change, report_feed)
    body: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return body


def _not_modified(etag: str) -> Response:
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = FEED_CACHE
    return response


def _still_valid(conn: Any, key: str) -> Response | None:
    """304 when a tag the client sent still names the feed as it is now: checked with
    one index lookup, without reading or rendering the feed."""
    if not request.if_none_match:
        return None
    tags = sorted(request.if_none_match.as_set())
    matched = domain.still_valid(tags, key, domain.current_state(conn))
    return None if matched is None else _not_modified(matched)


def _answer(found: domain.Feed, key: str, render: Callable[[], bytes]) -> Response:
    """304 when the client's validator holds for the feed just read, else the feed."""
    etag = found.etag(key)
    newest = found.newest
    if request.if_none_match:  # it decides alone when sent (RFC 9110 13.2.2)
        if request.if_none_match.contains(etag.strip('"')):
            return _not_modified(etag)
    elif request.if_modified_since and newest is not None:
        # HTTP dates count whole seconds
        if newest.astimezone(UTC).replace(microsecond=0) <= request.if_modified_since:
            response = _not_modified(etag)
            response.headers["Last-Modified"] = http_date(newest)
            return response
    response = Response(render(), status=200, content_type=ATOM)
    response.headers["Content-Language"] = "pl, en"
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = FEED_CACHE
    if newest is not None:
        response.headers["Last-Modified"] = http_date(newest)  # in GMT, whatever the zone
    return response


@feeds.get("/feeds/threats.atom")
def area_feed() -> Response:
    """Public: the latest public changes of public threats, filtered by place, bbox,
    category or status."""
    base = load_settings().public_url.rstrip("/")
    args = request.args.to_dict()
    with get_read_pool().connection() as conn:
        where = domain.parse_area(conn, args)
        key = domain.digest(conn, where.key)
        unchanged = _still_valid(conn, key)
        if unchanged is not None:
            return unchanged
        found = domain.area_changes(conn, where)
    what_pl, what_en = where.describe()
    query = urlencode(sorted(args.items()))
    self_url = f"{base}/feeds/threats.atom" + (f"?{query}" if query else "")

    def render() -> bytes:
        return _atom(
            base,
            self_url,
            f"{TAG}feeds/threats?{where.key}",
            "KMZB: zmiany zagrożeń — " + what_pl + " / KMZB: threat changes — " + what_en,
            f"Najnowsze publiczne zmiany zgłoszeń: {what_pl}. "
            f"The latest public changes of reported threats: {what_en}. "
            "W sytuacji zagrożenia życia lub zdrowia dzwoń 112 / "
            "in an emergency call 112.",
            found,
        )

    return _answer(found, key, render)


@feeds.get("/reports/<reference>/feed.atom")
def report_feed(reference: str) -> Response:
    """Public: one public report's history, to follow it by its reference."""
    base = load_settings().public_url.rstrip("/")
    with get_read_pool().connection() as conn:
        ref = domain.parse_reference(conn, reference)
        key = domain.digest(conn, f"report={ref}")
        unchanged = _still_valid(conn, key)
        if unchanged is not None:
            return unchanged
        ref, found = domain.report_history(conn, ref)
    latest = found.changes[0]

    def render() -> bytes:
        return _atom(
            base,
            f"{base}/reports/{ref}/feed.atom",
            f"{TAG}reports/{ref}",
            f"KMZB: zgłoszenie {ref} ({latest.category_pl}, {latest.gmina.name}) "
            f"/ report {ref} ({latest.category_en}, {latest.gmina.name})",
            f"Publiczna historia zgłoszenia {ref}. The public history of report {ref}.",
            found,
            report_feed=True,
        )

    return _answer(found, key, render)
