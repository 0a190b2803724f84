// The Engine.IO layer of /socket.io/ under bad input: unknown sids, malformed packets,
// oversized bodies and bad queries get HTTP 400 with the Engine.IO error body
// {"code":N,"message":"..."}; the server and the other sessions carry on. CORS for polling.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { call, rawRequest, uid, useServer, WebSocket } from './helpers.mjs';

// ALLOWED_ORIGINS as a deployment serving a front end on another origin would set it.
const ctx = useServer({ env: { ALLOWED_ORIGINS: 'http://app.example' } });

const base = () => `${ctx.server.url}/socket.io/`;

async function get(query, init = {}) {
  const res = await fetch(`${base()}?${query}`, { signal: AbortSignal.timeout(10000), ...init });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

async function handshake() {
  const res = await get('EIO=4&transport=polling');
  assert.equal(res.status, 200);
  assert.equal(res.text[0], '0');
  return JSON.parse(res.text.slice(1));
}

function assertEioError(res, code) {
  assert.equal(res.status, 400, res.text);
  const body = JSON.parse(res.text);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
}

describe('Engine.IO errors at /socket.io/', () => {
  it('handshake advertises websocket upgrades and the heartbeat', async () => {
    const open = await handshake();
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(typeof open.sid, 'string');
    assert.ok(open.pingInterval > 0 && open.pingTimeout > 0 && open.maxPayload > 0);
  });

  it('bad queries and unknown sids: 400 with the error body', async () => {
    assertEioError(await get('transport=polling'), 5);
    assertEioError(await get('EIO=3&transport=polling'), 5);
    assertEioError(await get('EIO=4&transport=carrier-pigeon'), 0);
    assertEioError(await get('EIO=4'), 0);
    assertEioError(await get('EIO=4&transport=polling&sid=nope'), 1);
    assertEioError(await get('EIO=4&transport=polling', { method: 'POST', body: '4x' }), 2);
    assertEioError(await get('EIO=4&transport=websocket'), 3); // not an upgrade request
  });

  it('a malformed packet closes that session only', async () => {
    const victim = await handshake();
    const s = await ctx.sio({ auth: { userId: uid('bystander') } });
    const bad = await get(`EIO=4&transport=polling&sid=${victim.sid}`, { method: 'POST', body: 'abc' });
    assertEioError(bad, 3);
    assertEioError(await get(`EIO=4&transport=polling&sid=${victim.sid}`), 1);

    // Malformed Socket.IO inside a valid Engine.IO message: the session is closed.
    const victim2 = await handshake();
    const post = await get(`EIO=4&transport=polling&sid=${victim2.sid}`, { method: 'POST', body: '42{not json' });
    assert.equal(post.status, 200);
    const after = await get(`EIO=4&transport=polling&sid=${victim2.sid}`);
    assert.ok(after.status === 400 || after.text.endsWith('1'), `${after.status} ${after.text}`);

    const ack = await call(s.socket, 'join-conversation', { conversationId: uid('conv') });
    assert.equal(ack.ok, true, 'other sessions carry on');
  });

  it('an oversized polling body: 400, and the server carries on', async () => {
    const open = await handshake();
    const res = await rawRequest(ctx.server.url, 'POST',
      `/socket.io/?EIO=4&transport=polling&sid=${open.sid}`, {
        headers: { 'content-type': 'text/plain;charset=UTF-8', 'content-length': String(open.maxPayload + 10) },
        bodyBytes: open.maxPayload + 10,
      });
    assert.ok(res.status === 400 || res.status === 413, `status ${res.status}`);
    if (res.status === 400) assert.equal(JSON.parse(res.text).code, 3);
    const again = await handshake();
    assert.equal(typeof again.sid, 'string');
  });

  it('two polls at once: the session is closed', async () => {
    const open = await handshake();
    const [first, second] = await Promise.all([
      get(`EIO=4&transport=polling&sid=${open.sid}`),
      new Promise((r) => setTimeout(r, 20)).then(() => get(`EIO=4&transport=polling&sid=${open.sid}`)),
    ]);
    assert.equal(first.status, 200);
    assert.equal(first.text, '1');
    assertEioError(second, 3);
  });

  it('CORS: polling from another origin, with preflight', async () => {
    const origin = 'http://app.example';
    const res = await get('EIO=4&transport=polling', { headers: { origin } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), origin);
    const pre = await fetch(`${base()}?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), origin);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type');

    // An origin the policy does not list: 403 with Engine.IO's "Forbidden", for polling and
    // for WebSocket upgrades (which CORS does not cover).
    const denied = await get('EIO=4&transport=polling', { headers: { origin: 'http://evil.example' } });
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.text).code, 4);
    const ws = new WebSocket(`${ctx.server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`,
      { origin: 'http://evil.example' });
    const status = await new Promise((resolve) => {
      ws.once('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.once('open', () => resolve('open'));
      ws.once('error', () => {});
    });
    assert.equal(status, 403);
  });
});
