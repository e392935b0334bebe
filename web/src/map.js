// The map: boundaries (our vector tiles, and QGIS Server's WMS through /wms when it
// answers), threats from the OGC API vector tiles (grid cells below zoom 14, single
// reports from zoom 14), filters, a popup, and the markers the forms use.
import Map from 'ol/Map.js';
import View from 'ol/View.js';
import TileLayer from 'ol/layer/Tile.js';
import TileWMS from 'ol/source/TileWMS.js';
import VectorTileLayer from 'ol/layer/VectorTile.js';
import VectorTileSource from 'ol/source/VectorTile.js';
import VectorLayer from 'ol/layer/Vector.js';
import VectorSource from 'ol/source/Vector.js';
import MVT from 'ol/format/MVT.js';
import GeoJSON from 'ol/format/GeoJSON.js';
import WMSCapabilities from 'ol/format/WMSCapabilities.js';
import Feature from 'ol/Feature.js';
import Point from 'ol/geom/Point.js';
import { circular } from 'ol/geom/Polygon.js';
import { bbox as bboxStrategy } from 'ol/loadingstrategy.js';
import { createXYZ } from 'ol/tilegrid.js';
import { fromLonLat, toLonLat, transformExtent } from 'ol/proj.js';
import { Style, Fill, Stroke, Circle as CircleStyle, Icon } from 'ol/style.js';
import { defaults as defaultControls, ScaleLine } from 'ol/control.js';
import { t, formatDate, onLangChange, wmsTitle } from './i18n.js';
import {
  vocabularyLoaded, onVocabulary, statusColours, statusName, categoryName, pictogramUrl, timeOfDayName,
  publicStatuses, publicCategories,
} from './vocabulary.js';

// tiles of 512 px: a tile of zoom z is drawn at view zoom z + 1, so single reports
// (tile zoom 14 and up) show from view zoom 15
const TILE_SIZE = 512;
const DETAIL_ZOOM = 15;
const POLAND = { center: [19.4, 52.0], zoom: 6 };
// Street scale: reports drawn with their category's pictogram (the SVG the WMS project
// draws, web/src/pictograms/<pictogram>.svg), the choropleth gone.
const PICTOGRAM_ZOOM = 17;
// The choropleth's opacity: CHOROPLETH_OPACITY up to FADE_FROM, then down to nothing
// at PICTOGRAM_ZOOM, so the basemap shows through where streets matter.
const CHOROPLETH_OPACITY = 0.6;
const FADE_FROM = 13;

const state = {
  category: '', from: '', to: '', pick: null,
};

// --- styles ---------------------------------------------------------------
const boundaryStyles = {
  // no fill: the basemap shows through (issue 12)
  wojewodztwo: new Style({ stroke: new Stroke({ color: '#4a4a4a', width: 1.4 }) }),
  powiat: new Style({ stroke: new Stroke({ color: '#9a9a9a', width: 0.6 }) }),
};
// A report: a dot in its status's colours, from the vocabulary (GET /vocabulary).
const pointStyles = {};
function pointStyle(status) {
  if (!pointStyles[status]) {
    const colours = statusColours(status);
    pointStyles[status] = new Style({
      image: new CircleStyle({
        radius: 7,
        fill: new Fill({ color: colours.fill }),
        stroke: new Stroke({ color: colours.outline, width: 2 }),
      }),
    });
  }
  return pointStyles[status];
}
// What the map draws for a report in this status (for the legend and the tests).
export function statusStyleColours(status) {
  const circle = pointStyle(status).getImage();
  return { fill: circle.getFill().getColor(), outline: circle.getStroke().getColor() };
}
// Grid cells (64 per tile side): dots sized and shaded by the number of reports,
// a density picture that stays readable at 5 million reports; a click tells the count.
const CELL_CLASSES = [
  { min: 1000, color: '#4a0612', radius: 6 },
  { min: 100, color: '#7a1026', radius: 5 },
  { min: 10, color: '#b0243c', radius: 4 },
  { min: 1, color: '#d9667a', radius: 3 },
];
const cellStyles = CELL_CLASSES.map((c) => new Style({
  image: new CircleStyle({ radius: c.radius, fill: new Fill({ color: c.color }) }),
}));
function cellStyle(count) {
  const index = CELL_CLASSES.findIndex((c) => count >= c.min);
  return cellStyles[index < 0 ? cellStyles.length - 1 : index];
}
function dateFilterOn() { return Boolean(state.from || state.to); }

const pictogramStyles = {};
function pictogramStyle(status, category) {
  const key = `${status}|${category}`;
  if (!pictogramStyles[key]) {
    const colours = statusColours(status);
    const src = pictogramUrl(category);
    pictogramStyles[key] = [
      new Style({
        image: new CircleStyle({
          radius: 12,
          fill: new Fill({ color: colours.fill }),
          stroke: new Stroke({ color: colours.outline, width: 2 }),
        }),
      }),
      // the pictograms are white: tinted with the status's text colour
      ...(src ? [new Style({ image: new Icon({ src, width: 15, height: 15, color: colours.text }) })] : []),
    ];
  }
  return pictogramStyles[key];
}
const pictogramResolution = () => map.getView().getResolutionForZoom(PICTOGRAM_ZOOM - 0.5);

function reportStyle(feature, resolution) {
  if (!vocabularyLoaded()) return null;
  const category = feature.get('category');
  if (resolution <= pictogramResolution() && category) return pictogramStyle(feature.get('status'), category);
  return pointStyle(feature.get('status'));
}

function threatStyle(feature, resolution) {
  if (!vocabularyLoaded()) return null; // no report is drawn before its colours are known
  if (feature.get('layer') === 'threat_cells') return cellStyle(feature.get('count') || 0);
  if (dateFilterOn()) return null; // the filtered features layer draws them
  if (state.category && feature.get('category') !== state.category) return null;
  return reportStyle(feature, resolution);
}

// --- layers ---------------------------------------------------------------
const boundaries = new VectorTileLayer({
  className: 'boundaries',
  source: new VectorTileSource({
    format: new MVT(),
    url: '/collections/crime-rates/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt',
    tileGrid: createXYZ({ maxZoom: 14, tileSize: TILE_SIZE }),
  }),
  style: (feature, resolution) => {
    const level = feature.get('level');
    if (level === 'powiat' && resolution > 1200) return null;
    return boundaryStyles[level] || null;
  },
  declutter: false,
  zIndex: 1,
});

const threats = new VectorTileLayer({
  className: 'threats',
  source: new VectorTileSource({
    format: new MVT(),
    url: '/collections/threats/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt',
    tileGrid: createXYZ({ maxZoom: 18, tileSize: TILE_SIZE }),
  }),
  style: threatStyle,
  renderMode: 'hybrid',
  zIndex: 20,
});

const filteredSource = new VectorSource({
  format: new GeoJSON(),
  strategy: bboxStrategy,
  loader(extent, _resolution, projection, success, failure) {
    const box = transformExtent(extent, projection, 'EPSG:4326').map((v) => v.toFixed(5)).join(',');
    const params = new URLSearchParams({ f: 'json', bbox: box, limit: '10000', datetime: `${state.from || '..'}/${state.to || '..'}` });
    if (state.category) params.set('category', state.category);
    fetch(`/collections/threats/items?${params}`)
      .then((r) => (r.ok ? r.json() : Promise.reject(r)))
      .then((json) => {
        const features = filteredSource.getFormat().readFeatures(json, { featureProjection: projection });
        filteredSource.addFeatures(features);
        success(features);
      })
      .catch(() => { filteredSource.removeLoadedExtent(extent); failure(); });
  },
});
const filtered = new VectorLayer({
  source: filteredSource,
  minZoom: DETAIL_ZOOM,
  visible: false,
  style: reportStyle,
  zIndex: 21,
});

const markerSource = new VectorSource();
const markers = new VectorLayer({
  source: markerSource,
  zIndex: 30,
  style: (feature) => (feature.getGeometry().getType() === 'Point'
    ? new Style({
      image: new CircleStyle({ radius: 10, fill: new Fill({ color: '#ffd400' }), stroke: new Stroke({ color: '#111111', width: 3 }) }),
    })
    : new Style({ fill: new Fill({ color: 'rgba(11, 61, 145, 0.12)' }), stroke: new Stroke({ color: '#0b3d91', width: 2, lineDash: [6, 4] }) })),
});

export const map = new Map({
  target: 'map',
  layers: [boundaries, threats, filtered, markers],
  view: new View({
    center: fromLonLat(POLAND.center),
    zoom: POLAND.zoom,
    minZoom: 5,
    maxZoom: 19,
    extent: transformExtent([10.5, 47.5, 27.5, 56.5], 'EPSG:4326', 'EPSG:3857'),
  }),
  controls: defaultControls({ attribution: false }).extend([new ScaleLine()]),
  keyboardEventTarget: undefined,
});
// the map's state, for assistive tech and tests: loading tiles, last complete render
const mapElement = document.getElementById('map');
map.on('loadstart', () => { mapElement.dataset.loading = '1'; mapElement.setAttribute('aria-busy', 'true'); });
map.on('loadend', () => { mapElement.dataset.loading = '0'; mapElement.setAttribute('aria-busy', 'false'); });
map.on('rendercomplete', () => { mapElement.dataset.rendered = String(Date.now()); });

// --- popup ---------------------------------------------------------------
const popup = document.getElementById('popup');
const hint = document.getElementById('map-hint');

function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
export { escapeHtml };

function closePopup() { popup.hidden = true; popup.innerHTML = ''; }

async function openPopup(id, status, category) {
  popup.hidden = false;
  popup.innerHTML = `<p>${escapeHtml(t('popup_title'))} ${escapeHtml(id)}…</p>`;
  let p = { id, status, category };
  try {
    const response = await fetch(`/collections/threats/items/${encodeURIComponent(id)}?f=json`);
    if (response.ok) p = { ...(await response.json()).properties, id };
  } catch { /* keep what the tile had */ }
  const rows = [
    [t('status'), statusName(p.status)],
    [t('reported'), formatDate(p.reported_on)],
    [t('event'), p.event_date ? `${formatDate(p.event_date)}${p.time_of_day ? `, ${timeOfDayName(p.time_of_day)}` : ''}` : ''],
    [t('police_unit'), p.police_unit_name || ''],
  ].filter(([, v]) => v);
  popup.innerHTML = `
    <div class="popup-head"><h2 id="popup-title">${escapeHtml(categoryName(p.category, p.category_name))}</h2>
    <button type="button" class="close" aria-label="${escapeHtml(t('close'))}">×</button></div>
    <dl>${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
    ${p.description ? `<p class="desc">${escapeHtml(p.description)}</p>` : ''}
    <p class="help">${escapeHtml(t('reference'))}: <span class="reference">${escapeHtml(p.id)}</span></p>`;
  popup.setAttribute('aria-labelledby', 'popup-title');
  const close = popup.querySelector('.close');
  close.addEventListener('click', closePopup);
  close.focus({ preventScroll: true });
}
popup.addEventListener('keydown', (event) => { if (event.key === 'Escape') closePopup(); });

function pointAt(pixel, coordinate) {
  if (state.pick) {
    state.pick(toLonLat(coordinate));
    return;
  }
  let hit = null;
  map.forEachFeatureAtPixel(pixel, (feature, layer) => {
    if (layer === threats || layer === filtered) { hit = { feature, layer }; return true; }
    return false;
  }, { hitTolerance: 6 });
  if (!hit) { closePopup(); return; }
  const { feature } = hit;
  if (feature.get('layer') === 'threat_cells') {
    hint.textContent = t('cell_hint', { n: feature.get('count') });
    const view = map.getView();
    view.animate({ center: coordinate, zoom: Math.min(view.getZoom() + 2, DETAIL_ZOOM + 1), duration: 300 });
    return;
  }
  openPopup(feature.get('id') ?? feature.getId(), feature.get('status'), feature.get('category'));
}
map.on('singleclick', (event) => pointAt(event.pixel, event.coordinate));
// keyboard: Enter does at the centre of the map what a click does (pick a point, open a report)
document.getElementById('map').addEventListener('keydown', (event) => {
  if (event.key !== 'Enter' || event.target !== event.currentTarget) return;
  event.preventDefault();
  const [width, height] = map.getSize();
  const pixel = [width / 2, height / 2];
  pointAt(pixel, map.getCoordinateFromPixel(pixel));
});
map.on('pointermove', (event) => {
  if (event.dragging) return;
  const over = map.hasFeatureAtPixel(event.pixel, { layerFilter: (l) => l === threats || l === filtered, hitTolerance: 6 });
  map.getTargetElement().style.cursor = state.pick ? 'crosshair' : (over ? 'pointer' : '');
});
map.getView().on('change:resolution', () => updateHint());

function updateHint() {
  if ((state.category || dateFilterOn()) && map.getView().getZoom() < DETAIL_ZOOM) hint.textContent = t('zoom_for_filter');
  else if (hint.textContent === t('zoom_for_filter')) hint.textContent = '';
}

// --- public API for the panels ------------------------------------------------
export function setFilters({ category, from, to }) {
  state.category = category || '';
  state.from = from || '';
  state.to = to || '';
  filtered.setVisible(threats.getVisible() && dateFilterOn());
  filteredSource.clear(true);
  filteredSource.refresh();
  threats.changed();
  updateHint();
}

export function setThreatsVisible(visible) {
  threats.setVisible(visible);
  filtered.setVisible(visible && dateFilterOn());
  document.getElementById('legend').hidden = !visible; // the legend follows the layers
}
export function setBoundariesVisible(visible) { boundaries.setVisible(visible); }

// --- the legend: the public statuses in the colours the map draws them ------------------
const SVG = 'http://www.w3.org/2000/svg';
function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  Object.entries(attributes).forEach(([key, value]) => element.setAttribute(key, String(value)));
  return element;
}
function swatch(status, size, radius) {
  const { fill, outline } = statusStyleColours(status);
  const svg = svgElement('svg', {
    class: 'sym swatch', width: size, height: size, viewBox: `0 0 ${size} ${size}`, 'aria-hidden': 'true',
  });
  svg.append(svgElement('circle', {
    cx: size / 2, cy: size / 2, r: radius, fill, stroke: outline, 'stroke-width': 2,
  }));
  return svg;
}
// The street-scale key: a pictogram on a status's colours, tinted as the map tints it.
function pictogramSwatch() {
  const sample = publicStatuses().find((s) => s.is_confirmed) || publicStatuses()[0];
  const src = pictogramUrl(publicCategories()[0]?.code);
  if (!sample) return null;
  const svg = swatch(sample.code, 26, 11);
  if (src) {
    const filter = svgElement('filter', { id: 'legend-pictogram-tint' });
    filter.append(svgElement('feFlood', { 'flood-color': statusColours(sample.code).text }));
    filter.append(svgElement('feComposite', { in2: 'SourceAlpha', operator: 'in' }));
    svg.append(filter, svgElement('image', {
      href: src, x: 6, y: 6, width: 14, height: 14, filter: 'url(#legend-pictogram-tint)',
    }));
  }
  svg.dataset.status = sample.code;
  return svg;
}
function drawLegend() {
  const legend = document.getElementById('legend');
  const pictograms = document.getElementById('legend-pictograms');
  legend.querySelectorAll('li.status').forEach((item) => item.remove());
  for (const status of publicStatuses()) {
    const item = document.createElement('li');
    item.className = 'status';
    item.dataset.status = status.code;
    const name = document.createElement('span');
    name.className = 'status-name';
    name.textContent = statusName(status.code);
    item.append(swatch(status.code, 18, 7), name);
    legend.insertBefore(item, pictograms);
  }
  pictograms.querySelector('svg')?.remove();
  const sample = pictogramSwatch();
  if (sample) pictograms.prepend(sample);
}

// Once the vocabulary is in: the legend, and the reports drawn in their colours.
onVocabulary(() => {
  drawLegend();
  threats.changed();
  filtered.changed();
});

export function setPickHandler(handler, hintKey) {
  state.pick = handler;
  hint.textContent = handler && hintKey ? t(hintKey) : '';
  if (handler) closePopup();
}

export function showMarker(lon, lat, radius) {
  markerSource.clear();
  if (radius) {
    const circle = circular([lon, lat], radius, 64).transform('EPSG:4326', 'EPSG:3857');
    markerSource.addFeature(new Feature(circle));
  }
  markerSource.addFeature(new Feature(new Point(fromLonLat([lon, lat]))));
}

export function zoomTo(lon, lat, zoom = 16) {
  map.getView().animate({ center: fromLonLat([lon, lat]), zoom, duration: 250 });
}
export function fitBox(box) {
  map.getView().fit(transformExtent(box, 'EPSG:4326', 'EPSG:3857'), { padding: [30, 30, 30, 30], duration: 250, maxZoom: 15 });
}
export function centerLonLat() { return toLonLat(map.getView().getCenter()); }
// the map's view as [minLon, minLat, maxLon, maxLat] (CRS84)
export function viewBoxLonLat() {
  const view = map.getView();
  return transformExtent(view.calculateExtent(map.getSize()), view.getProjection(), 'EPSG:4326');
}

// --- QGIS Server WMS, through /wms -----------------------------------------
// QGIS Server's project (qgis_projects/kmzb_public.qgs) also draws the threats, for WMS
// clients; the page takes them from the vector tiles. Shown first: the crime choropleth.
const SKIPPED_WMS = /zagrozenia|threat/i;
const PREFERRED_WMS = /przestepczosc_powiaty|crime|przestep|stat/i;

function leafLayers(layer, out = []) {
  if (!layer) return out;
  if (layer.Layer?.length) layer.Layer.forEach((child) => leafLayers(child, out));
  else if (layer.Name) out.push({ name: layer.Name, title: layer.Title || layer.Name });
  return out;
}

export async function loadWms() {
  const status = document.getElementById('wms-status');
  const box = document.getElementById('wms-layers');
  const legend = document.getElementById('wms-legend');
  status.textContent = t('wms_loading');
  let layers = [];
  try {
    const response = await fetch('/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities');
    if (!response.ok) throw new Error(String(response.status));
    const capabilities = new WMSCapabilities().read(await response.text());
    const root = capabilities?.Capability?.Layer;
    // leaf layers only; the threats come from the OGC API tiles, not from the WMS
    layers = leafLayers(root).filter((l) => !SKIPPED_WMS.test(l.name));
    if (!layers.length && root?.Name) layers = [{ name: root.Name, title: root.Title || root.Name }];
    const preferred = layers.findIndex((l) => PREFERRED_WMS.test(l.name));
    if (preferred > 0) layers.unshift(...layers.splice(preferred, 1));
  } catch {
    status.textContent = t('wms_down');
    status.dataset.state = 'down';
    return;
  }
  status.textContent = t('wms_ok');
  status.dataset.state = 'up';
  layers.forEach((info, index) => {
    const layer = new TileLayer({
      source: new TileWMS({
        url: '/wms',
        params: { LAYERS: info.name, FORMAT: 'image/png', TRANSPARENT: true, VERSION: '1.3.0', TILED: true },
        transition: 0,
      }),
      opacity: CHOROPLETH_OPACITY,
      visible: index === 0,
      zIndex: 5 + index,
    });
    wmsLayers.push(layer);
    map.addLayer(layer);
    const id = `wms-${index}`;
    const label = document.createElement('label');
    label.innerHTML = `<input type="checkbox" id="${id}" data-wms-layer="${escapeHtml(info.name)}" ${index === 0 ? 'checked' : ''}> <span data-wms-title="${escapeHtml(info.name)}">${escapeHtml(wmsTitle(info.name, info.title))}</span>`;
    box.append(label);
    const figure = document.createElement('figure');
    figure.hidden = index !== 0;
    const params = new URLSearchParams({ SERVICE: 'WMS', VERSION: '1.3.0', REQUEST: 'GetLegendGraphic', FORMAT: 'image/png', LAYER: info.name, SLD_VERSION: '1.1.0' });
    figure.innerHTML = `<figcaption data-wms-title="${escapeHtml(info.name)}">${escapeHtml(wmsTitle(info.name, info.title))}</figcaption><img alt="${escapeHtml(t('legend'))}: ${escapeHtml(wmsTitle(info.name, info.title))}" src="/wms?${params}">`;
    figure.dataset.wmsLayer = info.name;
    legend.append(figure);
    label.querySelector('input').addEventListener('change', (event) => {
      layer.setVisible(event.target.checked);
      figure.hidden = !event.target.checked;
    });
    wmsTitles[info.name] = info.title;
  });
  fadeChoropleth();
}

const wmsLayers = [];
const wmsTitles = {};
// semi-transparent, fading out towards street scale (hidden there: the basemap shows)
function choroplethOpacity(zoom) {
  if (zoom <= FADE_FROM) return CHOROPLETH_OPACITY;
  if (zoom >= PICTOGRAM_ZOOM) return 0;
  return Number((CHOROPLETH_OPACITY * (PICTOGRAM_ZOOM - zoom) / (PICTOGRAM_ZOOM - FADE_FROM)).toFixed(3));
}
function fadeChoropleth() {
  const opacity = choroplethOpacity(map.getView().getZoom());
  wmsLayers.forEach((layer) => layer.setOpacity(opacity));
  const note = document.getElementById('legend-choropleth-fade');
  if (note) note.dataset.opacity = String(opacity);
}
map.getView().on('change:resolution', fadeChoropleth);

function renameWmsLayers() {
  document.querySelectorAll('[data-wms-title]').forEach((el) => {
    const name = el.dataset.wmsTitle;
    if (name in wmsTitles) el.textContent = wmsTitle(name, wmsTitles[name]);
  });
}

onLangChange(() => {
  const status = document.getElementById('wms-status');
  if (status.dataset.state) status.textContent = t(status.dataset.state === 'up' ? 'wms_ok' : 'wms_down');
  renameWmsLayers();
  if (vocabularyLoaded()) drawLegend();
  if (!popup.hidden) closePopup();
});
