// HTTP helpers for end-to-end tests: JSON requests with a timeout, and a raw request for
// oversized bodies (where the server may answer 413 and close before reading it all).

import http from 'node:http';

export const kHttpTimeoutMs = 10000;

// fetch(base + path) with a JSON body (when `body` is not undefined) and a timeout.
// Resolves {status, headers, text, json} (json is undefined when the body is not JSON).
export async function api(base, method, path, body, { headers = {}, timeoutMs = kHttpTimeoutMs } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!init.headers['content-type']) init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json;
  try {
    json = text.length ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// Sends a request with `headers` and writes `bodyBytes` bytes of 'x' in 64 KiB chunks,
// stopping early once a response arrives or the server closes. Resolves
// {status, headers, text, written} or rejects if no response came within timeoutMs.
// With end: false the request is left open after the body (to test a declared Content-Length
// that is never sent).
export function rawRequest(base, method, path, { headers = {}, bodyBytes = 0, end = true, timeoutMs = kHttpTimeoutMs } = {}) {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    let written = 0;
    let done = false;
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      fn(value);
    };
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method,
      headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(reject, new Error(`no response to ${method} ${path} within ${timeoutMs} ms (${written} bytes written)`));
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      const complete = () =>
        finish(resolve, {
          status: res.statusCode,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
          written,
        });
      res.on('end', complete);
      res.on('error', complete);
      res.on('close', complete);
    });
    // The server may close the connection after its 413: that is fine if a response came.
    req.on('error', (err) => {
      setTimeout(() => finish(reject, new Error(`${method} ${path}: ${err.code || err.message} with no response (${written} bytes written)`)), 200);
    });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!done && written < bodyBytes) {
        const n = Math.min(chunk.length, bodyBytes - written);
        written += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!done && written >= bodyBytes && end) req.end();
    };
    pump();
  });
}
