// KMZB web client: wires the tabs, the language switch and the panels to the map.
import 'ol/ol.css';
import { fromLonLat } from 'ol/proj.js';
import './style.css';
import { applyTexts, setLang, currentLang, onLangChange, t } from './i18n.js';
import {
  map, loadWms, setFilters, setThreatsVisible, setBoundariesVisible, setPickHandler,
  statusStyleColours,
} from './map.js';
import { setupSearch, onPlaceChosen } from './search.js';
import { setupReport, setReportPoint } from './report.js';
import { setupCheck, checkReference } from './check.js';
import { setupArea, setAreaPoint, setAreaUnit } from './area.js';
import { setupPolice } from './police.js';
import { setupFollow } from './follow.js';
import { setupBasemaps, useBasemap, currentBasemap, wmtsSource } from './basemap.js';
import {
  loadVocabulary, onVocabulary, publicCategories, categoryName,
} from './vocabulary.js';

const TABS = ['map', 'report', 'check', 'area', 'police'];
let active = 'map';

function pickModeFor(name) {
  if (name === 'report') setPickHandler(([lon, lat]) => setReportPoint(lon, lat), 'pick_hint_report');
  else if (name === 'area') setPickHandler(([lon, lat]) => setAreaPoint(lon, lat), 'pick_hint_area');
  else setPickHandler(null);
}

function showTab(name, focus = false) {
  active = name;
  for (const tab of TABS) {
    const button = document.getElementById(`tab-${tab}`);
    const selected = tab === name;
    button.setAttribute('aria-selected', String(selected));
    button.tabIndex = selected ? 0 : -1;
    document.getElementById(`panel-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  pickModeFor(name);
  if (history.replaceState) history.replaceState(null, '', `#/${name}`);
}

function setupTabs() {
  const list = document.querySelector('[role="tablist"]');
  list.addEventListener('click', (event) => {
    const button = event.target.closest('[role="tab"]');
    if (button) showTab(button.id.replace('tab-', ''));
  });
  list.addEventListener('keydown', (event) => {
    const index = TABS.indexOf(active);
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: TABS.length - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    showTab(TABS[(index + moves[event.key] + TABS.length) % TABS.length], true);
  });
}

function fillFilterCategories() {
  const select = document.getElementById('filter-category');
  const chosen = select.value;
  select.querySelectorAll('option:not([value=""])').forEach((o) => o.remove());
  for (const c of publicCategories()) {
    const option = document.createElement('option');
    option.value = c.code;
    option.textContent = categoryName(c.code);
    select.append(option);
  }
  select.value = chosen;
}

function setupFilters() {
  const read = () => setFilters({
    category: document.getElementById('filter-category').value,
    from: document.getElementById('filter-from').value,
    to: document.getElementById('filter-to').value,
  });
  ['filter-category', 'filter-from', 'filter-to'].forEach((id) => document.getElementById(id).addEventListener('change', read));
  document.getElementById('filter-clear').addEventListener('click', () => {
    ['filter-category', 'filter-from', 'filter-to'].forEach((id) => { document.getElementById(id).value = ''; });
    read();
  });
  document.getElementById('layer-threats').addEventListener('change', (e) => setThreatsVisible(e.target.checked));
  document.getElementById('layer-boundaries').addEventListener('change', (e) => setBoundariesVisible(e.target.checked));
}

function start() {
  applyTexts();
  document.getElementById('lang').addEventListener('click', () => setLang(currentLang() === 'pl' ? 'en' : 'pl'));
  onLangChange(() => {
    fillFilterCategories();
    pickModeFor(active);
  });
  setupTabs();
  setupSearch();
  setupFilters();
  setupReport({ onCheck: (reference) => { showTab('check'); checkReference(reference); } });
  setupCheck();
  setupArea();
  setupPolice();
  setupFollow();
  onPlaceChosen((result) => {
    if (active === 'report') setReportPoint(result.lon, result.lat);
    else if (active === 'area') {
      if (result.kind === 'unit' && (result.level === 'gmina' || result.level === 'powiat')) setAreaUnit(result);
      else setAreaPoint(result.lon, result.lat);
    }
  });
  const hash = window.location.hash.replace(/^#\/?/, '');
  showTab(TABS.includes(hash) ? hash : 'map');
  loadWms();
  setupBasemaps(map);
  // for the browser console and tests
  window.kmzb = {
    map, useBasemap, currentBasemap, wmtsSource, fromLonLat, statusStyleColours,
  };
  // once, before any report is drawn (map.js draws none until then); the panels fill
  // their lists and limits from it (onVocabulary)
  const hint = document.getElementById('map-hint');
  onVocabulary(() => {
    if (hint.textContent === t('vocabulary_down')) hint.textContent = '';
    fillFilterCategories();
    document.body.dataset.vocabulary = 'loaded';
  });
  loadVocabulary(() => { hint.textContent = t('vocabulary_down'); });
}

start();
