// The names of a report's status changes, as the service sends them: each change's
// `to_name`; the status it left is the one the change before it entered (the
// vocabulary's name for the first, which has none before it).
import { pick } from './i18n.js';
import { statusName } from './vocabulary.js';

export function historyNames(history) {
  return history.map((h, i) => {
    const before = i > 0 && history[i - 1].to === h.from ? history[i - 1].to_name : null;
    return {
      from: h.from ? (before ? pick(before) : statusName(h.from)) : '—',
      to: h.to_name ? pick(h.to_name) : statusName(h.to),
    };
  });
}
