"""pygeoapi's HTML pages: every page from our templates (web/pygeoapi/templates).

pygeoapi 0.24 renders the /TileMatrixSets pages with the whole configuration
where the templates' configuration belongs (`render_j2_template(api.tpl_config,
api.tpl_config, ...)` in pygeoapi/api/tiles.py), so `server.templates` is not
found and those two pages fall back to pygeoapi's own templates, which load
Bootstrap from a CDN. Here the call gets `server.templates`, as every other
page does. Upstream fix: pass `api.config['server']['templates']` in
`tilematrixsets()` and `tilematrixset()` of pygeoapi/api/tiles.py.
"""

from __future__ import annotations

from typing import Any

import pygeoapi

PATCHED_VERSIONS = ("0.24.",)  # the releases with the fault; look again on an upgrade


def _templates(config: dict, tpl_config: dict | None) -> dict | None:
    """The templates' configuration, given it or (pygeoapi 0.24's fault) the whole config."""
    if isinstance(tpl_config, dict) and "server" in tpl_config and "path" not in tpl_config:
        return config.get("server", {}).get("templates")
    return tpl_config


def install() -> bool:
    """Patch pygeoapi.api.tiles' renderer (once); False when this pygeoapi is not patched."""
    if not pygeoapi.__version__.startswith(PATCHED_VERSIONS):
        return False
    from pygeoapi.api import tiles

    render = tiles.render_j2_template
    if getattr(render, "kmzb_templates_fixed", False):
        return True

    def render_j2_template(config: dict, tpl_config: dict, template: Any, *args, **kwargs):
        return render(config, _templates(config, tpl_config), template, *args, **kwargs)

    render_j2_template.kmzb_templates_fixed = True  # type: ignore[attr-defined]
    tiles.render_j2_template = render_j2_template
    return True
