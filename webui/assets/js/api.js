// api.js: REST calls to our own node. After login every call is authenticated by the
// HttpOnly session cookie (the browser sends it; scripts never see it); state-changing calls
// carry the CSRF header, which a page of another origin cannot send without a CORS preflight
// the node never answers.

export const CSRF_HEADER = 'X-Petrel-CSRF';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(sentence(status, code, message));
    this.status = status;
    this.code = code;
    this.raw = message;
  }
}

// What to tell a person when the node gives no sentence of its own (or only a status).
const BY_CODE = {
  offline: 'Your node cannot be reached. Check that petrel is still running, then try again.',
  unauthorized: 'This browser is not logged in to your node any more. Open the link printed by petrel run.',
  forbidden: 'You are not allowed to do that here.',
  not_found: 'That is not there any more — it may have been deleted.',
  bad_request: 'Your node did not accept that. Check what you entered and try again.',
  too_large: 'That is too large to send.',
  conflict: 'That cannot be done now: something changed meanwhile. Reload and try again.',
  rate_limited: 'Too many requests at once. Wait a moment and try again.',
  internal: 'Something went wrong inside your node. Its log says more.',
  unavailable: 'Your node is busy starting or stopping. Try again in a moment.',
  not_implemented: 'Your node does not support this yet.',
};

// sentence turns an API error into a sentence for people: the node's own message (which
// docs/API.md promises is written for people) with a capital and a full stop, else one
// chosen by the error code — never a bare code or HTTP status.
export function sentence(status, code, message) {
  let m = String(message || '').trim();
  if (!m || /^[a-z_]+$/.test(m) || m === code || /^(Bad Request|Forbidden|Not Found|Conflict|Internal Server Error|Unauthorized)$/i.test(m)) {
    m = BY_CODE[code] || (status >= 500 ? BY_CODE.internal : 'That did not work. Try again.');
  }
  // A Go error chain in parentheses ("(invite: malformed link: …)") is for the node's log,
  // not for people.
  m = m.replace(/\s*\((?:[a-z0-9_./-]+: )+[^()]*\)\s*\.?$/i, '') || BY_CODE[code] || 'That did not work. Try again.';
  m = m[0].toUpperCase() + m.slice(1);
  if (!/[.!?…]$/.test(m)) m += '.';
  return m;
}

export class Api {
  constructor() {
    this.onUnauthorized = () => {};
  }

  // login trades the token from the link for the session cookie. The token lives only in the
  // caller's local variable: never in storage, never in the URL after boot.
  async login(token) {
    let res;
    try {
      res = await fetch('/v1/session', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + token },
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'offline', '');
    }
    if (!res.ok) throw new ApiError(res.status, 'unauthorized', 'This login link is not valid (any more).');
  }

  async logout() {
    await this.request('DELETE', '/v1/session');
  }

  async request(method, path, body) {
    const headers = {};
    if (method !== 'GET' && method !== 'HEAD') headers[CSRF_HEADER] = '1';
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'offline', '');
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const e = (data && data.error) || {};
      if (res.status === 401) this.onUnauthorized();
      throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText);
    }
    return data;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body === undefined ? {} : body); }
  patch(path, body) { return this.request('PATCH', path, body); }
  put(path, body) { return this.request('PUT', path, body); }
  del(path) { return this.request('DELETE', path); }
}

// q encodes a path segment or query value.
export const q = encodeURIComponent;
