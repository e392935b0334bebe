"""KMZB access control for QGIS Server (loaded from QGIS_PLUGINPATH).

Stdlib, qgis, and Debian's python3-jwt only: it runs in QGIS's own Python.
"""

from __future__ import annotations

from typing import Any


def serverClassFactory(server_iface: Any) -> Any:  # noqa: N802 (the name QGIS Server looks for)
    from .server import KmzbAccessPlugin

    return KmzbAccessPlugin(server_iface)
