"""The names of the two coordinate reference systems the service takes, defined once.

WGS 84 longitude/latitude (CRS84 order) for citizens' points, the loaders' GeoJSON
and the APIs' default; PUWG 1992 (EPSG:2180, easting/northing) for x/y input.
"""

from __future__ import annotations

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_2180_URI = "http://www.opengis.net/def/crs/EPSG/0/2180"

WGS84_NAMES = frozenset(
    {
        "CRS84",
        "OGC:CRS84",
        CRS84_URI,
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "EPSG:4326",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        "urn:ogc:def:crs:EPSG::4326",
    }
)
PUWG_1992_NAMES = frozenset({"EPSG:2180", EPSG_2180_URI, "urn:ogc:def:crs:EPSG::2180"})


# A box around Poland (lon 14.07-24.15, lat 49.00-54.84) with a margin of over 50 km:
# inside it the transform to PUWG 1992 (EPSG:2180) always succeeds and the boundary
# decides; far outside, PROJ refuses the point inside PostGIS (an error, not an answer),
# so a point there is outside Poland without asking the database.
POLAND_ENVELOPE = (13.0, 48.0, 25.5, 56.0)  # west, south, east, north


def in_envelope_of_poland(lon: float | None, lat: float | None) -> bool:
    west, south, east, north = POLAND_ENVELOPE
    return lon is not None and lat is not None and west <= lon <= east and south <= lat <= north
