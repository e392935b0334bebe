"""pygeoapi's HTML pages: every page from our templates (web/pygeoapi/templates).

pygeoapi 0.24 renders the /TileMatrixSets pages with the whole configuration
where the templates' configuration belongs (`render_j2_template(api.tpl_config,
api.tpl_config, ...)` in pygeoapi/api/tiles.py), so `server.templates` is not
found and those two pages fall back to pygeoapi's own templates, which load
Bootstrap from a CDN. `templates_config` gives the call `server.templates`, as
every other page has; kmzb.service.pygeoapi_adapter puts it in front of
pygeoapi.api.tiles' renderer (docs/upstream/tilematrixset-templates.md).
"""

from __future__ import annotations


def templates_config(config: dict, tpl_config: dict | None) -> dict | None:
    """The templates' configuration, given it or (pygeoapi 0.24's fault) the whole config."""
    if isinstance(tpl_config, dict) and "server" in tpl_config and "path" not in tpl_config:
        return config.get("server", {}).get("templates")
    return tpl_config
