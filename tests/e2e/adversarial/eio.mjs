// Raw Engine.IO v4 / Socket.IO v5 over HTTP long-polling, with node's http module only, so a
// test can open thousands of sessions from a chosen loopback address (127.0.0.2 and up all
// reach a server listening on 127.0.0.1) without a client library in the way.

import fs from 'node:fs';
import http from 'node:http';

export function request(base, method, path, { body, agent, localAddress, timeoutMs = 10000 } = {}) {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent,
        localAddress,
        headers: body !== undefined ? { 'content-type': 'text/plain;charset=UTF-8' } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// A polling handshake: {status, sid?}.
export async function handshake(base, opts = {}) {
  const r = await request(base, 'GET', '/socket.io/?EIO=4&transport=polling', opts);
  if (r.status !== 200) return { status: r.status, retryAfter: r.headers['retry-after'] };
  return { status: 200, sid: JSON.parse(r.text.slice(1)).sid };
}

// A whole Socket.IO connection over polling: handshake, CONNECT to "/", and the server's
// CONNECT reply. Resolves {status, packet} (packet: "40{...}" when connected).
export async function connectSocketIo(base, { auth, localAddress, timeoutMs = 5000 } = {}) {
  const started = Date.now();
  const h = await handshake(base, { localAddress, timeoutMs });
  if (h.status !== 200) return { status: h.status, ms: Date.now() - started };
  const q = `/socket.io/?EIO=4&transport=polling&sid=${h.sid}`;
  const post = await request(base, 'POST', q, { body: auth ? `40${JSON.stringify(auth)}` : '40', localAddress, timeoutMs });
  if (post.status !== 200) return { status: post.status, ms: Date.now() - started };
  const get = await request(base, 'GET', q, { localAddress, timeoutMs });
  const packet = get.text.split('\x1e').find((p) => p.startsWith('40') || p.startsWith('44'));
  return { status: get.status, packet, sid: h.sid, ms: Date.now() - started };
}

// `total` handshakes from `localAddress`, `concurrency` at a time over keep-alive
// connections. Resolves the count of each status.
export async function flood(base, { total, concurrency = 32, localAddress = '127.0.0.2' }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const counts = {};
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next += 1;
      let status;
      try {
        status = (await handshake(base, { agent, localAddress })).status;
      } catch {
        status = 'error';
      }
      counts[status] = (counts[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return counts;
}

// Resident, peak resident and anonymous resident memory of a process, in MB (Linux /proc).
export function memoryMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024 };
}

// One value of the server's /metrics.
export async function metric(base, name) {
  const r = await request(base, 'GET', '/metrics');
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text);
  return m ? Number(m[1]) : undefined;
}
