// "Obserwuj ten obszar / Follow this area" and "Obserwuj zgłoszenie / Follow this report":
// no account and no e-mail; the page hands out the Atom feed's address (copied to the
// clipboard) and, for an area, the MQTT topic to subscribe to on the public broker.
import { t, onLangChange } from './i18n.js';
import { escapeHtml, viewBoxLonLat } from './map.js';

const renders = new Map(); // container id -> () => void, redrawn on language or broker change
let broker = null; // the public broker URL (mqtt:// or mqtts://), when the service names it

const MQTT_URL = /^(mqtts?):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?/i;

// The broker from the landing page's Pub/Sub link (rel "hub", mqtt:// or mqtts://), else
// from the servers of the AsyncAPI document the landing page links to; null when the
// service advertises neither (nothing is asked that the service does not offer).
async function findBroker() {
  let links = [];
  try {
    const response = await fetch('/?f=json', { headers: { Accept: 'application/json' } });
    if (response.ok) links = (await response.json()).links || [];
  } catch { return null; }
  const hub = links.find((l) => MQTT_URL.test(l.href || ''));
  if (hub) return hub.href;
  const asyncapi = links.find((l) => l.type === 'application/asyncapi+json');
  if (!asyncapi) return null;
  try {
    const where = new URL(asyncapi.href, window.location.origin); // on this origin (the CSP)
    const response = await fetch(`${where.pathname}${where.search}`, { headers: { Accept: 'application/json' } });
    if (!response.ok) return null;
    const doc = await response.json();
    for (const server of Object.values(doc.servers || {})) {
      const protocol = String(server.protocol || '').toLowerCase();
      if ((protocol === 'mqtt' || protocol === 'mqtts') && server.host) return `${protocol}://${server.host}`;
      if (MQTT_URL.test(server.url || '')) return server.url;
    }
  } catch { /* no readable AsyncAPI document */ }
  return null;
}

// kmzb/threats/{województwo}/{powiat}/{gmina}/# from a 7-digit gmina or 4-digit powiat TERYT
export function topicFor(teryt) {
  const code = String(teryt || '');
  if (/^\d{7}$/.test(code)) return `kmzb/threats/${code.slice(0, 2)}/${code.slice(0, 4)}/${code}/#`;
  if (/^\d{4}$/.test(code)) return `kmzb/threats/${code.slice(0, 2)}/${code}/#`;
  if (/^\d{2}$/.test(code)) return `kmzb/threats/${code}/#`;
  return null;
}

export function areaFeedUrl(params) {
  return `${window.location.origin}/feeds/threats.atom?${new URLSearchParams(params)}`;
}

export function reportFeedUrl(reference) {
  return `${window.location.origin}/reports/${encodeURIComponent(reference)}/feed.atom`;
}

function subscribeCommand(topic) {
  const match = broker && MQTT_URL.exec(broker);
  if (!match) return `mosquitto_sub -h <broker> -t '${topic}' -v`;
  const [, scheme, host, port] = match;
  const secure = scheme.toLowerCase() === 'mqtts';
  const bare = host.replace(/^\[|\]$/g, '');
  return `mosquitto_sub -h ${bare} -p ${port || (secure ? 8883 : 1883)}${secure ? ' --capath /etc/ssl/certs' : ''} -t '${topic}' -v`;
}

// Draws the follow block into the container; what = { kind: 'area'|'report', feed, topic?, label }.
// Nothing (the container emptied) when what is null.
export function showFollow(containerId, what) {
  const box = document.getElementById(containerId);
  if (!box) return;
  if (!what) {
    renders.delete(containerId);
    box.innerHTML = '';
    return;
  }
  const draw = () => {
    const id = containerId;
    const title = what.kind === 'report' ? t('follow_report') : t('follow_area');
    const topic = what.topic ? `
      <label for="${id}-topic">${escapeHtml(t('follow_topic'))}</label>
      <input id="${id}-topic" class="follow-topic" readonly value="${escapeHtml(what.topic)}">
      <p class="help">${broker
        ? `${escapeHtml(t('follow_broker'))} <code class="follow-broker">${escapeHtml(broker)}</code>`
        : escapeHtml(t('follow_broker_unknown'))}</p>
      <label for="${id}-cmd">${escapeHtml(t('follow_command'))}</label>
      <textarea id="${id}-cmd" class="follow-command" readonly rows="2" spellcheck="false">${escapeHtml(subscribeCommand(what.topic))}</textarea>`
      : `<p class="help">${escapeHtml(what.note || '')}</p>`;
    box.innerHTML = `
      <section class="follow card" aria-labelledby="${id}-title">
        <h3 id="${id}-title">${escapeHtml(title)}</h3>
        <p class="help">${escapeHtml(what.label || '')} ${escapeHtml(t(what.topic ? 'follow_no_account' : 'follow_no_account_feed'))}</p>
        <label for="${id}-feed">${escapeHtml(t('follow_feed'))}</label>
        <input id="${id}-feed" class="follow-feed" readonly value="${escapeHtml(what.feed)}">
        <p class="row"><button type="button" class="follow-copy" data-copy="${id}-feed" data-status="${id}-status">${escapeHtml(t('follow_copy'))}</button>
          <a class="follow-open" href="${escapeHtml(what.feed)}" type="application/atom+xml">${escapeHtml(t('follow_open'))}</a></p>
        <p class="help follow-status" id="${id}-status" role="status" aria-live="polite"></p>
        ${topic}
      </section>`;
  };
  renders.set(containerId, draw);
  draw();
}

async function copy(button) {
  const input = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  if (!input || !status) return;
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = t('follow_copied');
    status.dataset.state = 'copied';
  } catch {
    // no clipboard (an insecure origin, a refusal): select it for a manual copy
    input.focus();
    input.select();
    status.textContent = t('follow_copy_manual');
    status.dataset.state = 'manual';
  }
}

// the map's view, rounded outwards to 0.001° (about 100 m), clipped to the world
export function viewBbox() {
  const [w, s, e, n] = viewBoxLonLat();
  const down = (v, lo) => Math.max(lo, Math.floor(v * 1000) / 1000);
  const up = (v, hi) => Math.min(hi, Math.ceil(v * 1000) / 1000);
  return [down(w, -180), down(s, -90), up(e, 180), up(n, 90)].map((v) => v.toFixed(3)).join(',');
}

export function setupFollow() {
  document.getElementById('map-follow-button')?.addEventListener('click', () => {
    const bbox = viewBbox();
    showFollow('map-follow', {
      kind: 'area', feed: areaFeedUrl({ bbox }), label: t('follow_view_label', { bbox }), note: t('follow_view_note'),
    });
  });
  document.addEventListener('click', (event) => {
    const button = event.target.closest('button.follow-copy');
    if (button) copy(button);
  });
  // a read-only field selects all of itself when focused, for a manual copy
  document.addEventListener('focusin', (event) => {
    if (event.target.matches?.('.follow [readonly]')) event.target.select();
  });
  const redraw = () => renders.forEach((draw) => draw());
  onLangChange(redraw);
  findBroker().then((url) => {
    broker = url;
    document.body.dataset.broker = url ? 'known' : 'unknown';
    redraw();
  });
}
