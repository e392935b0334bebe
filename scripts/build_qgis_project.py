#!/usr/bin/python3
"""Build (or check) qgis_projects/kmzb_public.qgs, the styled public map, with PyQGIS.

Runs under the system Python (QGIS 3.22's own), not the project's venv:

    /usr/bin/python3 scripts/build_qgis_project.py          # var/pg_service.conf by default
    PGSERVICEFILE=elsewhere.conf /usr/bin/python3 scripts/build_qgis_project.py --check

Every layer reads a `kmzb.wms_*` view (sql/020_wms_views.sql) through the
PostgreSQL service name `kmzb`: the project never names a host or a password;
each installation's pg_service.conf says where the database is. The script
opens each layer against the database to check it is valid, computes the
choropleth classes from the statistics, and writes plain XML. `--check`
builds into memory and fails if the committed file differs (rebuild after a
schema or style change and review the diff like code).
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: qgis is imported where QGIS's Python runs us
    from qgis.core import (
        QgsApplication,
        QgsGraduatedSymbolRenderer,
        QgsMarkerSymbol,
        QgsProject,
        QgsRectangle,
        QgsRuleBasedRenderer,
        QgsVectorLayer,
    )

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "qgis_projects" / "kmzb_public.qgs"
SERVICE = "kmzb"
SVG_DIR = "/usr/share/qgis/svg"

# Statuses (fill, outline, pictogram colour, Polish name) and the statuses the
# public map may show, read from the database (kmzb.wms_status_styles: kmzb.statuses
# and kmzb.visibility_policy, sql/043) when the project is built; never copied here.
STATUS_STYLE: dict[str, tuple[str, str, str, str]] = {}
PUBLIC_STATUSES: list[str] = []

# Each category's pictogram is the stem of an SVG of QGIS's bundled library
# (kmzb.threat_categories.pictogram), found in one of its folders.
CATEGORY_ICONS: dict[str, str] = {}

# Reports are drawn one by one only at large scales; above this scale
# denominator the map draws the PostGIS grid (kmzb.public_threat_cells).
POINTS_MAX_SCALE = 40_000
POLICE_MAX_SCALE = 150_000
# The grid level whose cells are about 20 px wide at a scale, in EPSG:2180:
# cell = 40075016.686 / 2^z / 64 m in Web Mercator, x cos(52°) on the ground.
GRID_SCALE_AT_Z0 = 0.616 * 40075016.686 / 64 / (20 * 0.00028)

# A cell's disc (mm) grows with the density of reports: its count over the number of
# finest (z 13) cells it covers, 4^(13 - z), on a log scale; tuned for millions of
# reports (a city centre at the largest size, the countryside about 2 mm).
GRID_SIZE_EXPRESSION = 'max(1.0, min(4.6, 6.3 + 1.8 * (log10("n") - 0.602 * (13 - "z"))))'

WMS_CRS = ["EPSG:2180", "EPSG:4326", "EPSG:3857"]
# Poland in EPSG:2180, with a margin: the advertised extent
POLAND_2180 = (140000.0, 120000.0, 880000.0, 800000.0)


def parse_args(description: str = __doc__, output: Path = DEFAULT_OUTPUT) -> argparse.Namespace:
    """--output and --check, for this builder and the basemap's."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--output", type=Path, default=output)
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed project differs"
    )
    return parser.parse_args()


def start_qgis() -> QgsApplication:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_HASH_SEED"] = "0"  # attributes in a stable order: the file diffs like code
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    return app


def uri(view: str, geometry: str, srid: int = 2180) -> str:
    return (
        f"service='{SERVICE}' key='fid' estimatedmetadata=true srid={srid} "
        f"type={geometry} checkPrimaryKeyUnicity='0' "
        f'table="kmzb"."{view}" (geom)'
    )


def vector_layer(view: str, geometry: str, title: str, srid: int = 2180) -> QgsVectorLayer:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(uri(view, geometry, srid), title, "postgres")
    if not layer.isValid():
        sys.exit(
            f"build_qgis_project: layer {view} is not valid; is PGSERVICEFILE set and the "
            f"database migrated? ({layer.dataProvider().error().summary()})"
        )
    # a fixed extent (Poland), not the data's: the file does not depend on the reports
    # in the database, and QGIS Server (trusting layer metadata) never computes one
    layer.setExtent(poland_extent(srid))
    return layer


def poland_extent(srid: int) -> QgsRectangle:
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsProject,
        QgsRectangle,
    )

    extent = QgsRectangle(*POLAND_2180)
    if srid == 2180:
        return extent
    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:2180"),
        QgsCoordinateReferenceSystem(f"EPSG:{srid}"),
        QgsProject.instance(),
    )
    return transform.transformBoundingBox(extent)


def publish(
    layer: QgsVectorLayer, short_name: str, abstract: str, hidden_fields: tuple[str, ...] = ()
) -> None:
    """WMS/WFS name and abstract. The access plugin never lists the key `fid`, a
    personal field or the layer's `kmzb/hidden_fields` in GetFeatureInfo or WFS
    (QGIS 3.22's Python cannot set the fields' HideFromWms flags)."""
    layer.setShortName(short_name)
    layer.setAbstract(abstract)
    layer.setKeywordList("KMZB")
    if hidden_fields:
        layer.setCustomProperty("kmzb/hidden_fields", ",".join(hidden_fields))


# --- threats -------------------------------------------------------------------------


def glyph_colour_expression() -> str:
    cases = " ".join(
        f"WHEN \"status\" = '{code}' THEN '{glyph}'"
        for code, (_f, _o, glyph, _n) in STATUS_STYLE.items()
    )
    # no feature (the legend): a dark pictogram on white
    return f"CASE {cases} ELSE '#222222' END"


def status_symbol(status: str) -> QgsMarkerSymbol:
    from qgis.core import QgsMarkerSymbol, QgsSimpleMarkerSymbolLayer, QgsUnitTypes
    from qgis.PyQt.QtGui import QColor

    fill, outline, _glyph, _name = STATUS_STYLE[status]
    layer = QgsSimpleMarkerSymbolLayer()
    layer.setShape(QgsSimpleMarkerSymbolLayer.Circle)
    layer.setSize(5.0)
    layer.setSizeUnit(QgsUnitTypes.RenderMillimeters)
    layer.setColor(QColor(fill))
    layer.setStrokeColor(QColor(outline))
    layer.setStrokeWidth(0.35)
    symbol = QgsMarkerSymbol()
    symbol.changeSymbolLayer(0, layer)
    return symbol


def category_symbol(category: str) -> QgsMarkerSymbol:
    from qgis.core import QgsMarkerSymbol, QgsProperty, QgsSvgMarkerSymbolLayer, QgsSymbolLayer
    from qgis.PyQt.QtGui import QColor

    path = CATEGORY_ICONS[category]
    layer = QgsSvgMarkerSymbolLayer(path, 3.4)
    layer.setFillColor(QColor("#222222"))
    layer.setStrokeWidth(0)
    layer.setDataDefinedProperty(
        QgsSymbolLayer.PropertyFillColor, QgsProperty.fromExpression(glyph_colour_expression())
    )
    symbol = QgsMarkerSymbol()
    symbol.changeSymbolLayer(0, layer)
    return symbol


def threat_renderer(categories: list[tuple[str, str]], statuses: list[str]) -> QgsRuleBasedRenderer:
    """Two rule groups drawn for every report: a disc in the status colour, then the
    category pictogram on it. The legend shows both keys."""
    from qgis.core import QgsRuleBasedRenderer

    root = QgsRuleBasedRenderer.Rule(None)
    by_status = QgsRuleBasedRenderer.Rule(None, label="Status zgłoszenia")
    for status in statuses:
        by_status.appendChild(
            QgsRuleBasedRenderer.Rule(
                status_symbol(status),
                filterExp=f"\"status\" = '{status}'",
                label=STATUS_STYLE[status][3],
            )
        )
    by_category = QgsRuleBasedRenderer.Rule(None, label="Kategoria zagrożenia")
    for code, name in categories:
        by_category.appendChild(
            QgsRuleBasedRenderer.Rule(
                category_symbol(code), filterExp=f"\"category\" = '{code}'", label=name
            )
        )
    root.appendChild(by_status)
    root.appendChild(by_category)
    return QgsRuleBasedRenderer(root)


def threat_layer(categories: list[tuple[str, str]]) -> QgsVectorLayer:
    from qgis.core import QgsMapLayer

    layer = vector_layer("wms_threats", "Point", "Zgłoszone zagrożenia")
    public = [(code, name) for code, name, shown in categories if shown]
    layer.setRenderer(threat_renderer(public, PUBLIC_STATUSES))
    layer.setScaleBasedVisibility(True)
    layer.setMinimumScale(POINTS_MAX_SCALE)  # QGIS: "minimum" = the most zoomed-out
    layer.setMaximumScale(1)
    layer.setFlags(layer.flags() | QgsMapLayer.Identifiable)
    publish(
        layer,
        "zagrozenia_punkty",
        "Zagrożenia zgłoszone przez mieszkańców, samorządy i organizacje, widoczne zgodnie z "
        "zasadami publikacji (status i kategoria). Symbol: kolor = status, piktogram = "
        "kategoria. Rysowane pojedynczo w skalach większych niż 1:40 000.",
    )
    return layer


def police_layer(categories: list[tuple[str, str, bool]]) -> QgsVectorLayer:
    layer = vector_layer("wms_unit_reports", "Point", "Zgłoszenia niepubliczne jednostki")
    everything = [(code, name) for code, name, _shown in categories]
    layer.setRenderer(threat_renderer(everything, list(STATUS_STYLE)))
    layer.setScaleBasedVisibility(True)
    layer.setMinimumScale(POLICE_MAX_SCALE)
    layer.setMaximumScale(1)
    layer.setCustomProperty("kmzb/access", "police")
    publish(
        layer,
        "zgloszenia_jednostki",
        "Tylko dla Policji (token jednostki): zgłoszenia jednostki niewidoczne na mapie "
        "publicznej (zakończone, żart lub pomyłka, kategorie niepubliczne).",
    )
    return layer


def grid_zoom_scales() -> list[tuple[int, float, float]]:
    """(z, most zoomed-in scale, most zoomed-out scale) for the grid levels in use."""
    levels = []
    for z in range(0, 14):
        centre = GRID_SCALE_AT_Z0 / 2**z
        lower, upper = centre / math.sqrt(2), centre * math.sqrt(2)
        if z == 13:
            lower = 1
        if upper <= POINTS_MAX_SCALE:
            continue
        levels.append((z, max(lower, POINTS_MAX_SCALE), upper if z > 0 else 0))
    return levels


def grid_layer() -> QgsVectorLayer:
    from qgis.core import (
        QgsMarkerSymbol,
        QgsProperty,
        QgsRuleBasedRenderer,
        QgsSimpleMarkerSymbolLayer,
        QgsSymbolLayer,
    )
    from qgis.PyQt.QtGui import QColor

    layer = vector_layer("wms_threat_cells", "Point", "Zagęszczenie zgłoszeń", srid=3857)
    marker = QgsSimpleMarkerSymbolLayer()
    marker.setShape(QgsSimpleMarkerSymbolLayer.Circle)
    marker.setColor(QColor(211, 47, 47, 170))
    marker.setStrokeColor(QColor(255, 255, 255, 220))
    marker.setStrokeWidth(0.2)
    marker.setSize(2.4)
    marker.setDataDefinedProperty(
        QgsSymbolLayer.PropertySize,
        QgsProperty.fromExpression(GRID_SIZE_EXPRESSION),
    )
    # the share confirmed by the police: the darker, the more confirmed
    marker.setDataDefinedProperty(
        QgsSymbolLayer.PropertyFillColor,
        QgsProperty.fromExpression(
            'color_rgba(255 - 110 * "confirmed" / "n", 140 - 120 * "confirmed" / "n", 40, 190)'
        ),
    )
    symbol = QgsMarkerSymbol()
    symbol.changeSymbolLayer(0, marker)
    root = QgsRuleBasedRenderer.Rule(None)
    for z, lower, upper in grid_zoom_scales():
        rule = QgsRuleBasedRenderer.Rule(
            symbol.clone(),
            maximumScale=int(lower),
            minimumScale=int(upper),
            filterExp=f'"z" = {z}',
            label=f"Liczba zgłoszeń w oczku siatki (poziom {z})",
        )
        root.appendChild(rule)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    layer.setScaleBasedVisibility(True)
    layer.setMinimumScale(0)  # 0: no limit when zoomed out
    layer.setMaximumScale(POINTS_MAX_SCALE)
    publish(
        layer,
        "zagrozenia_siatka",
        "Liczba publicznych zgłoszeń w oczkach siatki liczonej w PostGIS "
        "(kmzb.public_threat_cells, odświeżana co 5 minut); rysowana w skalach mniejszych "
        "niż 1:40 000. Wielkość koła: liczba zgłoszeń; kolor: udział potwierdzonych.",
    )
    return layer


# --- statistics ----------------------------------------------------------------------


def rate_breaks(conn_layer: QgsVectorLayer) -> list[float]:
    """Class limits from the powiat rates of the last five years: sextiles rounded to 10."""
    values = sorted(
        f["total_per_10k"]
        for f in conn_layer.getFeatures()
        if f["level"] == "powiat" and f["total_per_10k"] is not None
    )
    if not values:
        sys.exit("build_qgis_project: no crime statistics in the database; run kmzb load all")
    breaks = []
    for share in (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6):
        value = values[int(share * (len(values) - 1))]
        rounded = round(value / 10) * 10
        if not breaks or rounded > breaks[-1]:
            breaks.append(float(rounded))
    return breaks


def choropleth_renderer(breaks: list[float]) -> QgsGraduatedSymbolRenderer:
    from qgis.core import (
        QgsClassificationRange,
        QgsFillSymbol,
        QgsGraduatedSymbolRenderer,
        QgsRendererRange,
    )

    colours = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"]
    limits = [0.0, *breaks, 100000.0]
    ranges = []
    for index in range(len(limits) - 1):
        low, high = limits[index], limits[index + 1]
        if index == 0:
            label = f"poniżej {low + high - low:.0f}"
        elif index == len(limits) - 2:
            label = f"{low:.0f} i więcej"
        else:
            label = f"{low:.0f} – {high:.0f}"
        symbol = QgsFillSymbol.createSimple(
            {
                "color": colours[index],
                "outline_color": "#8c6d5a",
                "outline_width": "0.15",
            }
        )
        ranges.append(QgsRendererRange(QgsClassificationRange(label, low, high), symbol))
    renderer = QgsGraduatedSymbolRenderer("total_per_10k", ranges)
    renderer.setClassAttribute("total_per_10k")
    return renderer


def rates_layer(
    level: str, title: str, short_name: str, breaks: list[float], years: list[int]
) -> QgsVectorLayer:
    from qgis.core import QgsMapLayerServerProperties

    layer = vector_layer("wms_crime_rates", "MultiPolygon", title)
    layer.setSubsetString(f"\"level\" = '{level}'")
    layer.setRenderer(choropleth_renderer(breaks))
    dimension = QgsMapLayerServerProperties.WmsDimensionInfo(
        "rok", "year", "", "", "", QgsMapLayerServerProperties.WmsDimensionInfo.MaxValue
    )
    layer.serverProperties().addWmsDimension(dimension)
    publish(
        layer,
        short_name,
        f"Przestępstwa stwierdzone przez Policję na 10 tys. mieszkańców "
        f"({title.split('–')[-1].strip()}), lata {min(years)}–{max(years)}; rok wybiera "
        "wymiar WMS ROK (parametr DIM_ROK), domyślnie ostatni. Źródło: GUS, Bank Danych "
        "Lokalnych (dane KGP).",
    )
    return layer


# --- boundaries ----------------------------------------------------------------------


def boundary_layer(
    view: str,
    title: str,
    short_name: str,
    width: float,
    colour: str,
    max_scale: float,
    label_max_scale: float,
    size: float,
) -> QgsVectorLayer:
    from qgis.core import (
        QgsFillSymbol,
        QgsPalLayerSettings,
        QgsSingleSymbolRenderer,
        QgsTextBufferSettings,
        QgsTextFormat,
        QgsVectorLayerSimpleLabeling,
    )
    from qgis.PyQt.QtGui import QColor, QFont

    layer = vector_layer(view, "MultiPolygon", title)
    symbol = QgsFillSymbol.createSimple(
        {
            "style": "no",
            "outline_color": colour,
            "outline_width": str(width),
            "joinstyle": "round",
        }
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    if max_scale:
        layer.setScaleBasedVisibility(True)
        layer.setMinimumScale(max_scale)
        layer.setMaximumScale(1)
    text = QgsTextFormat()
    font = QFont("DejaVu Sans")
    text.setFont(font)
    text.setSize(size)
    text.setColor(QColor(colour))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(0.8)
    buffer.setColor(QColor("#ffffff"))
    text.setBuffer(buffer)
    settings = QgsPalLayerSettings()
    settings.fieldName = "name"
    settings.setFormat(text)
    settings.placement = QgsPalLayerSettings.OverPoint
    settings.centroidInside = True
    settings.scaleVisibility = True
    settings.minimumScale = label_max_scale
    settings.maximumScale = 1
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
    publish(layer, short_name, f"{title}: granice według PRG (GUGiK), kody TERYT 2026.")
    return layer


# --- the project ---------------------------------------------------------------------


def reference_table(view: str) -> QgsVectorLayer:
    """A view without geometry, read through the map's service."""
    from qgis.core import QgsVectorLayer

    table = QgsVectorLayer(
        f"service='{SERVICE}' key='code' checkPrimaryKeyUnicity='0' table=\"kmzb\".\"{view}\"",
        view,
        "postgres",
    )
    if not table.isValid():
        sys.exit(f"build_qgis_project: cannot read kmzb.{view}")
    return table


def pictogram_path(stem: str) -> str:
    """The one SVG of QGIS's library named `stem`.svg (package qgis-providers-common)."""
    found = sorted(Path(SVG_DIR).glob(f"*/{stem}.svg"))
    if len(found) != 1:
        sys.exit(f"build_qgis_project: pictogram {stem}.svg found {len(found)} times in {SVG_DIR}")
    return str(found[0])


def statuses_from_database() -> None:
    """Fill STATUS_STYLE and PUBLIC_STATUSES from kmzb.wms_status_styles."""
    rows = sorted(
        (
            f["sort_order"],
            f["code"],
            (f["colour"], f["outline"], f["text_colour"], f["name_pl"]),
            bool(f["is_public"]),
        )
        for f in reference_table("wms_status_styles").getFeatures()
    )
    if not rows:
        sys.exit("build_qgis_project: kmzb.wms_status_styles is empty")
    STATUS_STYLE.clear()
    STATUS_STYLE.update({code: style for _order, code, style, _public in rows})
    PUBLIC_STATUSES[:] = [code for _order, code, _style, public in rows if public]


def categories_from_database() -> list[tuple[str, str, bool]]:
    """The categories (code, Polish name, shown on the public map), in order; fills
    CATEGORY_ICONS with each one's pictogram."""
    rows = sorted(
        (f["sort_order"], f["code"], f["name_pl"], bool(f["shown_on_public_map"]), f["pictogram"])
        for f in reference_table("public_threat_categories").getFeatures()
    )
    CATEGORY_ICONS.clear()
    CATEGORY_ICONS.update({code: pictogram_path(stem) for _o, code, _n, _s, stem in rows})
    return [(code, name, shown) for _order, code, name, shown, _stem in rows]


def set_service_metadata(project: QgsProject) -> None:
    from qgis.core import QgsProjectMetadata

    entries = {
        ("WMSServiceCapabilities", "/"): True,
        ("WMSServiceTitle", "/"): "Krajowa Mapa Zagrożeń Bezpieczeństwa (KMZB) – mapa publiczna",
        ("WMSServiceAbstract", "/"): (
            "Otwarta mapa zagrożeń bezpieczeństwa w Polsce: zagrożenia zgłoszone przez "
            "mieszkańców, samorządy i organizacje (po weryfikacji przez Policję), statystyka "
            "przestępczości na 10 tys. mieszkańców w powiatach i województwach oraz granice "
            "administracyjne. Nie służy do zgłoszeń alarmowych: w sytuacji zagrożenia życia "
            "lub zdrowia dzwoń 112."
        ),
        ("WMSKeywordList", "/"): [
            "zagrożenia",
            "bezpieczeństwo",
            "Policja",
            "przestępczość",
            "mapa zagrożeń",
            "KMZB",
        ],
        ("WMSContactOrganization", "/"): "Projekt KMZB",
        ("WMSContactPerson", "/"): "Zespół KMZB",
        ("WMSContactPosition", "/"): "Administrator usługi",
        ("WMSContactMail", "/"): "kmzb@example.org",
        ("WMSContactPhone", "/"): "",
        ("WMSOnlineResource", "/"): "",
        ("WMSFees", "/"): "bezpłatnie",
        ("WMSAccessConstraints", "/"): (
            "Dane publiczne; statystyka: GUS BDL (dane KGP), granice: PRG GUGiK."
        ),
        ("WMSCrsList", "/"): WMS_CRS,
        ("WMSUseLayerIDs", "/"): False,
        ("WMSAddWktGeometry", "/"): False,
        ("WMSFeatureInfoUseAttributeFormSettings", "/"): False,
        ("WMSSegmentizeFeatureInfoGeometry", "/"): False,
        ("WMSPrecision", "/"): "6",
        ("WMSMaxWidth", "/"): "4096",
        ("WMSMaxHeight", "/"): "4096",
        ("WMSDefaultMapUnitsPerMm", "/"): "1",
        ("WMSExtent", "/"): [str(v) for v in POLAND_2180],
    }
    for (key, path), value in entries.items():
        project.writeEntry(key, path, value)
    metadata = QgsProjectMetadata()
    metadata.setTitle("KMZB – mapa publiczna")
    metadata.setLanguage("pol")
    metadata.setAbstract(entries[("WMSServiceAbstract", "/")])
    project.setMetadata(metadata)


def set_wfs(project: QgsProject, layers: list[QgsVectorLayer]) -> None:
    """WFS publishes the public threats and boundaries (attributes as in GetFeatureInfo)."""
    ids = [layer.id() for layer in layers]
    project.writeEntry("WFSLayers", "/", ids)
    for layer in layers:
        project.writeEntry("WFSLayersPrecision", "/" + layer.id(), 6)


def build(output: Path) -> str:
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsLayerTreeGroup,
        QgsProject,
        QgsRectangle,
        QgsReferencedRectangle,
    )

    statuses_from_database()
    categories = categories_from_database()
    project = QgsProject.instance()
    project.clear()
    project.setTitle("KMZB – mapa publiczna")
    crs = QgsCoordinateReferenceSystem("EPSG:2180")
    project.setCrs(crs)
    project.setTrustLayerMetadata(True)
    project.setFileName(str(output))

    all_rates = vector_layer("wms_crime_rates", "MultiPolygon", "rates")
    breaks = rate_breaks(all_rates)
    years = sorted({int(f["year"]) for f in all_rates.getFeatures()})

    threats = threat_layer(categories)
    grid = grid_layer()
    police = police_layer(categories)
    rates_powiaty = rates_layer(
        "powiat",
        "Przestępczość na 10 tys. mieszkańców – powiaty",
        "przestepczosc_powiaty",
        breaks,
        years,
    )
    rates_wojewodztwa = rates_layer(
        "wojewodztwo",
        "Przestępczość na 10 tys. mieszkańców – województwa",
        "przestepczosc_wojewodztwa",
        breaks,
        years,
    )
    wojewodztwa = boundary_layer(
        "wms_wojewodztwa", "Województwa", "wojewodztwa", 0.7, "#37474f", None, 12_000_000, 9
    )
    powiaty = boundary_layer(
        "wms_powiaty", "Powiaty", "powiaty", 0.35, "#546e7a", 4_000_000, 1_000_000, 8
    )
    gminy = boundary_layer("wms_gminy", "Gminy", "gminy", 0.2, "#78909c", 800_000, 200_000, 7.5)

    root = project.layerTreeRoot()

    def group(name: str, short_name: str, abstract: str) -> QgsLayerTreeGroup:
        node = root.addGroup(name)
        node.setCustomProperty("wmsShortName", short_name)
        node.setCustomProperty("wmsAbstract", abstract)
        return node

    # the police layer stands alone: a group holding a layer the caller may not read
    # would refuse the whole group
    project.addMapLayer(police, False)
    root.addLayer(police)
    threat_group = group(
        "Zagrożenia",
        "zagrozenia",
        "Publiczne zgłoszenia zagrożeń: pojedynczo w dużych skalach, siatka zagęszczenia "
        "w mniejszych.",
    )
    for layer in (threats, grid):
        project.addMapLayer(layer, False)
        threat_group.addLayer(layer)
    boundary_group = group(
        "Granice administracyjne",
        "granice",
        "Województwa, powiaty i gminy (gminy i powiaty zależnie od skali), z nazwami.",
    )
    for layer in (gminy, powiaty, wojewodztwa):
        project.addMapLayer(layer, False)
        boundary_group.addLayer(layer)
    stats_group = group(
        "Statystyka przestępczości",
        "statystyka",
        "Przestępstwa stwierdzone na 10 tys. mieszkańców; rok: wymiar WMS ROK.",
    )
    for layer in (rates_powiaty, rates_wojewodztwa):
        project.addMapLayer(layer, False)
        stats_group.addLayer(layer)
    root.findLayer(rates_wojewodztwa.id()).setItemVisibilityChecked(False)

    set_service_metadata(project)
    project.writeEntry("WMSRootName", "/", "kmzb")
    set_wfs(project, [threats, wojewodztwa, powiaty, gminy])
    extent = QgsReferencedRectangle(QgsRectangle(*POLAND_2180), crs)
    project.viewSettings().setDefaultViewExtent(extent)
    project.viewSettings().setPresetFullExtent(extent)

    return project_text(project, output, "build_qgis_project")


def project_text(project: QgsProject, output: Path, tool: str) -> str:
    """The project as its file holds it: written to a temporary file, with stable
    layer ids (QGIS makes them from a timestamp; it ignores ids of 10 characters or
    fewer: kmzb_layer_ and the WMS short name) and normalised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / output.name
        project.setFileName(str(path))
        if not project.write():
            sys.exit(f"{tool}: writing {path} failed")
        text = path.read_text(encoding="utf-8")
    for layer in project.mapLayers().values():
        text = text.replace(layer.id(), f"kmzb_layer_{layer.shortName()}")
    return normalise(text)


def normalise(text: str) -> str:
    """Drop what changes on every save (timestamps), so the file diffs like code."""
    import re

    text = re.sub(r'saveDateTime="[^"]*"', "", text)
    text = re.sub(r"<creation>[^<]*</creation>", "<creation></creation>", text)
    text = re.sub(r'projectname="[^"]*"', 'projectname="KMZB – mapa publiczna"', text)
    text = re.sub(r"<author>[^<]*</author>", "<author>KMZB</author>", text)
    text = re.sub(r'saveUser="[^"]*"', "", text)
    text = re.sub(r'saveUserFull="[^"]*"', "", text)
    # snapping settings are kept in a hash keyed by the (random) original layer ids
    text = re.sub(
        r"(<individual-layer-settings>\n)(.*?)(\n\s*</individual-layer-settings>)",
        lambda m: m.group(1) + "\n".join(sorted(m.group(2).split("\n"))) + m.group(3),
        text,
        flags=re.S,
    )
    # random UUIDs (rule keys, the annotation layer): numbered in order of appearance
    seen: dict[str, str] = {}

    def number(match: re.Match) -> str:
        value, sep = match.group(0), match.group(1)
        if value not in seen:
            n = len(seen) + 1
            seen[value] = sep.join([f"{n:08x}", "0000", "4000", "8000", f"{n:012x}"])
        return seen[value]

    return re.sub(
        r"[0-9a-f]{8}([-_])[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", number, text
    )


def run(tool: str, build_text: Callable[[Path], str], output: Path, check: bool) -> int:
    """Build a project with `build_text` and write it to `output`, or with `check` fail
    if the file there differs; shared by this builder and the basemap's."""
    default_service_file = ROOT / "var" / "pg_service.conf"  # written by `kmzb run`
    if not os.environ.get("PGSERVICEFILE") and default_service_file.exists():
        os.environ["PGSERVICEFILE"] = str(default_service_file)
    if not os.environ.get("PGSERVICEFILE"):
        print(
            f"{tool}: set PGSERVICEFILE to a pg_service.conf naming the service "
            f"'{SERVICE}' (`kmzb run` writes var/pg_service.conf for its database)",
            file=sys.stderr,
        )
        return 2
    app = start_qgis()
    text = build_text(output)
    status = 0
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), "committed", "rebuilt", lineterm="", n=1
            )
            print("\n".join(list(diff)[:80]))
            print(f"{tool}: {output} differs from the rebuilt project")
            status = 1
        else:
            print(f"{tool}: {output} is up to date")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"{tool}: wrote {output}")
    sys.stdout.flush()
    del app
    os._exit(status)  # QGIS 3.22 may crash tearing down; the work is done


def main() -> int:
    args = parse_args()
    return run("build_qgis_project", build, args.output, args.check)


if __name__ == "__main__":
    sys.exit(main())
