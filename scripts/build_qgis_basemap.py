#!/usr/bin/python3
"""Build (or check) qgis_projects/kmzb_basemap.qgs, the offline basemap, with PyQGIS.

The map a citizen finds their street on when no outside basemap (GUGiK, OSM) is
configured or reachable: the country outline, województwo, powiat and gmina
boundaries with their names, and GeoNames places sized by population, all from
the data this service holds. QGIS Server draws it; the app serves it at
/basemap/wms (kmzb.service.basemap), the page shows it under the threats.

Runs under the system Python (QGIS 3.22's own), as scripts/build_qgis_project.py
does, and shares its helpers (start-up, stable ids, normalised XML):

    /usr/bin/python3 scripts/build_qgis_basemap.py          # var/pg_service.conf by default
    PGSERVICEFILE=elsewhere.conf /usr/bin/python3 scripts/build_qgis_basemap.py --check

Every layer reads a `kmzb.wms_*` view (sql/020_wms_views.sql,
sql/041_basemap_places.sql) through the PostgreSQL service name `kmzb` only.
`--check` builds into memory and fails if the committed file differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: qgis is imported where QGIS's Python runs us
    from qgis.core import QgsProject, QgsTextFormat, QgsVectorLayer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_qgis_project as public  # noqa: E402  (the public map's builder: shared helpers)

DEFAULT_OUTPUT = ROOT / "qgis_projects" / "kmzb_basemap.qgs"
TITLE = "KMZB – mapa podkładowa"
GROUP = "kmzb_podklad"  # LAYERS=kmzb_podklad draws the whole basemap

# Colours: a light land, grey-blue boundaries, near-black names on a white halo (the
# names pass WCAG AA on the land and on the choropleth drawn over it at 60 %).
LAND = "#f2efe9"
WATER_EDGE = "#9fb7c9"
TEXT = "#1f1f1f"
HALO = "#ffffff"

# Places: (size class, shown below this scale, dot mm, label pt, bold). Class 1: 500k+
# inhabitants; 2: 100k+; 3: 20k+; 4: 5k+; 5: the rest (from 500).
PLACE_CLASSES = [
    (1, 0, 2.6, 11.0, True),
    (2, 6_000_000, 2.0, 9.5, True),
    (3, 2_000_000, 1.6, 9.0, False),
    (4, 600_000, 1.3, 8.5, False),
    (5, 200_000, 1.0, 8.0, False),
]
# Boundaries: (view, title, short name, width mm, colour, dash, shown below, names below, pt)
BOUNDARIES = [
    ("wms_gminy", "Gminy", "podklad_gminy", 0.25, "#8a9ba8", True, 1_000_000, 250_000, 8.0),
    ("wms_powiaty", "Powiaty", "podklad_powiaty", 0.4, "#6b7f8e", False, 5_000_000, 1_200_000, 8.5),
    (
        "wms_wojewodztwa",
        "Województwa",
        "podklad_wojewodztwa",
        0.7,
        "#4f6170",
        False,
        0,
        15_000_000,
        9.5,
    ),
]


def text_format(
    size: float, colour: str, bold: bool = False, italic: bool = False
) -> QgsTextFormat:
    from qgis.core import QgsTextBufferSettings, QgsTextFormat
    from qgis.PyQt.QtGui import QColor, QFont

    text = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(bold)
    font.setItalic(italic)
    text.setFont(font)
    text.setSize(size)
    text.setColor(QColor(colour))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(1.0)
    buffer.setColor(QColor(HALO))
    text.setBuffer(buffer)
    return text


def country_layer() -> QgsVectorLayer:
    from qgis.core import QgsFillSymbol, QgsSingleSymbolRenderer

    layer = public.vector_layer("wms_basemap_country", "MultiPolygon", "Polska")
    symbol = QgsFillSymbol.createSimple(
        {"color": LAND, "outline_color": "#37474f", "outline_width": "0.8"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    public.publish(layer, "podklad_kraj", "Obszar Polski (PRG, GUGiK): tło mapy podkładowej.")
    return layer


def boundary_layer(
    view: str,
    title: str,
    short_name: str,
    width: float,
    colour: str,
    dashed: bool,
    max_scale: float,
    names: float,
    size: float,
) -> QgsVectorLayer:
    from qgis.core import (
        QgsFillSymbol,
        QgsPalLayerSettings,
        QgsSingleSymbolRenderer,
        QgsVectorLayerSimpleLabeling,
    )

    layer = public.vector_layer(view, "MultiPolygon", title)
    symbol = QgsFillSymbol.createSimple(
        {
            "style": "no",
            "outline_color": colour,
            "outline_width": str(width),
            "outline_style": "dash" if dashed else "solid",
            "joinstyle": "round",
        }
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    if max_scale:
        layer.setScaleBasedVisibility(True)
        layer.setMinimumScale(max_scale)  # QGIS: "minimum" = the most zoomed-out
        layer.setMaximumScale(1)
    settings = QgsPalLayerSettings()
    settings.fieldName = "name"
    settings.setFormat(text_format(size, "#33414d", italic=view == "wms_gminy"))
    settings.placement = QgsPalLayerSettings.Horizontal
    settings.centroidInside = True
    settings.scaleVisibility = True
    settings.minimumScale = names
    settings.maximumScale = 1
    settings.priority = 3
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
    public.publish(layer, short_name, f"{title}: granice i nazwy według PRG (GUGiK), TERYT 2026.")
    return layer


def places_layer() -> QgsVectorLayer:
    from qgis.core import (
        QgsMarkerSymbol,
        QgsPalLayerSettings,
        QgsRuleBasedLabeling,
        QgsRuleBasedRenderer,
    )

    layer = public.vector_layer("wms_basemap_places", "Point", "Miejscowości")
    symbols = QgsRuleBasedRenderer.Rule(None)
    labels = QgsRuleBasedLabeling.Rule(None)
    for size_class, max_scale, dot, points, bold in PLACE_CLASSES:
        condition = f'"size_class" = {size_class}'
        symbol = QgsMarkerSymbol.createSimple(
            {
                "name": "circle",
                "color": "#ffffff",
                "outline_color": TEXT,
                "outline_width": "0.35",
                "size": str(dot),
            }
        )
        symbols.appendChild(
            QgsRuleBasedRenderer.Rule(
                symbol,
                maximumScale=0,
                minimumScale=max_scale,
                filterExp=condition,
                label=f"klasa {size_class}",
            )
        )
        settings = QgsPalLayerSettings()
        settings.fieldName = "name"
        settings.setFormat(text_format(points, TEXT, bold=bold))
        settings.placement = QgsPalLayerSettings.OrderedPositionsAroundPoint
        settings.dist = 0.8
        settings.priority = 10 - size_class
        settings.obstacle = True
        rule = QgsRuleBasedLabeling.Rule(settings)
        rule.setFilterExpression(condition)
        if max_scale:
            rule.setMinimumScale(max_scale)
            rule.setMaximumScale(1)
        labels.appendChild(rule)
    layer.setRenderer(QgsRuleBasedRenderer(symbols))
    layer.setLabeling(QgsRuleBasedLabeling(labels))
    layer.setLabelsEnabled(True)
    public.publish(
        layer,
        "podklad_miejscowosci",
        "Miejscowości Polski z co najmniej 500 mieszkańcami (GeoNames, CC BY 4.0); wielkość "
        "znaku i napisu według liczby ludności, mniejsze widoczne po przybliżeniu.",
    )
    return layer


def set_service_metadata(project: QgsProject) -> None:
    from qgis.core import QgsProjectMetadata

    entries = {
        ("WMSServiceCapabilities", "/"): True,
        ("WMSServiceTitle", "/"): "KMZB – mapa podkładowa (bez usług zewnętrznych)",
        ("WMSServiceAbstract", "/"): (
            "Mapa podkładowa KMZB rysowana z danych usługi: granice województw, powiatów i gmin "
            "z nazwami (PRG, GUGiK), miejscowości (GeoNames, CC BY 4.0) i obszar Polski."
        ),
        ("WMSKeywordList", "/"): ["mapa podkładowa", "granice", "miejscowości", "KMZB"],
        ("WMSContactOrganization", "/"): "Projekt KMZB",
        ("WMSFees", "/"): "bezpłatnie",
        ("WMSAccessConstraints", "/"): "Granice: PRG GUGiK; nazwy miejscowości: GeoNames.",
        ("WMSCrsList", "/"): public.WMS_CRS,
        ("WMSUseLayerIDs", "/"): False,
        ("WMSAddWktGeometry", "/"): False,
        ("WMSFeatureInfoUseAttributeFormSettings", "/"): False,
        ("WMSPrecision", "/"): "6",
        ("WMSMaxWidth", "/"): "4096",
        ("WMSMaxHeight", "/"): "4096",
        ("WMSExtent", "/"): [str(v) for v in public.POLAND_2180],
    }
    for (key, path), value in entries.items():
        project.writeEntry(key, path, value)
    metadata = QgsProjectMetadata()
    metadata.setTitle(TITLE)
    metadata.setLanguage("pol")
    metadata.setAbstract(entries[("WMSServiceAbstract", "/")])
    project.setMetadata(metadata)


def build(output: Path) -> str:
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsProject,
        QgsRectangle,
        QgsReferencedRectangle,
    )

    project = QgsProject.instance()
    project.clear()
    project.setTitle(TITLE)
    crs = QgsCoordinateReferenceSystem("EPSG:2180")
    project.setCrs(crs)
    project.setTrustLayerMetadata(True)
    project.setFileName(str(output))

    root = project.layerTreeRoot()
    group = root.addGroup("Mapa podkładowa")
    group.setCustomProperty("wmsShortName", GROUP)
    group.setCustomProperty(
        "wmsAbstract", "Cała mapa podkładowa: miejscowości, granice z nazwami, obszar Polski."
    )
    # drawn bottom up: the land, gminy, powiaty, województwa, then the places on top
    layers = [places_layer(), *(boundary_layer(*row) for row in reversed(BOUNDARIES))]
    layers.append(country_layer())
    for layer in layers:
        project.addMapLayer(layer, False)
        group.addLayer(layer)

    set_service_metadata(project)
    project.writeEntry("WMSRootName", "/", "kmzb_basemap")
    extent = QgsReferencedRectangle(QgsRectangle(*public.POLAND_2180), crs)
    project.viewSettings().setDefaultViewExtent(extent)
    project.viewSettings().setPresetFullExtent(extent)

    text = public.project_text(project, output, "build_qgis_basemap")
    return text.replace('projectname="KMZB – mapa publiczna"', f'projectname="{TITLE}"')


def main() -> int:
    args = public.parse_args(__doc__, DEFAULT_OUTPUT)
    return public.run("build_qgis_basemap", build, args.output, args.check)


if __name__ == "__main__":
    sys.exit(main())
