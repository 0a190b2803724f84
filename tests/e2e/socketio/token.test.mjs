// Token mode over Socket.IO: the JWT in the CONNECT auth payload decides who the socket is,
// and a conversation with participants is closed to everyone else (forbidden, no events),
// exactly as over /ws (tests/e2e/auth covers /ws and REST).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, test } from 'node:test';

import { call, sleep, uid, useServer } from './helpers.mjs';

const SECRET = 'e2e-sio-secret-0123456789-abcdefghijklmn';
const ADMIN = 'e2e-sio-admin-token-0123456789';

const ctx = useServer({ env: { AUTH_MODE: 'token', JWT_SECRET: SECRET, ADMIN_TOKEN: ADMIN } });

// Privacy: neither tokens nor message content reach the server's log (runs after the
// server has stopped; its log is kept).
after(() => {
  const logs = ctx.server?.logs() ?? '';
  assert.ok(!logs.includes(SECRET), 'the secret is not logged');
  assert.ok(!logs.includes('eyJ'), 'no token is logged');
  assert.ok(!logs.includes('secret words') && !logs.includes('let me in'), 'no message content is logged');
});

function sign(claims, secret = SECRET) {
  const now = Math.floor(Date.now() / 1000);
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ exp: now + 3600, ...claims })).toString('base64url');
  const input = `${head}.${body}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

test("another user's conversation over Socket.IO: forbidden, and none of its events", async () => {
  const conv = uid('private');
  const created = await ctx.api('POST', '/api/conversations', { id: conv, title: 'p', participants: ['alice'] }, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(created.status, 201, created.text);

  const alice = await ctx.sio({ mode: 'websocket', auth: { token: sign({ sub: 'alice' }) }, name: 'alice' });
  const bob = await ctx.sio({ mode: 'polling', auth: { token: sign({ sub: 'bob' }) }, name: 'bob' });
  const joined = await call(alice.socket, 'join-conversation', { conversationId: conv });
  assert.equal(joined.ok, true, JSON.stringify(joined));
  const sent = await call(alice.socket, 'send-message', { conversationId: conv, content: 'top secret words' });
  assert.equal(sent.ok, true, JSON.stringify(sent));

  for (const [event, payload] of [
    ['join-conversation', { conversationId: conv }],
    ['get-history', { conversationId: conv }],
    ['send-message', { conversationId: conv, content: 'let me in' }],
    ['edit-message', { conversationId: conv, seq: 1, content: 'x' }],
    ['delete-message', { conversationId: conv, seq: 1 }],
    ['mark-as-read', { conversationId: conv, seq: 1 }],
  ]) {
    const ack = await call(bob.socket, event, payload);
    assert.equal(ack.ok, false, `${event}: ${JSON.stringify(ack)}`);
    assert.equal(ack.code, 'forbidden', event);
  }
  // The seed-000 vocabulary is held to the same rule.
  const woz = await call(bob.socket, 'join', { room: conv, type: 'wizard' });
  assert.equal(woz.ok, false, JSON.stringify(woz));
  assert.equal(woz.code, 'forbidden');

  bob.socket.emit('typing', { conversationId: conv, isTyping: true });
  await call(alice.socket, 'send-message', { conversationId: conv, content: 'more secrets' });
  await sleep(300);
  assert.ok(!alice.rec.events.some((e) => e.name === 'user-typing'), 'typing from outside is dropped');
  const leaked = bob.rec.events.filter((e) => JSON.stringify(e.args).includes(conv));
  assert.deepEqual(leaked.map((e) => e.name).filter((n) => n !== 'error'), [], 'bob gets no event of it');
  assert.ok(!JSON.stringify(bob.rec.events).includes('secrets'), 'no content reaches bob');
  assert.ok(bob.socket.connected, 'a refusal does not disconnect');
});

test('Socket.IO connections without a valid token are refused', async () => {
  for (const auth of [{}, { token: sign({ sub: 'eve' }, 'not-the-secret') }, { token: 'garbage' }, { userId: 'alice' }]) {
    let outcome;
    try {
      const { socket, rec } = await ctx.sio({ mode: 'websocket', auth, name: 'eve', options: { reconnection: false } });
      // Connected without a token: nothing but refusals until it authenticates.
      const ack = await call(socket, 'join-conversation', { conversationId: uid('c') });
      outcome = ack.ok ? 'joined' : ack.code;
      void rec;
    } catch (err) {
      outcome = `refused: ${err.message}`;
    }
    assert.notEqual(outcome, 'joined', JSON.stringify(auth));
  }
});

test('a CONNECT without a token is refused at once; auth.token and a Bearer handshake are admitted', async () => {
  // SOCKETIO_TOKEN_AT_CONNECT (on by default in token mode): no waiting to authenticate later.
  for (const mode of ['websocket', 'polling']) {
    await assert.rejects(ctx.sio({ mode, auth: {}, name: 'anon', options: { reconnection: false } }), /a token is required/, mode);
  }
  const viaAuth = await ctx.sio({ mode: 'polling', auth: { token: sign({ sub: 'radio' }) }, name: 'radio' });
  assert.equal((await call(viaAuth.socket, 'join-conversation', { conversationId: uid('c') })).ok, true);
  const viaHeader = await ctx.sio({ mode: 'polling', name: 'bearer', options: { extraHeaders: { authorization: `Bearer ${sign({ sub: 'bearer' })}` } } });
  assert.equal((await call(viaHeader.socket, 'join-conversation', { conversationId: uid('c') })).ok, true);
});
