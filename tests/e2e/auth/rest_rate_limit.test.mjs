// REST rate limits end to end: a token bucket per client on /api/ (the token's user, else the
// peer address), 429 with a JSON `rate_limited` error and Retry-After; on by default in token
// mode, off in open mode unless configured. Each test starts its own server.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';

import { api } from '../lib/http.mjs';
import { sleep, startServer } from '../lib/server.mjs';

const SECRET = 'e2e-rest-limit-secret-0123456789-abcdef';
const ADMIN = 'e2e-rest-limit-admin-0123456789';

function sign(claims) {
  const now = Math.floor(Date.now() / 1000);
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ exp: now + 3600, ...claims })).toString('base64url');
  const input = `${head}.${body}`;
  return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const bearer = (token) => ({ headers: { authorization: `Bearer ${token}` } });

async function withServer(env, fn) {
  const server = await startServer({ env });
  try {
    await fn(server);
  } finally {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
}

function assertLimited(r) {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json?.error?.code, 'rate_limited', r.text);
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After ${r.headers.get('retry-after')}`);
  return retry;
}

test('token mode: per-user buckets, 429 rate_limited with Retry-After, then usable again', async () => {
  await withServer(
    { AUTH_MODE: 'token', JWT_SECRET: SECRET, ADMIN_TOKEN: ADMIN, REST_RATE_LIMIT_PER_S: '0.25', REST_RATE_LIMIT_BURST: '3' },
    async (server) => {
      const alice = bearer(sign({ sub: 'alice' }));
      for (let i = 0; i < 3; i++) {
        assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, alice)).status, 200, `call ${i}`);
      }
      const retry = assertLimited(await api(server.url, 'GET', '/api/conversations', undefined, alice));
      // A fresh token of the same user shares the user's bucket.
      assertLimited(await api(server.url, 'GET', '/api/conversations', undefined, bearer(sign({ sub: 'alice', name: 'A' }))));
      // Another user, and the admin, have buckets of their own.
      assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, bearer(sign({ sub: 'bob' })))).status, 200);
      assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, bearer(ADMIN))).status, 200);
      // /health and /metrics are not metered.
      for (let i = 0; i < 10; i++) assert.equal((await api(server.url, 'GET', '/health')).status, 200);
      const metrics = await api(server.url, 'GET', '/metrics');
      assert.match(metrics.text, /parley_rest_rate_limited_total 2/);

      await sleep(retry * 1000 + 100);
      assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, alice)).status, 200);
    },
  );
});

test('token mode: calls without a valid token are metered by address (token guessing)', async () => {
  await withServer(
    { AUTH_MODE: 'token', JWT_SECRET: SECRET, REST_RATE_LIMIT_PER_S: '0.1', REST_RATE_LIMIT_BURST: '4' },
    async (server) => {
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const r = await api(server.url, 'GET', '/api/conversations', undefined, i % 2 ? bearer(`guess-${i}`) : {});
        statuses.push(r.status);
        if (r.status === 429) assertLimited(r);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
      // A valid token is a client of its own.
      assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, bearer(sign({ sub: 'carol' })))).status, 200);
    },
  );
});

test('token mode limits REST by default; open mode does not unless configured', async () => {
  await withServer({ AUTH_MODE: 'token', JWT_SECRET: SECRET }, async (server) => {
    const dave = bearer(sign({ sub: 'dave' }));
    const statuses = [];
    for (let i = 0; i < 200; i++) statuses.push((await api(server.url, 'GET', '/api/conversations', undefined, dave)).status);
    const limited = statuses.filter((s) => s === 429).length;
    // Default: bursts of 100 at 20/s. The first 100 pass; 200 calls in a few seconds at
    // most leave some over.
    assert.ok(statuses.slice(0, 100).every((s) => s === 200), 'the burst passes');
    assert.ok(limited >= 1, `${limited} of 200 limited`);
  });
  await withServer({}, async (server) => {
    for (let i = 0; i < 200; i++) {
      assert.equal((await api(server.url, 'GET', '/api/conversations')).status, 200, 'open mode: off by default');
    }
  });
  await withServer({ REST_RATE_LIMIT_PER_S: '0.1', REST_RATE_LIMIT_BURST: '2' }, async (server) => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await api(server.url, 'GET', '/api/conversations')).status);
    assert.deepEqual(statuses, [200, 200, 429], 'open mode, configured: per address');
  });
});
