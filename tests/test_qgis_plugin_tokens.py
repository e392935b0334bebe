"""The one verifier behind both doors: each token gets the same answer from the real app
(gunicorn) and the real QGIS Server (qgis_mapserver loading the kmzb_access plugin from
QGIS_PLUGINPATH, in QGIS's own Python), and a refusal names the same reason at both."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from kmzb.auth import tokens, verifier
from kmzb.settings import Settings
from unit.token_cases import claims, unsigned

WMS_CAPABILITIES = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities"}


def _signed(settings: Settings, **changes: object) -> str:
    body = claims(int(time.time()), iss=settings.jwt_issuer, aud=settings.jwt_audience, **changes)
    tokens.ensure_local_keys()
    return jwt.encode(body, tokens.PRIVATE_KEY.read_bytes(), algorithm="ES256")


CASES = {
    # name: (claims changed, or a whole token, and the reason; None: accepted)
    "good officer": ({}, None),
    "bad unit code": ({"unit": "KMP-1261') OR TRUE --"}, "unit"),
    "future iat": ({"iat": 4_000_000_000}, "not_yet_valid"),
    "sub that is a number": ({"sub": 7}, "subject"),
    "unknown role": ({"role": "root"}, "role"),
    "expired": ({"exp": 1_000_000_000}, "expired"),
    "alg none": ("none", "algorithm"),
    "stray character on the signature": ("stray", "malformed"),
}


def _token(settings: Settings, name: str) -> str:
    changes, _reason = CASES[name]
    if changes == "none":
        return unsigned(claims(int(time.time()), iss=settings.jwt_issuer))
    if changes == "stray":
        return _signed(settings) + "x"
    assert isinstance(changes, dict)
    return _signed(settings, **changes)


@pytest.mark.parametrize("name", CASES)
def test_the_app_and_qgis_server_give_a_token_the_same_answer(
    api: str, wms: str, settings: Settings, name: str
) -> None:
    token = _token(settings, name)
    reason = CASES[name][1]
    headers = {"Authorization": f"Bearer {token}"}
    app = requests.get(f"{api}/police/queue", headers=headers, timeout=60)
    qgis = requests.get(f"{wms}/ows/", params=WMS_CAPABILITIES, headers=headers, timeout=60)
    if reason is None:
        assert app.status_code == 200, app.text
        assert qgis.status_code == 200, qgis.text
        assert "zgloszenia_jednostki" in qgis.text  # the police layer: the token counted
        return
    en, pl = verifier.REASONS[reason]
    assert app.status_code == 401, app.text
    assert app.headers["WWW-Authenticate"].startswith("Bearer")
    assert en in app.text and pl in app.text
    assert qgis.status_code == 401, qgis.text
    assert qgis.headers["WWW-Authenticate"].startswith("Bearer")
    assert en in qgis.text and pl in qgis.text
    assert "zgloszenia_jednostki" not in qgis.text
