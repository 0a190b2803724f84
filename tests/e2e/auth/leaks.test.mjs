// What attacking token mode found (issue 14, items 6, 8, 9, 10 and the smaller ones), each
// checked from the outside: a restricted conversation in the inbox, a hidden id told apart
// from a missing one, formulas in CSV exports, anyone's online status, a token with
// exp 1e308, "." and ".." as ids, conversations created without bound, and what /metrics
// counts.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, afterEach, before, test } from 'node:test';
import WebSocket from 'ws';

import { api, rawRequest } from '../lib/http.mjs';
import { sleep, startServer } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';

const SECRET = 'e2e-leaks-secret-0123456789-abcdefghijkl';
const ADMIN = 'e2e-leaks-admin-token-0123456789';

let server;
const clients = [];

before(async () => {
  server = await startServer({
    env: { AUTH_MODE: 'token', JWT_SECRET: SECRET, ADMIN_TOKEN: ADMIN, CONVERSATIONS_PER_MIN: '3', REST_RATE_LIMIT_PER_S: '0' },
  });
});

after(async () => {
  if (server) {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});

afterEach(() => {
  for (const c of clients.splice(0)) c.ws.terminate();
});

let counter = 0;
const uid = (p) => `${p}-${process.pid.toString(36)}${Date.now().toString(36)}-${++counter}`;

function sign(claims, secret = SECRET) {
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })).toString('base64url');
  const input = `${head}.${body}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const bearer = (token) => ({ headers: { authorization: `Bearer ${token}` } });
const as = (user) => bearer(sign({ sub: user }));

async function login(user, claims = {}, url = server.wsUrl) {
  const c = await WsClient.connect(WebSocket, url);
  clients.push(c);
  const ok = await c.request({ op: 'auth', token: sign({ sub: user, ...claims }) });
  assert.equal(ok.type, 'ok', JSON.stringify(ok));
  return c;
}

test('a conversation restricted after a user joined leaves her inbox', async () => {
  const conv = uid('was-open');
  const alice = await login('alice');
  assert.equal((await alice.request({ op: 'join', conversation: conv })).type, 'history');
  assert.equal((await alice.request({ op: 'send', conversation: conv, content: 'hello' })).type, 'ack');
  const inbox = async () => (await api(server.url, 'GET', '/api/conversations?limit=500', undefined, as('alice'))).json.conversations;
  assert.ok((await inbox()).some((c) => c.id === conv), 'listed while open');

  const patched = await api(server.url, 'PATCH', `/api/conversations/${conv}`, { participants: ['bob', 'carol'] }, bearer(ADMIN));
  assert.equal(patched.status, 200, patched.text);
  const posted = await api(server.url, 'POST', `/api/conversations/${conv}/messages`, { sender: { id: 'bob' }, content: 'after the restriction' }, as('bob'));
  assert.equal(posted.status, 201, posted.text);

  const listed = (await inbox()).find((c) => c.id === conv);
  assert.equal(listed, undefined, `restricted: not in her inbox (${JSON.stringify(listed)})`);
  assert.equal((await api(server.url, 'GET', `/api/conversations/${conv}`, undefined, as('alice'))).status, 404);
  assert.ok((await api(server.url, 'GET', '/api/conversations', undefined, as('bob'))).json.conversations.some((c) => c.id === conv), 'bob still sees it');
});

test('restricting the participants removes the others\' memberships and tells their live sessions', async () => {
  const conv = uid('restricted-live');
  const alice = await login('alice');
  const bob = await login('bob');
  for (const c of [alice, bob]) assert.equal((await c.request({ op: 'join', conversation: conv })).type, 'history');
  assert.equal((await alice.request({ op: 'send', conversation: conv, content: 'before' })).type, 'ack');
  const byAdmin = async (user) => (await api(server.url, 'GET', `/api/conversations?user=${user}&limit=500`, undefined, bearer(ADMIN))).json.conversations;
  assert.ok((await byAdmin('alice')).some((c) => c.id === conv), 'alice is a member while it is open');

  const from = alice.events.length;
  const patched = await api(server.url, 'PATCH', `/api/conversations/${conv}`, { participants: ['bob', 'carol'] }, bearer(ADMIN));
  assert.equal(patched.status, 200, patched.text);
  // Her live session leaves the room and is told why.
  const left = await alice.next((e) => e.type === 'left' && e.conversation === conv, { from, timeoutMs: 5000, desc: 'a left event' });
  assert.equal(left.reason, 'not_a_participant');
  assert.ok(alice.isOpen, 'the connection stays open');
  // Bob, still a participant, stays in the room; alice gets nothing more of it.
  assert.equal((await bob.request({ op: 'send', conversation: conv, content: 'after' })).type, 'ack');
  await bob.next((e) => e.type === 'message' && e.message.content === 'after', { desc: "bob's own message" });
  await sleep(200);
  assert.ok(!alice.events.slice(from).some((e) => e.type === 'message'), 'no message after she left');
  assert.equal((await alice.request({ op: 'join', conversation: conv })).code, 'forbidden');

  // Her membership is gone, not only hidden: an admin listing her conversations does not
  // show it, and opening the conversation again does not bring it back into her inbox.
  assert.ok(!(await byAdmin('alice')).some((c) => c.id === conv), 'alice is no longer a member');
  assert.ok((await byAdmin('bob')).some((c) => c.id === conv), 'bob still is');
  const reopened = await api(server.url, 'PATCH', `/api/conversations/${conv}`, { participants: [] }, bearer(ADMIN));
  assert.equal(reopened.status, 200, reopened.text);
  const inbox = (await api(server.url, 'GET', '/api/conversations?limit=500', undefined, as('alice'))).json.conversations;
  assert.equal(inbox.find((c) => c.id === conv), undefined, 'not in her inbox, no unread');
});

// The inbox lists by membership, and a join's membership is written after the appends queued
// around it (the join burst fix): without the listing waiting for it, 34-64 of 200 of these
// (join, send, ack, list) found the conversation missing from the inbox.
test('a conversation one joined and sent to is in one\'s inbox at once', async () => {
  const own = await startServer({ env: { AUTH_MODE: 'token', JWT_SECRET: SECRET, RATE_LIMIT_PER_S: '0', REST_RATE_LIMIT_PER_S: '0' } });
  try {
    const c = await login('ivy', {}, own.wsUrl);
    const missing = [];
    for (let i = 0; i < 200; i++) {
      const conv = uid('joined');
      assert.equal((await c.request({ op: 'join', conversation: conv })).type, 'history');
      assert.equal((await c.request({ op: 'send', conversation: conv, content: 'x' })).type, 'ack');
      const inbox = await api(own.url, 'GET', '/api/conversations?limit=1', undefined, as('ivy'));
      if (inbox.json.conversations[0]?.id !== conv) missing.push(conv);
    }
    assert.deepEqual(missing, []);
  } finally {
    await own.stop();
    fs.rmSync(own.dataDir, { recursive: true, force: true });
  }
});

test('creating a conversation under a hidden id answers as under a missing one', async () => {
  const secret = uid('secret');
  assert.equal((await api(server.url, 'POST', '/api/conversations', { id: secret, participants: ['alice'] }, bearer(ADMIN))).status, 201);
  const hidden = await api(server.url, 'POST', '/api/conversations', { id: secret }, as('mallory'));
  const missing = await api(server.url, 'POST', '/api/conversations', { id: uid('unused') }, as('mallory'));
  assert.equal(hidden.status, missing.status, `${hidden.text} vs ${missing.text}`);
  assert.deepEqual(hidden.json, missing.json);
  // A user still creates conversations, under an id the server picks.
  const fresh = await api(server.url, 'POST', '/api/conversations', { title: 'mine' }, as('mallory'));
  assert.equal(fresh.status, 201, fresh.text);
  assert.match(fresh.json.id, /^[0-9a-f]{16}$/);
});

test('CONVERSATIONS_PER_MIN bounds what one user creates; admins are not metered', async () => {
  const user = uid('maker');
  const statuses = [];
  for (let i = 0; i < 5; ++i) statuses.push((await api(server.url, 'POST', '/api/conversations', {}, as(user))).status);
  assert.deepEqual(statuses, [201, 201, 201, 429, 429]);
  const limited = await api(server.url, 'POST', '/api/conversations', {}, as(user));
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal((await api(server.url, 'POST', '/api/conversations', {}, as(uid('other')))).status, 201, 'per user');
  for (let i = 0; i < 5; ++i) assert.equal((await api(server.url, 'POST', '/api/conversations', {}, bearer(ADMIN))).status, 201);
});

test('CONVERSATION_CREATORS=admins: only admins create conversations', async () => {
  const only = await startServer({ env: { AUTH_MODE: 'token', JWT_SECRET: SECRET, ADMIN_TOKEN: ADMIN, CONVERSATION_CREATORS: 'admins' } });
  try {
    const r = await api(only.url, 'POST', '/api/conversations', { title: 't' }, as('alice'));
    assert.equal(r.status, 403, r.text);
    assert.equal((await api(only.url, 'POST', '/api/conversations', { title: 't' }, bearer(ADMIN))).status, 201);
    assert.equal((await api(only.url, 'POST', '/api/conversations', { title: 't' }, bearer(sign({ sub: 'boss', role: 'admin' })))).status, 201);
  } finally {
    await only.stop();
    fs.rmSync(only.dataDir, { recursive: true, force: true });
  }
});

test('CSV exports neutralise formulas', async () => {
  const conv = uid('csv');
  assert.equal((await api(server.url, 'POST', '/api/conversations', { id: conv }, bearer(ADMIN))).status, 201);
  for (const content of ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")', '+1', '-1', '@SUM(A1)', '\tx', 'fine']) {
    const r = await api(server.url, 'POST', `/api/conversations/${conv}/messages`, { sender: { id: 'bot', name: '=evil()' }, content }, bearer(ADMIN));
    assert.equal(r.status, 201, r.text);
  }
  const csv = (await api(server.url, 'GET', `/api/conversations/${conv}/export?format=csv`, undefined, bearer(ADMIN))).text;
  for (const cell of [`"'=cmd|' /C calc'!A0"`, `"'=HYPERLINK(""http://evil.example"",""click"")"`, `"'+1"`, `"'-1"`, `"'@SUM(A1)"`, `"'\tx"`, `"'=evil()"`]) {
    assert.ok(csv.includes(`,${cell},`), `${cell} in\n${csv}`);
  }
  assert.ok(csv.includes(',fine,'));
  assert.ok(!/(^|,)"?[=+\-@]/m.test(csv.split('\r\n').slice(1).join('\n')), 'no cell starts a formula');
});

test("a user's online status is told only to those who share a conversation with them", async () => {
  const shared = uid('shared');
  assert.equal((await api(server.url, 'POST', '/api/conversations', { id: shared, participants: ['olive', 'pat'] }, bearer(ADMIN))).status, 201);
  const olive = await login('olive');
  assert.equal((await olive.request({ op: 'join', conversation: shared })).type, 'history');
  const pat = await login('pat');
  assert.equal((await pat.request({ op: 'join', conversation: shared })).type, 'history');

  const byPat = await api(server.url, 'GET', '/api/users/olive', undefined, as('pat'));
  assert.equal(byPat.status, 200);
  assert.equal(byPat.json.status, 'online');
  const byStranger = await api(server.url, 'GET', '/api/users/olive', undefined, as(uid('stranger')));
  assert.equal(byStranger.status, 200);
  assert.equal(byStranger.json.status, null, JSON.stringify(byStranger.json));
  assert.equal(byStranger.json.last_seen, null);
  assert.equal((await api(server.url, 'GET', '/api/users/olive', undefined, as('olive'))).json.status, 'online');
  assert.equal((await api(server.url, 'GET', '/api/users/olive', undefined, bearer(ADMIN))).json.status, 'online');
});

test('a token with exp 1e308 is accepted alike over REST and /ws', async () => {
  const token = sign({ sub: 'forever', exp: 1e308 });
  assert.equal((await api(server.url, 'GET', '/api/conversations', undefined, bearer(token))).status, 200);
  const c = await WsClient.connect(WebSocket, server.wsUrl);
  clients.push(c);
  assert.equal((await c.request({ op: 'auth', token })).type, 'ok');
  await sleep(500);
  assert.equal(c.closed, null, `still open: ${JSON.stringify(c.closed)}`);
  assert.equal((await c.request({ op: 'join', conversation: uid('c') })).type, 'history');
});

test('"." and ".." are not conversation ids', async () => {
  const c = await login('dots');
  for (const id of ['.', '..']) {
    const r = await c.request({ op: 'join', conversation: id });
    assert.equal(r.type, 'error', id);
    assert.equal(r.code, 'bad_request', id);
    const created = await api(server.url, 'POST', '/api/conversations', { id }, bearer(ADMIN));
    assert.equal(created.status, 400, `${id}: ${created.text}`);
    // Raw, so that no client library resolves the dots away: the path never names a
    // conversation "." or ".." (400, or 404 where the URL's dot segments resolve elsewhere).
    const raw = await rawRequest(server.url, 'GET', `/api/conversations/${id}/messages`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.ok([400, 404].includes(raw.status), `${id}: ${raw.status}`);
  }
});

test('/metrics: duplicates are not committed messages; Socket.IO sessions are counted', async () => {
  const metric = async (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await api(server.url, 'GET', '/metrics')).text)?.[1]);
  const conv = uid('dup');
  const appended = await metric('parley_store_appended_total');
  for (let i = 0; i < 3; ++i) {
    const r = await api(server.url, 'POST', `/api/conversations/${conv}/messages`, { sender: { id: 'bot' }, content: 'once', client_id: 'same' }, bearer(ADMIN));
    assert.equal(r.status, i === 0 ? 201 : 200);
  }
  await sleep(100);
  assert.equal((await metric('parley_store_appended_total')) - appended, 1);

  const websockets = await metric('parley_websocket_sessions');
  const sio = new WebSocket(`${server.wsUrl.replace('/ws', '/socket.io/')}?EIO=4&transport=websocket`);
  const frames = [];
  sio.on('message', (d) => frames.push(d.toString()));
  await new Promise((resolve, reject) => sio.once('open', resolve).once('error', reject));
  sio.send(`40${JSON.stringify({ token: sign({ sub: 'sio-user' }) })}`);
  for (let i = 0; i < 50 && !frames.some((f) => f.startsWith('40')); ++i) await sleep(20);
  assert.ok(frames.some((f) => f.startsWith('40{"sid"')), JSON.stringify(frames));
  assert.equal((await metric('parley_websocket_sessions')) - websockets, 1, 'a Socket.IO websocket is a websocket');
  assert.equal(await metric('parley_socketio_sessions'), 1);
  sio.close();
  for (let i = 0; i < 50 && (await metric('parley_socketio_sessions')) !== 0; ++i) await sleep(20);
  assert.equal(await metric('parley_socketio_sessions'), 0);
  assert.equal(await metric('parley_websocket_sessions'), websockets);
});
