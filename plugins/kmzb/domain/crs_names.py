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
