// api.js: REST calls to our own node. After login every call is authenticated by the
// HttpOnly session cookie (the browser sends it; scripts never see it); state-changing calls
// carry the CSRF header, which a page of another origin cannot send without a CORS preflight
// the node never answers.

export const CSRF_HEADER = 'X-Petrel-CSRF';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
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
      throw new ApiError(0, 'offline', 'The node cannot be reached.');
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
      throw new ApiError(0, 'offline', 'The node cannot be reached.');
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
