"""The QGIS Server side: a request filter that identifies the caller, and an access
control filter that applies kmzb_access.rules to every layer QGIS Server touches
(GetCapabilities, GetMap, GetLegendGraphic, GetFeatureInfo, WFS).

QGIS Server handles one request at a time per process (FastCGI or
qgis_mapserver), so the caller of the request in hand is kept on the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qgis.core import Qgis, QgsMessageLog
from qgis.server import QgsAccessControlFilter, QgsServerException, QgsServerFilter

from . import rules, tokens
from .tokens import ANONYMOUS, Caller, TokenError, caller_from_header

if TYPE_CHECKING:  # annotations only: QGIS's own Python evaluates none of them
    from qgis.core import QgsFeature, QgsMapLayer
    from qgis.server import QgsRequestHandler, QgsServerInterface

LOG_TAG = "kmzb_access"
ACCESS_CONTROL_PRIORITY = 100
FILTER_PRIORITY = 100


class KmzbAccessPlugin:
    def __init__(self, server_iface: QgsServerInterface) -> None:
        self.caller: Caller = ANONYMOUS
        # the token settings are read once, when QGIS Server loads the plugin
        self.token_config = tokens.configuration()
        self.request_filter = CallerFilter(server_iface, self)
        self.access_control = AccessControl(server_iface, self)
        server_iface.registerFilter(self.request_filter, FILTER_PRIORITY)
        server_iface.registerAccessControl(self.access_control, ACCESS_CONTROL_PRIORITY)
        QgsMessageLog.logMessage("KMZB access control loaded", LOG_TAG, Qgis.Info)


def _authorization_header(handler: QgsRequestHandler) -> str | None:
    for name in ("Authorization", "authorization", "AUTHORIZATION"):
        value = handler.requestHeader(name)
        if value:
            return value
    for name, value in handler.requestHeaders().items():  # any other spelling
        if name.lower() == "authorization" and value:
            return value
    return None


class CallerFilter(QgsServerFilter):
    """Who is asking: anonymous, or the holder of a valid token; else a 401 answer."""

    def __init__(self, server_iface: QgsServerInterface, plugin: KmzbAccessPlugin) -> None:
        super().__init__(server_iface)
        self.plugin = plugin

    def requestReady(self) -> None:  # noqa: N802 (QGIS API)
        self.plugin.caller = ANONYMOUS
        handler = self.serverInterface().requestHandler()
        try:
            self.plugin.caller = caller_from_header(
                _authorization_header(handler), self.plugin.token_config
            )
        except TokenError as exc:
            handler.setServiceException(
                QgsServerException(f"Nieprawidłowy token / Invalid token: {exc}", 401)
            )
            handler.setResponseHeader("WWW-Authenticate", rules.AUTH_CHALLENGE)
            handler.setResponseHeader("Content-Language", rules.BILINGUAL)
            QgsMessageLog.logMessage(f"refused a token: {exc}", LOG_TAG, Qgis.Warning)

    def responseComplete(self) -> None:  # noqa: N802 (QGIS API)
        try:
            self._translate_refusal(self.serverInterface().requestHandler())
        finally:
            self.plugin.caller = ANONYMOUS

    def _translate_refusal(self, handler: QgsRequestHandler) -> None:
        """QGIS Server refuses a hidden layer with a 403 in English only ("You are not
        allowed to access to the layer: ..."). Say it in Polish and English, and as the
        API does: 401 with a challenge when no token was sent, 403 for a valid token
        whose role may not see the layer."""
        if handler.statusCode() != 403 or handler.headersSent():
            return
        original = bytes(handler.body()).decode("utf-8", "replace")
        status, message = rules.refusal(self.plugin.caller, original)
        handler.clearBody()
        handler.setStatusCode(status)
        handler.setResponseHeader("Content-Type", "text/xml; charset=utf-8")
        handler.setResponseHeader("Content-Language", rules.BILINGUAL)
        if status == 401:
            handler.setResponseHeader("WWW-Authenticate", rules.AUTH_CHALLENGE)
        code = "Unauthorized" if status == 401 else "Security"
        handler.appendBody(rules.exception_document(message, code, original))


class AccessControl(QgsAccessControlFilter):
    def __init__(self, server_iface: QgsServerInterface, plugin: KmzbAccessPlugin) -> None:
        super().__init__(server_iface)
        self.plugin = plugin

    @staticmethod
    def _access(layer: QgsMapLayer) -> str | None:
        value = layer.customProperty(rules.ACCESS_PROPERTY)
        return str(value) if value else None

    def layerPermissions(  # noqa: N802 (QGIS API)
        self, layer: QgsMapLayer
    ) -> QgsAccessControlFilter.LayerPermissions:
        permissions = QgsAccessControlFilter.LayerPermissions()
        permissions.canRead = rules.may_read(self._access(layer), self.plugin.caller)
        # the map is read-only through QGIS Server: reports are written by the API
        permissions.canInsert = permissions.canUpdate = permissions.canDelete = False
        return permissions

    def layerFilterSubsetString(self, layer: QgsMapLayer) -> str:  # noqa: N802 (QGIS API)
        return rules.subset_string(self._access(layer), self.plugin.caller)

    def layerFilterExpression(self, layer: QgsMapLayer) -> str:  # noqa: N802 (QGIS API)
        return ""

    def authorizedLayerAttributes(  # noqa: N802 (QGIS API)
        self, layer: QgsMapLayer, attributes: list[str]
    ) -> list[str]:
        hidden = layer.customProperty(rules.HIDDEN_PROPERTY)
        return rules.visible_attributes(
            self._access(layer), str(hidden) if hidden else None, self.plugin.caller, attributes
        )

    def allowToEdit(self, layer: QgsMapLayer, feature: QgsFeature) -> bool:  # noqa: N802 (QGIS API)
        return False

    def cacheKey(self) -> str:  # noqa: N802 (QGIS API)
        return rules.cache_key(self.plugin.caller)
