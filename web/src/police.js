// Police panel: sign in with a token, the unit's queue (overdue flagged), open a
// report, change its status with a note; a conflict (409) is said plainly.
import { getJson, execute, errorText, ApiError } from './api.js';
import { t, pick, currentLang, formatDate, onLangChange } from './i18n.js';
import { escapeHtml, showMarker, zoomTo } from './map.js';
import {
  categoryName, statusName, nextStatuses, openStatuses, timeOfDayName, onVocabulary,
} from './vocabulary.js';
import { historyNames } from './history.js';

const PAGE = 50;
// a report held back by the flood guard (queue field `burst`) until it is reviewed
const BURST = {
  pl: { label: 'Fala zgłoszeń', title: 'Jedno z wielu zgłoszeń w tym miejscu w krótkim czasie: ukryte na mapie publicznej do przeglądu.' },
  en: { label: 'Burst', title: 'One of many reports at this place within minutes: hidden from the public map until reviewed.' },
};
const burstBadge = () => {
  const text = BURST[currentLang()] || BURST.pl;
  return ` <span class="badge burst" title="${escapeHtml(text.title)}">${escapeHtml(text.label)}</span>`;
};
let token = null;
let offset = 0;
let queue = null;
let report = null;
let institutions = []; // where the open report's unit may forward it (GET /institutions?unit=)
let message = null; // {kind: 'ok'|'error'|'conflict', text}

function storedToken() {
  try { return sessionStorage.getItem('kmzb-token'); } catch { return null; }
}
function storeToken(value) {
  try { if (value) sessionStorage.setItem('kmzb-token', value); else sessionStorage.removeItem('kmzb-token'); } catch { /* private mode */ }
}

function fail(error) {
  return errorText(error, currentLang()) || t('error_network');
}

function renderQueue() {
  const body = document.querySelector('#police-queue tbody');
  const units = queue.units || [];
  const shown = units.length > 4 ? `${units.slice(0, 3).join(', ')} +${units.length - 3}` : units.join(', ');
  const label = document.getElementById('police-units');
  label.textContent = units.length ? t('units', { units: shown }) : '';
  label.title = units.join(', ');
  const total = queue.numberMatched;
  document.getElementById('police-range').textContent = total
    ? t('range', { first: offset + 1, last: offset + queue.numberReturned, total }) : '';
  document.getElementById('police-prev').disabled = offset === 0;
  document.getElementById('police-next').disabled = offset + queue.numberReturned >= total;
  if (!queue.reports.length) {
    body.innerHTML = `<tr><td colspan="4">${escapeHtml(t('queue_empty'))}</td></tr>`;
    return;
  }
  body.innerHTML = queue.reports.map((r) => `
    <tr class="${r.overdue ? 'overdue' : ''}" data-reference="${escapeHtml(r.reference)}">
      <td class="reference"><button type="button" class="open link" data-reference="${escapeHtml(r.reference)}" aria-label="${escapeHtml(t('open'))} ${escapeHtml(r.reference)}">${escapeHtml(r.reference)}</button></td>
      <td>${escapeHtml(categoryName(r.category))}</td>
      <td>${escapeHtml(statusName(r.status))}${r.overdue ? ` <span class="badge">${escapeHtml(t('overdue'))}</span>` : ''}${r.burst ? burstBadge() : ''}</td>
      <td>${escapeHtml(formatDate(r.created_at))}</td>
    </tr>`).join('');
}

async function loadQueue() {
  const params = new URLSearchParams();
  const status = document.getElementById('police-status').value;
  if (status) params.set('status', status);
  if (document.getElementById('police-overdue').checked) params.set('overdue', 'true');
  params.set('limit', String(PAGE));
  params.set('offset', String(offset));
  const table = document.getElementById('police-queue');
  table.setAttribute('aria-busy', 'true');
  try {
    queue = await getJson(`/police/queue?${params}`, token);
    renderQueue();
  } finally {
    table.setAttribute('aria-busy', 'false');
  }
}

// The statuses this report may move to: the service's answer for it (allowed_transitions,
// codes or {code, name}), else the vocabulary's transitions; [code, name] pairs.
function moves() {
  const allowed = report.allowed_transitions;
  if (Array.isArray(allowed)) {
    return allowed.map((m) => (typeof m === 'string' ? [m, statusName(m)] : [m.code, m.name ? pick(m.name) : statusName(m.code)]));
  }
  return nextStatuses(report.status).map((code) => [code, statusName(code)]);
}

function renderReport() {
  const box = document.getElementById('police-report');
  const next = moves();
  const names = historyNames(report.history);
  const history = report.history.map((h, i) => `
    <li><time datetime="${escapeHtml(h.changed_at)}">${escapeHtml(formatDate(h.changed_at))}</time>:
      ${escapeHtml(names[i].from)} → <strong>${escapeHtml(names[i].to)}</strong>
      ${h.actor ? ` (${escapeHtml(h.actor)}${h.actor_unit ? `, ${escapeHtml(h.actor_unit)}` : ''})` : ''}
      ${h.note ? `<br><span class="note">${escapeHtml(h.note)}</span>${h.note_public ? ` <span class="badge">${escapeHtml(t('note_is_public'))}</span>` : ''}` : ''}</li>`).join('');
  const note = message ? `<p class="message ${message.kind}" role="alert" id="police-message">${message.kind === 'conflict' ? `<strong>${escapeHtml(t('conflict_title'))}</strong> ` : ''}${escapeHtml(message.text)}
      ${message.kind === 'conflict' ? ` <button type="button" id="police-reload">${escapeHtml(t('reload'))}</button>` : ''}</p>` : '';
  box.innerHTML = `
    <div class="card">
      <h3><span class="reference">${escapeHtml(report.reference)}</span> — ${escapeHtml(pick(report.category_name))}</h3>
      <dl>
        <dt>${escapeHtml(t('status'))}</dt><dd id="police-report-status">${escapeHtml(pick(report.status_name))} (${escapeHtml(t('version'))} ${report.version})</dd>
        <dt>${escapeHtml(t('reported'))}</dt><dd>${escapeHtml(formatDate(report.reported_at))}</dd>
        ${report.event_date ? `<dt>${escapeHtml(t('event'))}</dt><dd>${escapeHtml(formatDate(report.event_date))}${report.time_of_day ? `, ${escapeHtml(timeOfDayName(report.time_of_day))}` : ''}</dd>` : ''}
        <dt>${escapeHtml(t('police_unit'))}</dt><dd>${escapeHtml(report.police_unit_name)}</dd>
        <dt>${escapeHtml(t('source'))}</dt><dd>${escapeHtml(t(report.source))}</dd>
        ${report.forwarded_to ? `<dt>${escapeHtml(t('forwarded_to'))}</dt><dd>${escapeHtml(pick(report.forwarded_to_name) || report.forwarded_to)} (${escapeHtml(report.forwarded_to)})</dd>` : ''}
        ${report.description ? `<dt>${escapeHtml(t('description_label'))}</dt><dd class="desc">${escapeHtml(report.description)}</dd>` : ''}
        ${report.address_string ? `<dt>${escapeHtml(t('address_given'))}</dt><dd class="desc">${escapeHtml(report.address_string)}</dd>` : ''}
        ${report.media_url ? `<dt>${escapeHtml(t('media_url_given'))}</dt><dd class="desc"><code>${escapeHtml(report.media_url)}</code> <span class="hint">${escapeHtml(t('media_url_not_fetched'))}</span></dd>` : ''}
        ${report.attachments.length ? `<dt>${escapeHtml(t('attachments_list'))}</dt><dd>${report.attachments.map((a) => `${escapeHtml(a.name)} (${Math.ceil(a.size_bytes / 1024)} kB)`).join(', ')}</dd>` : ''}
      </dl>
      <button type="button" id="police-map" class="secondary">${escapeHtml(t('show_on_map'))}</button>
      <h4>${escapeHtml(t('history'))}</h4>
      <ol class="history">${history}</ol>
      ${note}
      ${next.length ? `<form id="police-review">
        <label for="review-status">${escapeHtml(t('new_status'))}</label>
        <select id="review-status" name="status">${next.map(([code, name]) => `<option value="${escapeHtml(code)}">${escapeHtml(name)}</option>`).join('')}</select>
        <div id="review-forward" hidden><label for="review-forwarded">${escapeHtml(t('forwarded_to'))}</label>
          <select id="review-forwarded" name="forwarded_to">${institutions.length
    ? `<option value="">${escapeHtml(t('choose_institution'))}</option>${institutions.map((i) => `<option value="${escapeHtml(i.code)}">${escapeHtml(pick(i.name))} (${escapeHtml(i.code)})</option>`).join('')}`
    : `<option value="">${escapeHtml(t('no_institutions'))}</option>`}</select></div>
        <label for="review-note">${escapeHtml(t('note'))}</label>
        <textarea id="review-note" name="note" rows="3" maxlength="2000"></textarea>
        <label><input type="checkbox" id="review-public" name="note_public"> ${escapeHtml(t('public_note'))}</label>
        <button type="submit">${escapeHtml(t('change_status'))}</button>
      </form>` : `<p>${escapeHtml(t('no_moves'))}</p>`}
    </div>`;
  box.hidden = false;
  document.getElementById('police-map').addEventListener('click', () => { showMarker(report.lon, report.lat); zoomTo(report.lon, report.lat, 17); });
  document.getElementById('police-reload')?.addEventListener('click', () => { message = null; openReport(report.reference); });
  const form = document.getElementById('police-review');
  if (!form) return;
  const select = form.querySelector('#review-status');
  select.addEventListener('change', () => { form.querySelector('#review-forward').hidden = select.value !== 'forwarded'; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const inputs = { reference: report.reference, status: select.value, version: report.version };
    const noteText = form.querySelector('#review-note').value.trim();
    if (noteText) inputs.note = noteText;
    if (form.querySelector('#review-public').checked) inputs.note_public = true;
    if (select.value === 'forwarded') inputs.forwarded_to = form.querySelector('#review-forwarded').value;
    try {
      const answer = await execute('review-threat', inputs, token);
      message = { kind: 'ok', text: t('status_changed', { status: pick(answer.status_name) }) };
      await openReport(report.reference, true);
      await loadQueue().catch(() => {});
    } catch (error) {
      const details = (error.body?.errors || []).map((e) => e[currentLang()] || e.pl).join(' ');
      message = { kind: error instanceof ApiError && error.status === 409 ? 'conflict' : 'error', text: details || fail(error) };
      renderReport();
      document.getElementById('police-message')?.focus();
    }
  });
}

async function openReport(reference, keepMessage = false) {
  if (!keepMessage) message = null;
  try {
    report = await getJson(`/police/reports/${encodeURIComponent(reference)}`, token);
    institutions = moves().some(([code]) => code === 'forwarded')
      ? (await getJson(`/institutions?unit=${encodeURIComponent(report.police_unit)}`, token)).institutions
      : [];
    renderReport();
    document.getElementById('police-report').focus();
  } catch (error) {
    document.getElementById('err-police').textContent = fail(error);
  }
}

async function signIn(value) {
  const error = document.getElementById('err-police');
  error.textContent = '';
  token = value.trim();
  offset = 0;
  if (!token) { error.textContent = t('token_missing'); return; }
  try {
    await loadQueue();
  } catch (failure) {
    error.textContent = fail(failure);
    token = null;
    storeToken(null);
    return;
  }
  storeToken(token);
  document.getElementById('police-queue-wrap').hidden = false;
  document.getElementById('police-logout').hidden = false;
  showSignedIn();
}

// Who the token says the caller is (the service has checked its signature).
function claims() {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch { return {}; }
}

function showSignedIn() {
  const signed = Boolean(token);
  document.querySelectorAll('#police-login .when-out').forEach((el) => { el.hidden = signed; });
  const who = document.getElementById('police-who');
  const c = signed ? claims() : {};
  who.hidden = !signed;
  who.textContent = signed ? t('signed_in', { role: c.role ? t(`role_${c.role}`) : '?', unit: c.unit || c.institution || '' }) : '';
}

// The queue's status filter: the open statuses, from the vocabulary.
function fillStatusFilter() {
  const select = document.getElementById('police-status');
  const chosen = select.value;
  select.querySelectorAll('option:not([value=""])').forEach((o) => o.remove());
  for (const s of openStatuses()) {
    const option = document.createElement('option');
    option.value = s.code;
    option.textContent = statusName(s.code);
    select.append(option);
  }
  select.value = chosen;
}

export function setupPolice() {
  document.getElementById('police-login').addEventListener('submit', (event) => {
    event.preventDefault();
    signIn(document.getElementById('police-token').value);
  });
  document.getElementById('police-logout').addEventListener('click', () => {
    token = null; queue = null; report = null;
    storeToken(null);
    document.getElementById('police-token').value = '';
    document.getElementById('police-queue-wrap').hidden = true;
    document.getElementById('police-report').hidden = true;
    document.getElementById('police-logout').hidden = true;
    showSignedIn();
  });
  document.getElementById('police-refresh').addEventListener('click', () => loadQueue().catch((e) => { document.getElementById('err-police').textContent = fail(e); }));
  const reload = () => { offset = 0; loadQueue().catch(() => {}); };
  document.getElementById('police-status').addEventListener('change', reload);
  document.getElementById('police-overdue').addEventListener('change', reload);
  document.getElementById('police-prev').addEventListener('click', () => { offset = Math.max(0, offset - PAGE); loadQueue().catch(() => {}); });
  document.getElementById('police-next').addEventListener('click', () => { offset += PAGE; loadQueue().catch(() => {}); });
  document.getElementById('police-open').addEventListener('submit', (event) => {
    event.preventDefault();
    document.getElementById('err-police').textContent = '';
    const reference = document.getElementById('police-ref').value.trim().toUpperCase();
    if (reference) openReport(reference);
  });
  document.querySelector('#police-queue tbody').addEventListener('click', (event) => {
    const button = event.target.closest('button.open');
    if (button) openReport(button.dataset.reference);
  });
  const saved = storedToken();
  if (saved) { document.getElementById('police-token').value = saved; signIn(saved); }
  const rerender = () => {
    fillStatusFilter();
    if (queue) renderQueue();
    if (report) renderReport();
  };
  onVocabulary(rerender);
  onLangChange(() => {
    rerender();
    if (token) showSignedIn();
  });
}
