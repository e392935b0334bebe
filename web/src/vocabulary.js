// The product's vocabulary, as the service publishes it (GET /vocabulary, read from the
// database): statuses (names, colours, transitions), categories (names, pictograms,
// rules), times of day and the limits of a report. Fetched once at start-up, before the
// map draws a report; the page keeps no copy of any of it.
import { pick } from './i18n.js';

const vocabulary = {
  statuses: [], categories: [], times_of_day: [], limits: {},
};
const byCode = { statuses: {}, categories: {}, times_of_day: {} };
let loaded = false;
const listeners = [];

// `fn` runs once the vocabulary is in (at once when it already is).
export function onVocabulary(fn) {
  if (loaded) fn(); else listeners.push(fn);
}

const RETRY_MS = 3000;

// Resolves once the vocabulary is in; retries (after `onFailure(error)`) until it is.
export async function loadVocabulary(onFailure = () => {}) {
  for (;;) {
    try {
      const response = await fetch('/vocabulary', { headers: { Accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const answer = await response.json();
      Object.assign(vocabulary, answer);
      for (const key of Object.keys(byCode)) {
        byCode[key] = Object.fromEntries((answer[key] || []).map((entry) => [entry.code, entry]));
      }
      loaded = true;
      listeners.splice(0).forEach((fn) => fn());
      return vocabulary;
    } catch (error) {
      onFailure(error);
      await new Promise((resolve) => { setTimeout(resolve, RETRY_MS); });
    }
  }
}

export function vocabularyLoaded() { return loaded; }

const sorted = (list) => [...list].sort((a, b) => (a.sort_order ?? 0) - (b.sort_order ?? 0));

// --- statuses ------------------------------------------------------------------------
function statuses() { return sorted(vocabulary.statuses); }
function status(code) { return byCode.statuses[code] || null; }
// The status's name in the current language; its code when the vocabulary lacks it.
export function statusName(code) { return status(code) ? pick(status(code).name) : String(code ?? ''); }
// {fill, outline, text}: what the map, the legend and the pictograms draw.
const UNKNOWN = { fill: 'rgba(0, 0, 0, 0.5)', outline: 'rgba(255, 255, 255, 0.9)', text: 'rgba(255, 255, 255, 1)' };
export function statusColours(code) {
  const s = status(code);
  if (!s) return UNKNOWN;
  return { fill: s.colour, outline: s.outline, text: s.text_colour };
}
// Where a report in this status may go next, by the vocabulary's transitions.
export function nextStatuses(code) { return [...(status(code)?.next || [])]; }
export function openStatuses() { return statuses().filter((s) => s.is_open); }
export function publicStatuses() { return statuses().filter((s) => s.is_public); }

// --- categories ----------------------------------------------------------------------
export function categories() { return sorted(vocabulary.categories); }
function category(code) { return byCode.categories[code] || null; }
export function categoryName(code, fallback) {
  const c = category(code);
  return c ? pick(c.name) : (pick(fallback) || String(code ?? ''));
}
// The categories a citizen may see on the public map (the rest are never shown there).
export function publicCategories() { return categories().filter((c) => c.public_rule !== 'never'); }
// The pictogram of a category, as the page serves it (web/src/pictograms, one per stem).
export function pictogramUrl(code) {
  const c = category(code);
  return c?.pictogram ? `pictograms/${encodeURIComponent(c.pictogram)}.svg` : null;
}

// --- times of day ----------------------------------------------------------------------
export function timesOfDay() { return [...vocabulary.times_of_day]; }
export function timeOfDayName(code) {
  const entry = byCode.times_of_day[code];
  return entry ? pick(entry.name) : String(code ?? '');
}

// --- limits ------------------------------------------------------------------------------
export function limits() { return { ...vocabulary.limits }; }
// The limit's pattern as a JavaScript RegExp (null when absent or not valid here).
export function limitPattern(name) {
  const source = vocabulary.limits[name];
  if (!source) return null;
  try { return new RegExp(source); } catch { return null; }
}
