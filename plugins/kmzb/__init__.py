"""KMZB: Krajowa Mapa Zagrożeń Bezpieczeństwa as an open OGC geoservice."""

__version__ = "0.1.0"
