// HTTP helpers for end-to-end tests: JSON requests with a timeout, and a raw request for
// oversized bodies (where the server may answer 413 and close before reading it all).

import net from 'node:net';

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

// Sends a request over a plain TCP socket (as curl does: the response is read while the body
// is still being written) with `headers` and `bodyBytes` bytes of 'x' in 64 KiB chunks,
// stopping the upload once a response arrives or a write fails. Resolves
// {status, headers, text, written} once the response is complete (Content-Length) or the
// server closed; rejects if no status line came within timeoutMs. With end: false the body
// is left short of its Content-Length (to test a declared length that is never sent).
export function rawRequest(base, method, path, { headers = {}, bodyBytes = 0, end = true, timeoutMs = kHttpTimeoutMs } = {}) {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    let written = 0;
    let done = false;
    let received = Buffer.alloc(0);
    let writeError = null;
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    const parse = () => {
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return null;
      const lines = received.subarray(0, headEnd).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) return null;
      const hdrs = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) hdrs[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const body = received.subarray(headEnd + 4);
      const length = hdrs['content-length'] !== undefined ? Number(hdrs['content-length']) : null;
      return { status: Number(m[1]), headers: hdrs, body, complete: length !== null && body.length >= length, length };
    };
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      fn(value);
    };
    const settle = (closed) => {
      const r = parse();
      if (r && (r.complete || closed)) {
        const text = r.body.subarray(0, r.length ?? r.body.length).toString('utf8');
        finish(resolve, { status: r.status, headers: r.headers, text, written });
      } else if (closed) {
        finish(reject, new Error(`${method} ${path}: connection closed with no response ` +
          `(${written} bytes written${writeError ? `, ${writeError}` : ''})`));
      }
    };
    const timer = setTimeout(() => {
      finish(reject, new Error(`no response to ${method} ${path} within ${timeoutMs} ms (${written} bytes written)`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      settle(false);
    });
    socket.on('end', () => settle(true));
    socket.on('close', () => settle(true));
    socket.on('error', (err) => {
      writeError = err.code || err.message; // EPIPE/ECONNRESET: keep what was read
    });
    socket.on('connect', () => {
      const head = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
      for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
      socket.write(head.join('\r\n') + '\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!done && !writeError && !parse() && written < bodyBytes) {
          const n = Math.min(chunk.length, bodyBytes - written);
          written += n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        if (!done && end && written >= bodyBytes) socket.end();
      };
      pump();
    });
  });
}
