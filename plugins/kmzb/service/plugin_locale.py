"""A provider's language from `?lang=` or Accept-Language.

pygeoapi 0.24's `l10n.get_plugin_locale` hands the raw locale string ("en",
"en-US,en;q=0.9") to `l10n.best_match`, which takes only a list and ignores a
string, so every provider gets its first language whatever the client asked
for. Here the string is split into the list best_match expects (quality
values dropped; the order is the client's). Upstream fix: split `raw_locale`
in get_plugin_locale (pygeoapi/l10n.py) before calling best_match.
"""

from __future__ import annotations

from typing import Any

import pygeoapi

PATCHED_VERSIONS = ("0.24.",)  # the releases with the fault; look again on an upgrade


def accepted_languages(raw: Any) -> Any:
    """ "en-US,en;q=0.9, pl" -> ["en-US", "en", "pl"]; anything not a string as it was."""
    if not isinstance(raw, str):
        return raw
    return [part.split(";", 1)[0].strip() for part in raw.split(",") if part.strip()]


def install() -> bool:
    """Patch pygeoapi.l10n.get_plugin_locale (once); False when this pygeoapi is not patched."""
    if not pygeoapi.__version__.startswith(PATCHED_VERSIONS):
        return False
    from pygeoapi import l10n

    original = l10n.get_plugin_locale
    if getattr(original, "kmzb_splits_raw_locale", False):
        return True

    def get_plugin_locale(config: dict, requested_locale: Any):
        return original(config, accepted_languages(requested_locale))

    get_plugin_locale.kmzb_splits_raw_locale = True  # type: ignore[attr-defined]
    l10n.get_plugin_locale = get_plugin_locale
    return True
