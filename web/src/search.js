// Place search: territorial units from the API and GeoNames places, via /places.
import { getJson, errorText } from './api.js';
import { t, pick, currentLang } from './i18n.js';
import { escapeHtml, zoomTo, fitBox } from './map.js';

const listeners = [];
export function onPlaceChosen(fn) { listeners.push(fn); }

function describe(result) {
  if (result.kind === 'unit') {
    const level = pick(result.level_name);
    const name = result.name.startsWith('powiat ') ? result.name : `${result.name} (${level})`;
    return { name, detail: `${result.region ? `${result.region}, ` : ''}TERYT ${result.teryt}` };
  }
  return { name: result.name, detail: `${result.region}${result.region ? ', ' : ''}GeoNames` };
}

export function setupSearch() {
  const form = document.getElementById('search');
  const input = document.getElementById('search-q');
  const list = document.getElementById('search-results');
  let results = [];

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    list.innerHTML = '';
    if (q.length < 2) { list.innerHTML = `<li class="muted">${escapeHtml(t('search_short'))}</li>`; return; }
    try {
      results = (await getJson(`/places?${new URLSearchParams({ q, limit: '8' })}`)).results;
    } catch (error) {
      list.innerHTML = `<li class="error">${escapeHtml(errorText(error, currentLang()) || t('error_network'))}</li>`;
      return;
    }
    if (!results.length) { list.innerHTML = `<li class="muted">${escapeHtml(t('search_none'))}</li>`; return; }
    list.innerHTML = results.map((r, i) => {
      const { name, detail } = describe(r);
      return `<li><button type="button" class="result" data-index="${i}"><span class="name">${escapeHtml(name)}</span> <span class="detail">${escapeHtml(detail)}</span></button></li>`;
    }).join('');
    list.querySelector('button')?.focus();
  });

  list.addEventListener('click', (event) => {
    const button = event.target.closest('button.result');
    if (!button) return;
    const result = results[Number(button.dataset.index)];
    list.innerHTML = '';
    input.value = describe(result).name;
    if (result.bbox) fitBox(result.bbox); else zoomTo(result.lon, result.lat, 14);
    listeners.forEach((fn) => fn(result));
  });
  list.addEventListener('keydown', (event) => {
    const buttons = [...list.querySelectorAll('button.result')];
    const index = buttons.indexOf(document.activeElement);
    if (event.key === 'ArrowDown' && index >= 0) { event.preventDefault(); buttons[Math.min(index + 1, buttons.length - 1)].focus(); }
    if (event.key === 'ArrowUp' && index >= 0) { event.preventDefault(); (index === 0 ? input : buttons[index - 1]).focus(); }
    if (event.key === 'Escape') { list.innerHTML = ''; input.focus(); }
  });
}
