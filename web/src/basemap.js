// Basemaps under the threats, from the service's list (GET /basemaps, basemaps.yml):
// the offline KMZB map drawn by QGIS Server at /basemap/wms, OGC WMTS (GUGiK's
// topographic map and orthophoto, read from their capabilities) and XYZ tiles (OSM).
// A switcher in the page, the attribution of the one in use, and a fallback: when an
// outside basemap fails to load, the page switches to the offline one and says so.
import TileLayer from 'ol/layer/Tile.js';
import ImageLayer from 'ol/layer/Image.js';
import ImageWMS from 'ol/source/ImageWMS.js';
import XYZ from 'ol/source/XYZ.js';
import WMTS, { optionsFromCapabilities } from 'ol/source/WMTS.js';
import WMTSCapabilities from 'ol/format/WMTSCapabilities.js';
import { register } from 'ol/proj/proj4.js';
import proj4 from 'proj4';
import { t, pick, onLangChange } from './i18n.js';

// PUWG 1992: GUGiK's tile matrix sets. Northing first, as EPSG defines it (the
// capabilities' TopLeftCorner is "northing easting"); OL draws it reprojected.
proj4.defs('EPSG:2180', '+proj=tmerc +lat_0=0 +lon_0=19 +k=0.9993 +x_0=500000 +y_0=-5300000 '
  + '+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +axis=neu +type=crs');
register(proj4);

const STORAGE_KEY = 'kmzb-basemap';
const FAILURES_TO_FALL_BACK = 3;
const state = {
  map: null, config: null, layer: null, current: null, status: 'loading', failedFrom: null,
};

// The layer a WMTS capabilities document describes, in the tile matrix set asked for
// (EPSG:3857 or EPSG:2180). Exported for the tests (window.kmzb.wmtsSource).
export function wmtsSource(xml, layer, matrixSet, attributions) {
  const capabilities = new WMTSCapabilities().read(xml);
  const options = optionsFromCapabilities(capabilities, { layer, matrixSet });
  if (!options) throw new Error(`no layer ${layer} in ${matrixSet}`);
  return new WMTS({ ...options, attributions, transition: 0 });
}

function attributionHtml(entry) {
  const text = pick(entry.attribution);
  const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return entry.link ? `<a href="${escape(entry.link)}" rel="noopener">${escape(text)}</a>` : escape(text);
}

async function buildSource(entry) {
  if (entry.kind === 'kmzb') {
    return new ImageWMS({
      url: entry.url,
      params: { LAYERS: entry.layers, FORMAT: 'image/png', VERSION: '1.3.0', STYLES: '' },
      ratio: 1.2,
    });
  }
  if (entry.kind === 'xyz') {
    return new XYZ({ url: entry.url, maxZoom: entry.max_zoom, transition: 0 });
  }
  const response = await fetch(entry.capabilities);
  if (!response.ok) throw new Error(`capabilities: HTTP ${response.status}`);
  return wmtsSource(await response.text(), entry.layer, entry.matrix_set);
}

function showStatus() {
  const status = document.getElementById('basemap-status');
  const attribution = document.getElementById('basemap-attribution');
  if (!status || !state.config) return;
  const entry = state.config.basemaps.find((b) => b.id === state.current);
  status.dataset.state = state.status;
  status.dataset.basemap = state.current || '';
  const failed = state.failedFrom && state.config.basemaps.find((b) => b.id === state.failedFrom);
  if (state.status === 'fallback' && failed) {
    status.textContent = t('basemap_fallback', { failed: pick(failed.title), current: pick(entry.title) });
  } else if (state.status === 'down') {
    status.textContent = t('basemap_down');
  } else if (entry) {
    status.textContent = t('basemap_in_use', { name: pick(entry.title) });
  }
  attribution.innerHTML = entry ? `${t('basemap_source')}: ${attributionHtml(entry)}` : '';
  if (entry?.policy) {
    attribution.innerHTML += ` (<a href="${entry.policy}" rel="noopener">${t('basemap_policy')}</a>)`;
  }
  document.querySelectorAll('#basemap-list input').forEach((input) => {
    input.checked = input.value === state.current;
  });
  document.querySelectorAll('#basemap-list [data-title]').forEach((span) => {
    const b = state.config.basemaps.find((x) => x.id === span.dataset.title);
    span.textContent = pick(b.title);
  });
}

function fallBack(fromId) {
  if (fromId === state.config.fallback) {
    state.status = 'down';
    showStatus();
    return;
  }
  state.failedFrom = fromId;
  useBasemap(state.config.fallback, { remember: false, status: 'fallback' });
}

export async function useBasemap(id, { remember = true, status = 'ok' } = {}) {
  const entry = state.config.basemaps.find((b) => b.id === id);
  if (!entry) return;
  state.current = id;
  state.status = status === 'fallback' ? 'fallback' : 'loading';
  if (status !== 'fallback') state.failedFrom = null;
  if (remember) { try { localStorage.setItem(STORAGE_KEY, id); } catch { /* private mode */ } }
  showStatus();
  if (state.layer) { state.map.removeLayer(state.layer); state.layer = null; }
  let source;
  try {
    source = await buildSource(entry);
  } catch {
    if (state.current === id) fallBack(id);
    return;
  }
  if (state.current !== id) return; // another choice meanwhile
  let failures = 0;
  const failed = () => {
    failures += 1;
    if (failures === FAILURES_TO_FALL_BACK && state.current === id) fallBack(id);
  };
  const loaded = () => {
    if (state.current === id && state.status === 'loading') { state.status = 'ok'; showStatus(); }
  };
  source.on(['tileloaderror', 'imageloaderror'], failed);
  source.on(['tileloadend', 'imageloadend'], loaded);
  const Layer = entry.kind === 'kmzb' ? ImageLayer : TileLayer;
  state.layer = new Layer({ source, zIndex: 0, className: `basemap basemap-${entry.kind}` });
  state.layer.set('basemap', id);
  state.map.addLayer(state.layer);
}

export function currentBasemap() { return { id: state.current, status: state.status }; }

export async function setupBasemaps(map) {
  state.map = map;
  const list = document.getElementById('basemap-list');
  try {
    const response = await fetch('/basemaps');
    if (!response.ok) throw new Error(String(response.status));
    state.config = await response.json();
  } catch {
    const status = document.getElementById('basemap-status');
    status.dataset.state = 'down';
    status.textContent = t('basemap_down');
    return;
  }
  list.innerHTML = '';
  for (const entry of state.config.basemaps) {
    const label = document.createElement('label');
    label.innerHTML = `<input type="radio" name="basemap" value="${entry.id}"> <span data-title="${entry.id}"></span>`;
    label.querySelector('input').addEventListener('change', () => useBasemap(entry.id));
    list.append(label);
  }
  let chosen = state.config.default;
  try {
    const kept = localStorage.getItem(STORAGE_KEY);
    if (kept && state.config.basemaps.some((b) => b.id === kept)) chosen = kept;
  } catch { /* private mode */ }
  await useBasemap(chosen, { remember: false });
  onLangChange(showStatus);
}
