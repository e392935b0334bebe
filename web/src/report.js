// "Zgłoś zagrożenie": the point (map click, search or map centre), category, optional
// fields, the 112 notice, send; the reference, or the server's errors next to the fields.
import { execute, errorText, ApiError } from './api.js';
import { t, currentLang, onLangChange, applyTexts } from './i18n.js';
import { showMarker, centerLonLat } from './map.js';
import {
  categories, categoryName, timesOfDay, timeOfDayName, limits, onVocabulary,
} from './vocabulary.js';

const FIELDS = ['location', 'category', 'event_date', 'time_of_day', 'description', 'attachments'];
let point = null;
let lastErrors = null;

let where = null; // the service's words for the point (GET /places/reverse)

function distanceText(metres) {
  return metres < 1000 ? `${Math.round(metres / 10) * 10} m` : `${(metres / 1000).toFixed(1)} km`;
}

// "Wybrano: Kraków (120 m od punktu), gmina Kraków, powiat Kraków" and the coordinates
// as a detail below; the bare coordinates until the service answers.
function showPoint() {
  const el = document.getElementById('report-location');
  el.removeAttribute('data-i18n');
  const coords = { lat: point.lat.toFixed(5), lon: point.lon.toFixed(5) };
  if (!where) { el.textContent = t('location_set', coords); return; }
  const parts = [];
  if (where.place) parts.push(t('location_near', { place: where.place.name, distance: distanceText(where.place.distance_m) }));
  if (where.gmina) parts.push(t('location_in_gmina', { gmina: where.gmina.name, powiat: where.gmina.powiat.name }));
  if (!parts.length) parts.push(t('location_abroad'));
  el.innerHTML = '';
  const words = document.createElement('span');
  words.className = 'place-words';
  words.textContent = `${t('location_set', coords).split(':')[0]}: ${parts.join(', ')}`;
  const detail = document.createElement('small');
  detail.className = 'coords';
  detail.textContent = t('location_coords', coords);
  el.append(words, document.createElement('br'), detail);
}

export function setReportPoint(lon, lat) {
  point = { lon: Number(lon.toFixed(6)), lat: Number(lat.toFixed(6)) };
  where = null;
  showPoint();
  document.getElementById('err-location').textContent = '';
  showMarker(point.lon, point.lat);
  const asked = point;
  fetch(`/places/reverse?${new URLSearchParams({ lon: String(point.lon), lat: String(point.lat) })}`)
    .then((r) => (r.ok ? r.json() : null))
    .then((answer) => { if (answer && point === asked) { where = answer; showPoint(); } })
    .catch(() => { /* the coordinates stay */ });
}

function showErrors(errors, general) {
  lastErrors = { errors, general };
  const lang = currentLang();
  FIELDS.forEach((f) => {
    document.getElementById(`err-${f}`).textContent = '';
    const input = document.querySelector(`#report-form [name="${f}"]`);
    if (input) input.removeAttribute('aria-invalid');
  });
  const rest = [];
  for (const e of errors) {
    const target = document.getElementById(`err-${e.field}`);
    const text = e[lang] || e.pl;
    if (target) {
      target.textContent = target.textContent ? `${target.textContent} ${text}` : text;
      const input = document.querySelector(`#report-form [name="${e.field}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    } else rest.push(text);
  }
  document.getElementById('report-error').textContent = [general, ...rest].filter(Boolean).join(' ');
  const first = errors.find((e) => document.querySelector(`#report-form [name="${e.field}"]`));
  if (first) document.querySelector(`#report-form [name="${first.field}"]`).focus();
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, content: String(reader.result).split(',')[1] || '' });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function fillSelect(id, entries) {
  const select = document.getElementById(id);
  const chosen = select.value;
  select.querySelectorAll('option[value]:not([value=""])').forEach((o) => o.remove());
  for (const [code, name] of entries) {
    const option = document.createElement('option');
    option.value = code;
    option.textContent = name;
    select.append(option);
  }
  select.value = chosen;
}

const MB = 1024 * 1024;
function countText() {
  const max = limits().description_max_chars;
  const length = document.getElementById('report-description').value.length;
  return max ? `${length} / ${max}` : String(length);
}

// The form's choices and limits, from the vocabulary (again on a language change).
function fillReportForm() {
  fillSelect('report-category', categories().map((c) => [c.code, categoryName(c.code)]));
  fillSelect('report-time', timesOfDay().map((d) => [d.code, timeOfDayName(d.code)]));
  const limit = limits();
  const description = document.getElementById('report-description');
  if (limit.description_max_chars) description.maxLength = limit.description_max_chars;
  document.getElementById('report-count').textContent = countText();
  const files = document.getElementById('report-files');
  if (limit.attachment_media_types) files.accept = limit.attachment_media_types.join(',');
  const panel = document.getElementById('panel-report');
  panel.querySelector('[data-i18n="description"]').dataset.i18nValues = JSON.stringify({ max: limit.description_max_chars });
  panel.querySelector('[data-i18n="attachments"]').dataset.i18nValues = JSON.stringify({
    count: limit.attachments_max_count,
    mb: Number(((limit.attachment_max_bytes || 0) / MB).toFixed(1)),
  });
  applyTexts(panel);
}

export function setupReport({ onCheck }) {
  const form = document.getElementById('report-form');
  const description = document.getElementById('report-description');
  const count = document.getElementById('report-count');
  const today = new Date();
  document.getElementById('report-date').max = new Date(today.getTime() - today.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  description.addEventListener('input', () => { count.textContent = countText(); });
  document.getElementById('report-use-center').addEventListener('click', () => {
    const [lon, lat] = centerLonLat();
    setReportPoint(lon, lat);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const errors = [];
    if (!point) errors.push({ field: 'location', pl: t('need_location'), en: t('need_location') });
    const category = form.category.value;
    if (!category) errors.push({ field: 'category', pl: t('need_category'), en: t('need_category') });
    if (errors.length) { showErrors(errors, ''); return; }
    const inputs = { ...point, category };
    if (form.event_date.value) inputs.event_date = form.event_date.value;
    if (form.time_of_day.value) inputs.time_of_day = form.time_of_day.value;
    if (description.value.trim()) inputs.description = description.value;
    const files = [...document.getElementById('report-files').files];
    const send = document.getElementById('report-send');
    send.disabled = true;
    send.textContent = t('sending');
    try {
      if (files.length) inputs.attachments = await Promise.all(files.map(readFile));
      const answer = await execute('submit-threat', inputs);
      showErrors([], '');
      lastErrors = null;
      form.hidden = true;
      const done = document.getElementById('report-done');
      done.hidden = false;
      document.getElementById('report-reference').textContent = answer.reference;
      document.getElementById('report-unit').textContent = t('goes_to', { unit: answer.police_unit_name });
      done.dataset.reference = answer.reference;
      done.focus();
    } catch (error) {
      if (error instanceof ApiError) showErrors(error.body.errors || [], errorText(error, currentLang()) && !(error.body.errors || []).length ? errorText(error, currentLang()) : '');
      else showErrors([], t('error_network'));
    } finally {
      send.disabled = false;
      send.textContent = t('send');
    }
  });

  document.getElementById('report-new').addEventListener('click', () => {
    form.reset();
    count.textContent = countText();
    form.hidden = false;
    document.getElementById('report-done').hidden = true;
    form.category.focus();
  });
  document.getElementById('report-check').addEventListener('click', () => {
    onCheck(document.getElementById('report-done').dataset.reference);
  });
  onVocabulary(fillReportForm);
  onLangChange(() => {
    fillReportForm();
    if (point) showPoint();
    if (lastErrors) showErrors(lastErrors.errors, lastErrors.general);
  });
}
