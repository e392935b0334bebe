"""A provider's language from `?lang=` or Accept-Language.

pygeoapi 0.24's `l10n.get_plugin_locale` hands the raw locale string ("en",
"en-US,en;q=0.9") to `l10n.best_match`, which takes only a list and ignores a
string, so every provider gets its first language whatever the client asked
for. Here the string is split into the list best_match expects (quality
values dropped; the order is the client's). Upstream fix: split `raw_locale`
in get_plugin_locale (pygeoapi/l10n.py) before calling best_match
(docs/upstream/plugin-locale.md); until then kmzb.service.pygeoapi_adapter puts
`accepted_languages` in front of it.
"""

from __future__ import annotations

from typing import Any


def accepted_languages(raw: Any) -> Any:
    """ "en-US,en;q=0.9, pl" -> ["en-US", "en", "pl"]; anything not a string as it was."""
    if not isinstance(raw, str):
        return raw
    return [part.split(";", 1)[0].strip() for part in raw.split(",") if part.strip()]
