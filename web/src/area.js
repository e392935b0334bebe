// "Czy w mojej okolicy jest bezpiecznie?": process area-safety for a point and radius
// or a gmina/powiat; threats by category over 30/90/365 days and a chart of crime
// rates over the years against the national average.
import { execute, getJson, errorText } from './api.js';
import { t, currentLang, onLangChange } from './i18n.js';
import { escapeHtml, showMarker, fitBox, centerLonLat } from './map.js';
import { categoryName } from './vocabulary.js';
import { showFollow, topicFor, areaFeedUrl } from './follow.js';

let point = null;
let unit = null;
let last = null;

function mode() { return document.querySelector('input[name="area-mode"]:checked').value; }

function describePlace() {
  const el = document.getElementById('area-place');
  el.removeAttribute('data-i18n');
  if (mode() === 'unit') el.textContent = unit ? `${unit.name} (TERYT ${unit.teryt})` : t('area_unit_none');
  else el.textContent = point ? t('location_set', { lat: point.lat.toFixed(5), lon: point.lon.toFixed(5) }) : t('area_none');
}

// "Obserwuj ten obszar": the chosen gmina or powiat, or the gmina holding the point
let followed = 0;
function followUnit(teryt, name) {
  const level = teryt.length === 7 ? 'gmina' : 'powiat';
  showFollow('area-follow', {
    kind: 'area', feed: areaFeedUrl({ [level]: teryt }), topic: topicFor(teryt), label: `${name} (TERYT ${teryt}).`,
  });
}

async function updateFollow() {
  const ask = ++followed;
  if (mode() === 'unit') {
    if (unit && /^(\d{4}|\d{7})$/.test(unit.teryt)) followUnit(unit.teryt, unit.name);
    else showFollow('area-follow', null);
    return;
  }
  if (!point) { showFollow('area-follow', null); return; }
  try {
    const answer = await getJson(`/places/reverse?${new URLSearchParams({ lon: String(point.lon), lat: String(point.lat) })}`);
    if (ask !== followed) return;
    if (answer.gmina) followUnit(answer.gmina.teryt, `gmina ${answer.gmina.name}, ${answer.gmina.powiat.name}`);
    else showFollow('area-follow', null);
  } catch {
    if (ask === followed) showFollow('area-follow', null);
  }
}

export function setAreaPoint(lon, lat) {
  point = { lon: Number(lon.toFixed(6)), lat: Number(lat.toFixed(6)) };
  document.querySelector('input[name="area-mode"][value="point"]').checked = true;
  showMarker(point.lon, point.lat, Number(document.getElementById('area-radius').value));
  describePlace();
  updateFollow();
}

export function setAreaUnit(result) {
  unit = { teryt: result.teryt, name: result.name };
  document.querySelector('input[name="area-mode"][value="unit"]').checked = true;
  describePlace();
  updateFollow();
}

function chart(crime) {
  const years = crime.years.filter((y) => y.rate_per_10k != null);
  if (years.length < 2) return '';
  const W = 340; const H = 170; const L = 40; const R = 18; const T = 12; const B = 26;
  const max = Math.max(...years.flatMap((y) => [y.rate_per_10k, y.national_rate_per_10k || 0])) * 1.1;
  const x = (i) => L + (i * (W - L - R)) / (years.length - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const line = (key) => years.map((d, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(' ');
  const ticks = [0, max / 2, max].map((v) => `<text x="${L - 4}" y="${y(v) + 4}" text-anchor="end">${Math.round(v)}</text><line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`).join('');
  const labels = years.map((d, i) => ((years.length - 1 - i) % 2 === 0 ? `<text x="${x(i)}" y="${H - 8}" text-anchor="middle">${d.year}</text>` : '')).join('');
  const label = t('area_chart', { from: years[0].year, to: years[years.length - 1].year, unit: crime.powiat.name });
  return `<figure class="chart">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(label)}">${ticks}${labels}
      <path d="${line('national_rate_per_10k')}" class="national"/><path d="${line('rate_per_10k')}" class="local"/>
      ${years.map((d, i) => `<circle cx="${x(i)}" cy="${y(d.rate_per_10k)}" r="2.5" class="local-dot"/>`).join('')}
    </svg>
    <figcaption><span class="key local"></span> ${escapeHtml(crime.powiat.name)} <span class="key national"></span> ${escapeHtml(t('area_national'))}</figcaption>
  </figure>
  <details><summary>${escapeHtml(t('area_table'))}</summary>
    <table><thead><tr><th scope="col">${escapeHtml(t('area_year'))}</th><th scope="col">${escapeHtml(crime.powiat.name)}</th><th scope="col">${escapeHtml(t('area_national'))}</th></tr></thead>
    <tbody>${years.map((d) => `<tr><th scope="row">${d.year}</th><td>${d.rate_per_10k}</td><td>${d.national_rate_per_10k ?? ''}</td></tr>`).join('')}</tbody></table>
  </details>`;
}

function render(summary) {
  const { area, threats, crime } = summary;
  const place = area.kind === 'circle'
    ? t('area_circle', { radius: area.radius_m, lat: area.lat.toFixed(4), lon: area.lon.toFixed(4), gmina: area.gmina?.name || area.powiat.name })
    : `${area.name} (TERYT ${area.teryt})`;
  const periods = threats.periods_days;
  const rows = threats.by_category.map((c) => `<tr><th scope="row">${escapeHtml(categoryName(c.category, c.name))}</th>${periods.map((n) => `<td>${c[`last_${n}_days`]}</td>`).join('')}</tr>`).join('');
  const latest = crime.years.find((y) => y.year === crime.latest_year);
  const ratio = latest && crime.ratio_to_national != null
    ? `<p class="ratio ${crime.ratio_to_national > 1 ? 'above' : 'below'}">${escapeHtml(t('area_ratio', { year: crime.latest_year, rate: latest.rate_per_10k, ratio: crime.ratio_to_national, national: latest.national_rate_per_10k }))}</p>` : '';
  document.getElementById('area-result').innerHTML = `
    <div class="card" id="area-summary" tabindex="-1">
      <h3>${escapeHtml(place)}</h3>
      <h4>${escapeHtml(t('area_threats'))}</h4>
      ${threats.by_category.length ? `<div class="table-wrap"><table class="counts">
        <thead><tr><th scope="col">${escapeHtml(t('category'))}</th>${periods.map((n) => `<th scope="col">${escapeHtml(t('area_days', { n }))}</th>`).join('')}</tr></thead>
        <tbody>${rows}</tbody>
        <tfoot><tr><th scope="row">${escapeHtml(t('area_total'))}</th>${periods.map((n) => `<td>${threats.total[`last_${n}_days`]}</td>`).join('')}</tr></tfoot>
      </table></div>` : `<p>${escapeHtml(t('area_no_threats'))}</p>`}
      <h4>${escapeHtml(t('area_crime'))}: ${escapeHtml(crime.powiat.name)}</h4>
      ${ratio}
      ${chart(crime)}
      <p class="help">${escapeHtml(t('area_source'))}</p>
    </div>`;
}

export function setupArea() {
  const form = document.getElementById('area-form');
  document.getElementById('area-use-center').addEventListener('click', () => {
    const [lon, lat] = centerLonLat();
    setAreaPoint(lon, lat);
  });
  document.getElementById('area-radius').addEventListener('change', () => { if (point) setAreaPoint(point.lon, point.lat); });
  form.querySelectorAll('input[name="area-mode"]').forEach((r) => r.addEventListener('change', () => { describePlace(); updateFollow(); }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = document.getElementById('area-error');
    error.textContent = '';
    let inputs;
    if (mode() === 'unit') {
      if (!unit) { error.textContent = t('area_unit_none'); return; }
      inputs = { teryt: unit.teryt };
    } else {
      if (!point) { error.textContent = t('area_none'); return; }
      inputs = { ...point, radius: Number(document.getElementById('area-radius').value) };
    }
    try {
      last = await execute('area-safety', inputs);
      render(last);
      if (last.area.bbox) fitBox(last.area.bbox);
      document.getElementById('area-summary').focus();
    } catch (failure) {
      const lang = currentLang();
      const details = (failure.body?.errors || []).map((e) => e[lang] || e.pl).join(' ');
      error.textContent = details || errorText(failure, lang) || t('error_network');
    }
  });
  onLangChange(() => { describePlace(); if (last) render(last); });
}
