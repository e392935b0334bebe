// Calls to the service (same origin). Errors carry the service's answer.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.description || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function parse(response) {
  const type = response.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export async function getJson(url, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return parse(await fetch(url, { headers }));
}

export async function execute(process, inputs, token) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`/processes/${process}/execution`, {
    method: 'POST', headers, body: JSON.stringify({ inputs }),
  });
  return parse(response);
}

// The message of an error in the current language: the service sends
// "message": {"pl": ..., "en": ...} beside the OGC "description" (English).
export function errorText(error, lang) {
  if (!(error instanceof ApiError)) return null;
  const message = error.body?.message;
  if (message && typeof message === 'object') {
    const text = message[lang] || message.en || message.pl;
    if (typeof text === 'string' && text) return text;
  }
  return error.body?.description || null;
}
