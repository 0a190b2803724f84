// radio-istic's vocabulary (seed 002) with Parley's additions (authenticate, acks, seq,
// clientMsgId, `typing`) and the official socket.io-client, over each transport choice:
// join-conversation -> conversation-history, send-message with ack -> receive-message,
// mark-as-read -> messages-read, typing -> user-typing, user-status-change online/offline,
// error. tests/e2e/radioistic/ drives the app's own client.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { call, io, MODES, RFC3339_MS, TRICKY_TEXT, uid, useServer } from './helpers.mjs';

const ctx = useServer();

for (const mode of Object.keys(MODES)) {
  describe(`messaging vocabulary, ${mode} transport`, () => {
    it('authenticate, join-conversation, send-message with ack, receive-message to the room', async () => {
      const conv = uid('conv');
      const alice = uid('alice');
      const bob = uid('bob');
      const a = await ctx.sio({ mode, name: 'alice' });
      const b = await ctx.sio({ mode, name: 'bob' });

      const authAck = await call(a.socket, 'authenticate', { userId: alice, name: 'Alice', avatar: '/a.png' });
      assert.equal(authAck.ok, true);
      assert.equal(authAck.userId, alice);
      assert.equal((await a.rec.next('authenticated')).userId, alice);
      b.socket.emit('authenticate', { userId: bob, name: 'Bob' }); // no ack callback
      assert.equal((await b.rec.next('authenticated')).userId, bob);

      a.socket.emit('join-conversation', { conversationId: conv, userId: alice });
      const histA = await a.rec.next('conversation-history', (h) => h.conversationId === conv);
      assert.deepEqual(histA.messages, []);
      const joinAck = await call(b.socket, 'join-conversation', { conversationId: conv });
      assert.equal(joinAck.ok, true);
      assert.equal(joinAck.conversationId, conv);
      await b.rec.next('conversation-history', (h) => h.conversationId === conv);

      const ack = await call(a.socket, 'send-message', {
        conversationId: conv, content: TRICKY_TEXT, type: 'text', clientMsgId: 'cm-1',
      });
      assert.equal(ack.ok, true);
      assert.equal(typeof ack.id, 'string');
      assert.equal(ack.seq, 1);

      const m = await b.rec.next('receive-message', (x) => x.conversationId === conv);
      assert.equal(m.content, TRICKY_TEXT);
      assert.equal(m.id, ack.id);
      assert.equal(m.seq, 1);
      assert.equal(m.senderId, alice);
      assert.equal(m.senderName, 'Alice');
      assert.equal(m.senderAvatar, '/a.png');
      assert.equal(m.type, 'text');
      assert.match(m.timestamp, RFC3339_MS);
      assert.equal(m.status, 'sent');
      assert.equal(m.tempId, 'cm-1'); // the client id comes back as the app's tempId
      // The sender's socket is in the room too.
      assert.equal((await a.rec.next('receive-message', (x) => x.conversationId === conv)).id, ack.id);

      // A repeated clientMsgId is acknowledged with the original and not broadcast again.
      const again = await call(a.socket, 'send-message', { conversationId: conv, content: TRICKY_TEXT, clientMsgId: 'cm-1' });
      assert.equal(again.ok, true);
      assert.equal(again.id, ack.id);
      assert.equal(again.seq, 1);

      // History on a fresh join returns the message byte for byte.
      const c = await ctx.sio({ mode, name: 'carol', auth: { userId: uid('carol') } });
      const hist = await call(c.socket, 'join-conversation', { conversationId: conv });
      assert.equal(hist.messages.length, 1);
      assert.equal(hist.messages[0].content, TRICKY_TEXT);
      assert.equal(hist.lastSeq, 1);
    });

    it('mark-as-read -> messages-read; typing -> user-typing for the others only', async () => {
      const conv = uid('conv');
      const alice = uid('alice');
      const bob = uid('bob');
      const a = await ctx.sio({ mode, name: 'alice', auth: { userId: alice, name: 'Alice' } });
      const b = await ctx.sio({ mode, name: 'bob', auth: { userId: bob, name: 'Bob' } });
      await call(a.socket, 'join-conversation', { conversationId: conv });
      await call(b.socket, 'join-conversation', { conversationId: conv });
      const sent = await call(a.socket, 'send-message', { conversationId: conv, content: 'read me' });

      const readAck = await call(b.socket, 'mark-as-read', { conversationId: conv, seq: sent.seq });
      assert.equal(readAck.ok, true);
      const read = await a.rec.next('messages-read', (r) => r.conversationId === conv);
      assert.deepEqual(read, { conversationId: conv, messageIds: [], readBy: bob, seq: sent.seq });

      // By message id as the seed app sends it.
      const second = await call(a.socket, 'send-message', { conversationId: conv, content: 'and me' });
      assert.equal((await call(b.socket, 'mark-as-read', { conversationId: conv, messageId: second.id })).ok, true);
      const byId = await a.rec.next('messages-read', (r) => r.conversationId === conv && r.seq === second.seq);
      assert.deepEqual(byId.messageIds, [second.id]);
      assert.equal(await b.rec.arrives('messages-read', (r) => r.conversationId === conv, 300), false,
        'the reader does not receive its own messages-read (socket.to)');

      const typingAck = await call(a.socket, 'typing', { conversationId: conv, isTyping: true });
      assert.equal(typingAck.ok, true);
      const t = await b.rec.next('user-typing', (x) => x.conversationId === conv);
      assert.equal(t.userId, alice);
      assert.equal(t.isTyping, true);
      a.socket.emit('typing', { conversationId: conv, isTyping: false });
      const t2 = await b.rec.next('user-typing', (x) => x.conversationId === conv && x.isTyping === false);
      assert.equal(t2.userId, alice);
      assert.equal(await a.rec.arrives('user-typing', (x) => x.conversationId === conv, 300), false,
        'the typist does not receive its own typing events');
    });

    it('user-status-change online on authenticate, offline with lastSeen on disconnect', async () => {
      const watcher = await ctx.sio({ mode, name: 'watcher' });
      await call(watcher.socket, 'authenticate', { userId: uid('watcher') });
      const dave = uid('dave');
      const d = await ctx.sio({ mode, name: 'dave' });
      await call(d.socket, 'authenticate', { userId: dave, name: 'Dave' });
      const online = await watcher.rec.next('user-status-change', (s) => s.userId === dave && s.status === 'online');
      assert.equal(online.lastSeen, undefined);
      assert.equal(online.userInfo.name, 'Dave');
      await watcher.rec.next('online-users', (list) => list.some((u) => u.id === dave));
      d.socket.disconnect();
      const offline = await watcher.rec.next('user-status-change', (s) => s.userId === dave && s.status === 'offline');
      assert.match(offline.lastSeen, RFC3339_MS);
    });

    it('errors: an error event and a failed ack, and the socket carries on', async () => {
      const conv = uid('conv');
      const s = await ctx.sio({ mode, name: 'erring' });
      // Not authenticated yet.
      const unauth = await call(s.socket, 'send-message', { conversationId: conv, content: 'x' });
      assert.equal(unauth.ok, false);
      assert.equal(unauth.code, 'unauthorized');
      const err = await s.rec.next('error');
      assert.equal(typeof err.message, 'string');
      assert.equal(err.code, 'unauthorized');

      await call(s.socket, 'authenticate', { userId: uid('erring') });
      const bad = await call(s.socket, 'send-message', { conversationId: conv });
      assert.deepEqual([bad.ok, bad.code], [false, 'bad_request']);
      assert.match(bad.message, /content/);
      const badId = await call(s.socket, 'join-conversation', { conversationId: 'no spaces allowed' });
      assert.deepEqual([badId.ok, badId.code], [false, 'bad_request']);
      const unknown = await call(s.socket, 'no-such-event', {});
      assert.deepEqual([unknown.ok, unknown.code], [false, 'not_found']);
      // radio-istic's Message schema (maxlength 2000) comes before Parley's 64 KiB limit.
      const big = await call(s.socket, 'send-message', { conversationId: conv, content: 'x'.repeat(70 * 1024) });
      assert.deepEqual([big.ok, big.code], [false, 'bad_request']);
      assert.match(big.message, /cannot exceed 2000 characters/);
      // Binary payloads are refused clearly in chat events.
      const bin = await call(s.socket, 'send-message', { conversationId: conv, content: Buffer.from([1, 2, 3]) });
      assert.equal(bin.ok, false);
      assert.match(bin.message, /binary/);

      const ok = await call(s.socket, 'send-message', { conversationId: conv, content: 'still here' });
      assert.equal(ok.ok, true);
      assert.equal(s.socket.connected, true);
    });
  });
}

describe('namespaces and handshake auth', () => {
  it('refuses unknown namespaces with connect_error', async () => {
    const socket = io(`${ctx.server.url}/admin`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    const err = await new Promise((resolve) => socket.once('connect_error', resolve));
    socket.close();
    assert.equal(err.message, 'Invalid namespace');
  });

  it('authenticates from the CONNECT auth payload', async () => {
    const user = uid('hs');
    const conv = uid('conv');
    const s = await ctx.sio({ auth: { userId: user, name: 'Handshake' } });
    const hist = await call(s.socket, 'join-conversation', { conversationId: conv });
    assert.equal(hist.ok, true);
    const ack = await call(s.socket, 'send-message', { conversationId: conv, content: 'hi' });
    assert.equal(ack.ok, true);
    const m = await s.rec.next('receive-message', (x) => x.conversationId === conv);
    assert.equal(m.senderId, user);
    assert.equal(m.senderName, 'Handshake');
  });

  it('a CONNECT claim identifies without the status stream until the socket asks for it', async () => {
    // The stream sends every subscriber the whole online list per connect: thousands of
    // claim-only sockets must not pay for it (bench sio-idle).
    const quiet = await ctx.sio({ auth: { userId: uid('quiet'), name: 'Quiet' } });
    const erin = uid('erin');
    const e = await ctx.sio({ name: 'erin' });
    await call(e.socket, 'authenticate', { userId: erin, name: 'Erin' });
    assert.equal(await quiet.rec.arrives('user-status-change', (x) => x.userId === erin, 300), false,
      'no status events before the socket asks');
    quiet.socket.emit('get-online-users');
    await quiet.rec.next('online-users', (list) => list.some((u) => u.id === erin));
    const frank = uid('frank');
    const f = await ctx.sio({ name: 'frank' });
    await call(f.socket, 'authenticate', { userId: frank, name: 'Frank' });
    await quiet.rec.next('user-status-change', (x) => x.userId === frank && x.status === 'online');
  });

  it('refuses a CONNECT whose auth is invalid', async () => {
    const socket = io(ctx.server.url, {
      forceNew: true, reconnection: false, transports: ['websocket'], auth: { userId: 'bad id with spaces' },
    });
    const err = await new Promise((resolve) => socket.once('connect_error', resolve));
    socket.close();
    assert.match(err.message, /user/);
  });
});
