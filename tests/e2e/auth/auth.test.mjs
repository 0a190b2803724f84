// Token mode end to end: the real binary with AUTH_MODE=token, JWTs signed here with node's
// crypto (HS256), ADMIN_TOKEN for REST administration, ALLOWED_ORIGINS and a small rate
// limit. Every rule is checked from the outside, including the refusals.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, afterEach, before, test } from 'node:test';
import WebSocket from 'ws';

import { api, rawRequest } from '../lib/http.mjs';
import { sleep, startServer } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';

const SECRET = 'e2e-secret-0123456789-abcdefghijklmnop';
const ADMIN = 'e2e-admin-token-0123456789';
const GOOD_ORIGIN = 'https://chat.example.test';

let server;
const clients = [];

before(async () => {
  server = await startServer({
    env: {
      AUTH_MODE: 'token',
      JWT_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      ALLOWED_ORIGINS: `${GOOD_ORIGIN}, https://other.example.test`,
      RATE_LIMIT_PER_S: '5',
      RATE_LIMIT_BURST: '10',
      JWT_LEEWAY_S: '0',
    },
  });
});

after(async () => {
  if (server) {
    const logs = server.logs();
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    // Privacy: neither tokens nor message content reach the log.
    assert.ok(!logs.includes(SECRET), 'the secret is not logged');
    assert.ok(!logs.includes('eyJ'), 'no token is logged');
    assert.ok(!logs.includes('top secret words'), 'no message content is logged');
  }
});

afterEach(() => {
  for (const c of clients.splice(0)) c.ws.terminate();
});

let counter = 0;
const uid = (p) => `${p}-${process.pid.toString(36)}${Date.now().toString(36)}-${++counter}`;

const b64url = (data) => Buffer.from(data).toString('base64url');

function sign(claims, { secret = SECRET, alg = 'HS256', header = {} } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg, typ: 'JWT', ...header }));
  const body = b64url(JSON.stringify({ exp: now + 3600, ...claims }));
  const input = `${head}.${body}`;
  if (alg === 'none') return `${input}.`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function connect(opts = {}, path = '/ws') {
  const c = await WsClient.connect(WebSocket, server.wsUrl.replace('/ws', path), opts);
  clients.push(c);
  return c;
}

async function login(user, claims = {}) {
  const c = await connect();
  const ok = await c.request({ op: 'auth', token: sign({ sub: user, ...claims }) });
  assert.equal(ok.type, 'ok', JSON.stringify(ok));
  return c;
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

async function refusedThenClosed(c, reply) {
  assert.equal(reply.type, 'error');
  assert.equal(reply.code, 'unauthorized');
  await Promise.race([c.closePromise, sleep(3000)]);
  assert.equal(c.closed?.code, 1008, 'the connection is closed with 1008');
}

test('a valid token authenticates with the claims as the user', async () => {
  const c = await connect();
  const ok = await c.request({ op: 'auth', token: sign({ sub: 'alice', name: 'Alice', role: 'wizard' }) });
  assert.equal(ok.type, 'ok');
  assert.deepEqual({ id: ok.user.id, name: ok.user.name, role: ok.user.role }, { id: 'alice', name: 'Alice', role: 'wizard' });
  const conv = uid('c');
  assert.equal((await c.request({ op: 'join', conversation: conv })).type, 'history');
  assert.equal((await c.request({ op: 'send', conversation: conv, content: 'top secret words' })).type, 'ack');
});

test('wrong key, expired, not yet valid, alg none, garbage: unauthorized and closed', async () => {
  const now = Math.floor(Date.now() / 1000);
  const bad = [
    sign({ sub: 'alice' }, { secret: 'not-the-secret' }),
    sign({ sub: 'alice', exp: now - 60 }),
    sign({ sub: 'alice', nbf: now + 600 }),
    sign({ sub: 'alice' }, { alg: 'none' }),
    sign({ sub: 'alice' }, { alg: 'HS512' }),
    'not.a.token',
    '',
  ];
  for (const token of bad) {
    const c = await connect();
    const reply = await c.request({ op: 'auth', token });
    await refusedThenClosed(c, reply);
  }
});

test('open-mode identities are refused in token mode', async () => {
  const c = await connect();
  await refusedThenClosed(c, await c.request({ op: 'auth', user: 'alice', role: 'admin' }));
  const d = await connect();
  const r = await d.request({ op: 'join', conversation: uid('c') });
  assert.equal(r.code, 'unauthorized');
});

test('?token= and Authorization: Bearer on the upgrade authenticate', async () => {
  const viaQuery = await connect({}, `/ws?token=${sign({ sub: 'qq' })}`);
  const ok1 = await viaQuery.next((m) => m.type === 'ok');
  assert.equal(ok1.user.id, 'qq');
  const viaHeader = await connect({ options: { headers: bearer(sign({ sub: 'hh' })) } });
  const ok2 = await viaHeader.next((m) => m.type === 'ok');
  assert.equal(ok2.user.id, 'hh');
  assert.equal((await viaHeader.request({ op: 'join', conversation: uid('c') })).type, 'history');
  const badQuery = await connect({}, `/ws?token=${sign({ sub: 'x' }, { secret: 'nope' })}`);
  const err = await badQuery.next((m) => m.type === 'error');
  await refusedThenClosed(badQuery, err);
});

test('a connection whose token expires is told and closed', async () => {
  const c = await connect();
  const exp = Math.floor(Date.now() / 1000) + 2;
  assert.equal((await c.request({ op: 'auth', token: sign({ sub: 'brief', exp }) })).type, 'ok');
  const err = await c.next((m) => m.type === 'error', { timeoutMs: 6000 });
  assert.equal(err.code, 'unauthorized');
  await Promise.race([c.closePromise, sleep(3000)]);
  assert.equal(c.closed?.code, 1008);
});

test("another user's conversation: forbidden over WS, 404 over REST", async () => {
  const conv = uid('private');
  const created = await api(server.url, 'POST', '/api/conversations', { id: conv, title: 'p', participants: ['alice'] }, { headers: bearer(ADMIN) });
  assert.equal(created.status, 201, created.text);

  const alice = await login('alice');
  const bob = await login('bob');
  assert.equal((await alice.request({ op: 'join', conversation: conv })).type, 'history');
  assert.equal((await alice.request({ op: 'send', conversation: conv, content: 'top secret words' })).type, 'ack');
  for (const op of [
    { op: 'join', conversation: conv },
    { op: 'history', conversation: conv },
    { op: 'send', conversation: conv, content: 'let me in' },
    { op: 'edit', conversation: conv, seq: 1, content: 'x' },
    { op: 'delete', conversation: conv, seq: 1 },
    { op: 'read', conversation: conv, seq: 1 },
  ]) {
    const r = await bob.request(op);
    assert.equal(r.type, 'error', op.op);
    assert.equal(r.code, 'forbidden', op.op);
  }
  await bob.send({ op: 'typing', conversation: conv, on: true });
  await sleep(200);
  assert.ok(!alice.events.some((e) => e.type === 'typing'), 'typing from outside is dropped');
  assert.ok(!bob.events.some((e) => e.conversation === conv), 'bob sees no event of it');

  const bobToken = bearer(sign({ sub: 'bob' }));
  for (const path of [`/api/conversations/${conv}`, `/api/conversations/${conv}/messages`, `/api/conversations/${conv}/export?format=json`, `/api/search?q=secret&conversation=${conv}`]) {
    const r = await api(server.url, 'GET', path, undefined, { headers: bobToken });
    assert.equal(r.status, 404, path);
  }
  assert.equal((await api(server.url, 'POST', `/api/conversations/${conv}/messages`, { sender: { id: 'alice' }, content: 'x' }, { headers: bobToken })).status, 404);
  assert.equal((await api(server.url, 'PATCH', `/api/conversations/${conv}`, { title: 'mine' }, { headers: bobToken })).status, 404);
  const search = await api(server.url, 'GET', '/api/search?q=secret', undefined, { headers: bobToken });
  assert.equal(search.status, 200);
  assert.ok(!search.json.hits.some((h) => h.conversation === conv), 'search hides it');
  const list = await api(server.url, 'GET', '/api/conversations?user=alice', undefined, { headers: bobToken });
  assert.equal(list.status, 200);
  assert.ok(!list.json.conversations.some((c) => c.id === conv), 'the list is bob\'s own');

  // Administration needs the admin token (or an admin JWT).
  assert.equal((await api(server.url, 'POST', '/api/conversations', { participants: ['bob'] }, { headers: bobToken })).status, 403);
  assert.equal((await api(server.url, 'DELETE', `/api/conversations/${conv}`, undefined, { headers: bobToken })).status, 403);
  assert.equal((await api(server.url, 'PUT', `/api/conversations/${conv}`, { title: 't', messages: [] }, { headers: bobToken })).status, 403);
  assert.equal((await api(server.url, 'GET', `/api/conversations/${conv}`)).status, 401);
  assert.equal((await api(server.url, 'GET', `/api/conversations/${conv}`, undefined, { headers: bearer('wrong') })).status, 401);

  // The participant and the admins see it.
  const aliceGet = await api(server.url, 'GET', `/api/conversations/${conv}`, undefined, { headers: bearer(sign({ sub: 'alice' })) });
  assert.equal(aliceGet.status, 200);
  assert.equal(aliceGet.json.messages.length, 1);
  const aliceList = await api(server.url, 'GET', '/api/conversations', undefined, { headers: bearer(sign({ sub: 'alice' })) });
  assert.ok(aliceList.json.conversations.some((c) => c.id === conv));
  assert.equal((await api(server.url, 'GET', `/api/conversations/${conv}`, undefined, { headers: bearer(ADMIN) })).status, 200);
  const root = await login('root', { role: 'admin' });
  assert.equal((await root.request({ op: 'join', conversation: conv })).type, 'history');

  // Removing bob... adding bob: an admin PATCH lets him in.
  const patched = await api(server.url, 'PATCH', `/api/conversations/${conv}`, { participants: ['alice', 'bob'] }, { headers: bearer(ADMIN) });
  assert.equal(patched.status, 200);
  assert.equal((await bob.request({ op: 'join', conversation: conv })).type, 'history');
  // ... and taking him out again drops him from the live room.
  await api(server.url, 'PATCH', `/api/conversations/${conv}`, { participants: ['alice'] }, { headers: bearer(ADMIN) });
  await sleep(300);
  assert.equal((await bob.request({ op: 'send', conversation: conv, content: 'still here?' })).code, 'forbidden');
});

test('origins: upgrades from other origins get 403; CORS for the allowed ones', async () => {
  await assert.rejects(connect({ options: { origin: 'https://evil.example.test' } }), /403/);
  const good = await connect({ options: { origin: GOOD_ORIGIN } });
  assert.ok(good.isOpen);
  const noOrigin = await connect();
  assert.ok(noOrigin.isOpen);

  const pre = await rawRequest(server.url, 'OPTIONS', '/api/conversations', {
    headers: { origin: GOOD_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], GOOD_ORIGIN);
  assert.match(pre.headers['access-control-allow-headers'], /Authorization/);
  const evil = await rawRequest(server.url, 'OPTIONS', '/api/conversations', {
    headers: { origin: 'https://evil.example.test', 'access-control-request-method': 'GET' },
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  const get = await rawRequest(server.url, 'GET', '/api/conversations', { headers: { origin: GOOD_ORIGIN, ...bearer(ADMIN) } });
  assert.equal(get.status, 200);
  assert.equal(get.headers['access-control-allow-origin'], GOOD_ORIGIN);

  const health = await api(server.url, 'GET', '/health');
  assert.equal(health.status, 200, 'health needs no token');
  assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(health.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(health.headers.get('x-frame-options'), 'DENY');
});

test('rate limit: rate_limited past the burst, usable again afterwards', async () => {
  const c = await login('chatty');
  const replies = await Promise.all(Array.from({ length: 30 }, () => c.request({ op: 'ping' })));
  const limited = replies.filter((r) => r.type === 'error' && r.code === 'rate_limited');
  const pongs = replies.filter((r) => r.type === 'pong');
  assert.ok(limited.length >= 15, `${limited.length} limited`);
  assert.ok(pongs.length >= 9 && pongs.length <= 14, `${pongs.length} pongs`);
  await sleep(1200);
  assert.equal((await c.request({ op: 'ping' })).type, 'pong');
  assert.ok(c.isOpen);
});
