"""The QGIS Server plugin's access rules (plugins/qgis_server/kmzb_access/rules.py), pure:
imported from the plugin's folder as QGIS Server imports it, no QGIS, no server."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "qgis_server"
sys.path.insert(0, str(PLUGIN_DIR))
try:
    from kmzb_access import rules
    from kmzb_access.tokens import ANONYMOUS, Caller
finally:
    sys.path.remove(str(PLUGIN_DIR))

POLICE = rules.POLICE_ONLY
OFFICER = Caller(role="officer", unit="KMP-1261", subject="jan")
COORDINATOR = Caller(role="coordinator", unit="KWP-12", subject="anna")
ADMIN = Caller(role="admin", subject="root")
PARTNER = Caller(role="partner", subject="sm")
ATTRIBUTES = ["fid", "reference", "status", "Reporter_Hash", "note", "police_unit", "geom_area"]


@pytest.mark.parametrize(
    ("caller", "police_layer", "public_layer"),
    [(ANONYMOUS, False, True), (PARTNER, False, True), (OFFICER, True, True),
     (COORDINATOR, True, True), (ADMIN, True, True)],
    ids=["anonymous", "partner", "officer", "coordinator", "admin"],
)  # fmt: skip
def test_who_may_read_which_layer(caller: Caller, police_layer: bool, public_layer: bool) -> None:
    assert rules.may_read(POLICE, caller) is police_layer
    assert rules.may_read(None, caller) is public_layer
    assert rules.may_read("public", caller) is public_layer


def test_public_layers_are_not_filtered() -> None:
    for caller in (ANONYMOUS, PARTNER, OFFICER, COORDINATOR, ADMIN):
        assert rules.subset_string(None, caller) == ""
        assert rules.subset_string("anything-else", caller) == ""


def test_a_police_layer_shows_nothing_to_the_public_and_everything_to_an_admin() -> None:
    assert rules.subset_string(POLICE, ANONYMOUS) == rules.NOTHING == "FALSE"
    assert rules.subset_string(POLICE, PARTNER) == "FALSE"
    assert rules.subset_string(POLICE, ADMIN) == ""


def test_an_officer_sees_their_unit_a_coordinator_the_units_under_theirs() -> None:
    assert rules.subset_string(POLICE, OFFICER) == (
        "\"police_unit\" IN (SELECT kmzb.police_unit_reach('KMP-1261', false))"
    )
    assert rules.subset_string(POLICE, COORDINATOR) == (
        "\"police_unit\" IN (SELECT kmzb.police_unit_reach('KWP-12', true))"
    )


def test_personal_fields_never_leave_whatever_the_caller() -> None:
    for caller in (ANONYMOUS, OFFICER, ADMIN):
        visible = rules.visible_attributes(None, None, caller, ATTRIBUTES)
        assert visible == ["fid", "reference", "status", "police_unit", "geom_area"]
    assert rules.PERSONAL_FIELDS >= {"reporter_hash", "address", "note", "actor"}


def test_a_layers_hidden_fields_are_dropped_too() -> None:
    visible = rules.visible_attributes(None, " geom_area , status", ANONYMOUS, ATTRIBUTES)
    assert visible == ["fid", "reference", "police_unit"]


def test_a_police_layer_refused_has_no_attributes() -> None:
    assert rules.visible_attributes(POLICE, None, ANONYMOUS, ATTRIBUTES) == []
    assert rules.visible_attributes(POLICE, None, PARTNER, ATTRIBUTES) == []
    assert "police_unit" in rules.visible_attributes(POLICE, None, OFFICER, ATTRIBUTES)


def test_the_cache_key_is_role_and_unit_only() -> None:
    assert rules.cache_key(ANONYMOUS) == "public"
    assert rules.cache_key(OFFICER) == "officer:KMP-1261"
    assert rules.cache_key(Caller(role="officer", unit="KMP-1261", subject="other")) == (
        rules.cache_key(OFFICER)
    )
    assert rules.cache_key(ADMIN) == "admin:-"
    assert len({rules.cache_key(c) for c in (ANONYMOUS, OFFICER, COORDINATOR, ADMIN)}) == 4


QGIS_REFUSAL = (
    '<ServiceExceptionReport version="1.1.1" xmlns="http://www.opengis.net/ogc">'
    '<ServiceException code="Security">You are not allowed to access to the layer: '
    "zgloszenia_policja</ServiceException></ServiceExceptionReport>"
)


def test_no_token_is_401_naming_the_layer_in_polish_and_english() -> None:
    status, message = rules.refusal(ANONYMOUS, QGIS_REFUSAL)
    assert status == 401
    assert "Warstwa zgloszenia_policja wymaga tokenu Policji" in message
    assert "The layer zgloszenia_policja needs a police token" in message


def test_a_token_without_the_role_is_403_naming_the_role() -> None:
    status, message = rules.refusal(PARTNER, QGIS_REFUSAL)
    assert status == 403
    assert "(rola partner)" in message and "(role partner)" in message


def test_a_refusal_without_a_layer_name_still_reads() -> None:
    status, message = rules.refusal(ANONYMOUS, "<html>something else</html>")
    assert status == 401 and message.startswith("Ta warstwa") and "This layer" in message


def test_the_exception_document_keeps_the_version_and_escapes() -> None:
    document = rules.exception_document('a < b & "c"', "Security", QGIS_REFUSAL)
    root = ET.fromstring(document)
    assert root.get("version") == "1.1.1"
    exception = root.find("{http://www.opengis.net/ogc}ServiceException")
    assert exception is not None
    assert (exception.get("code"), exception.text) == ("Security", 'a < b & "c"')
    assert ET.fromstring(rules.exception_document("x", "Unauthorized", "")).get("version") == (
        "1.3.0"
    )
