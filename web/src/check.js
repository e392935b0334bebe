// "Sprawdź zgłoszenie": status and public history by reference; show it on the map.
import { getJson, errorText } from './api.js';
import { t, pick, currentLang, formatDate, onLangChange } from './i18n.js';
import { escapeHtml, zoomTo, showMarker } from './map.js';
import { limitPattern, onVocabulary } from './vocabulary.js';
import { historyNames } from './history.js';
import { showFollow, reportFeedUrl } from './follow.js';

let last = null;

function render(report) {
  const box = document.getElementById('check-result');
  const names = historyNames(report.history);
  const history = report.history.map((h, i) => `
    <li data-to="${escapeHtml(h.to)}"><time datetime="${escapeHtml(h.changed_at)}">${escapeHtml(formatDate(h.changed_at))}</time>:
      <strong>${escapeHtml(names[i].from)} → <span class="to">${escapeHtml(names[i].to)}</span></strong>
      ${h.note ? `<br><span class="note">${escapeHtml(h.note)}</span>` : ''}</li>`).join('');
  box.innerHTML = `
    <div class="card" data-status="${escapeHtml(report.status)}">
      <h3><span class="reference">${escapeHtml(report.reference)}</span></h3>
      <dl>
        <dt>${escapeHtml(t('category'))}</dt><dd>${escapeHtml(pick(report.category_name))}</dd>
        <dt>${escapeHtml(t('status'))}</dt><dd class="status" id="check-status">${escapeHtml(pick(report.status_name))}</dd>
        <dt>${escapeHtml(t('reported'))}</dt><dd>${escapeHtml(formatDate(report.reported_at))}</dd>
        ${report.event_date ? `<dt>${escapeHtml(t('event'))}</dt><dd>${escapeHtml(formatDate(report.event_date))}</dd>` : ''}
        <dt>${escapeHtml(t('police_unit'))}</dt><dd>${escapeHtml(report.police_unit_name)}</dd>
        ${report.forwarded_to ? `<dt>${escapeHtml(t('forwarded_to'))}</dt><dd>${escapeHtml(pick(report.forwarded_to_name) || report.forwarded_to)}</dd>` : ''}
      </dl>
      <h4>${escapeHtml(t('history'))}</h4>
      <ol class="history">${history}</ol>
      <button type="button" id="check-map">${escapeHtml(t('show_on_map'))}</button>
      <p class="help" id="check-map-note" role="status"></p>
    </div>
    <div id="check-follow"></div>`;
  showFollow('check-follow', {
    kind: 'report', feed: reportFeedUrl(report.reference), label: `${t('reference')}: ${report.reference}.`, note: t('follow_report_note'),
  });
  document.getElementById('check-map').addEventListener('click', async () => {
    const note = document.getElementById('check-map-note');
    try {
      const feature = await getJson(`/collections/threats/items/${encodeURIComponent(report.reference)}?f=json`);
      const [lon, lat] = feature.geometry.coordinates;
      showMarker(lon, lat);
      zoomTo(lon, lat, 17);
      note.textContent = '';
    } catch {
      note.textContent = t('not_on_map');
    }
  });
}

export async function checkReference(value) {
  const reference = String(value || '').trim().toUpperCase();
  const error = document.getElementById('err-check');
  const input = document.getElementById('check-ref');
  input.value = reference;
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  document.getElementById('check-result').innerHTML = '';
  last = null;
  const pattern = limitPattern('reference_pattern');
  if (!reference || (pattern && !pattern.test(reference))) {
    error.textContent = t('bad_reference');
    input.setAttribute('aria-invalid', 'true');
    return;
  }
  try {
    last = await getJson(`/reports/${encodeURIComponent(reference)}`);
    render(last);
  } catch (failure) {
    error.textContent = errorText(failure, currentLang()) || t('error_network');
    input.setAttribute('aria-invalid', 'true');
  }
}

export function setupCheck() {
  document.getElementById('check-form').addEventListener('submit', (event) => {
    event.preventDefault();
    checkReference(document.getElementById('check-ref').value);
  });
  const rerender = () => { if (last) render(last); };
  onVocabulary(rerender);
  onLangChange(rerender);
}
