// REST client for the Parley HTTP API with the token hook: when a call answers 401, the
// user is asked for a token once (concurrent calls share the prompt), and every later call
// sends `Authorization: Bearer <token>`. The token lives in sessionStorage (this tab only).

import { promptToken } from './ui.js';

const TOKEN_KEY = 'parley.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be disabled; the token then lasts until the page closes.
  }
}

let tokenPrompt = null;

/**
 * Asks the user for a token (one dialog at a time; concurrent callers share it).
 * Resolves with the token (also stored) or null if cancelled.
 */
export function requestToken(reason) {
  if (!tokenPrompt) {
    tokenPrompt = promptToken(reason).then((token) => {
      tokenPrompt = null;
      if (token) setToken(token);
      return token;
    });
  }
  return tokenPrompt;
}

/** Headers for a request, with Authorization when a token is known. */
export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/**
 * Calls the API. `body` (if any) is sent as JSON. Resolves with the parsed JSON body (null for
 * 204 / empty), or the Response itself when `raw` is set. Rejects with ApiError for statuses
 * that are not ok (except those listed in `accept`).
 */
export async function api(path, { method = 'GET', body, raw = false, accept = [] } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = authHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' });
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && attempt < 3) {
      const reason = getToken()
        ? 'The token was not accepted. Enter a valid access token.'
        : 'This server requires an access token.';
      setToken(null);
      const token = await requestToken(reason);
      if (!token) throw new ApiError(401, 'unauthorized', 'An access token is required');
      continue;
    }
    if (!res.ok && !accept.includes(res.status)) {
      let code = '';
      let message = `${res.status} ${res.statusText}`;
      try {
        const data = await res.json();
        if (data && data.error) {
          code = data.error.code || '';
          message = data.error.message || message;
        }
      } catch {
        // Not JSON; keep the status line.
      }
      throw new ApiError(res.status, code, message);
    }
    if (raw) return res;
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }
}

/** Encodes one path segment (ids may hold any character). */
export const seg = (id) => encodeURIComponent(String(id));
