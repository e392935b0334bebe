"""What a provider needs from the request that pygeoapi 0.24 does not hand it.

pygeoapi calls a provider with the parsed query only: it drops `bbox-crs` once
it has moved the bbox's two corners to the storage CRS, and it passes
`skipGeometry` to `query` but not to `get`. The HTTP layer (kmzb.service.
pygeoapi_adapter, the one seam to pygeoapi) sets `current` for the duration of
each request; a provider reads it and never imports Flask. Outside a request
(a test, the CLI) it is the empty query.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestQuery:
    bbox: str | None = None  # the bbox as sent, with bbox_crs
    bbox_crs: str | None = None
    skip_geometry: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RequestQuery:
        return cls(
            bbox=args.get("bbox") or None,
            bbox_crs=args.get("bbox-crs") or None,
            skip_geometry=(args.get("skipGeometry") or "").strip().lower() in ("true", "1", "yes"),
        )


EMPTY = RequestQuery()
current: ContextVar[RequestQuery] = ContextVar("kmzb_request_query", default=EMPTY)
