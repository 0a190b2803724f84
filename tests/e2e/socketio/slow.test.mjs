// A Socket.IO client over WebSocket that stops reading is cut off as a slow consumer (the
// same rule and counter as /ws: net/ws_connection.hpp), while a fast Socket.IO client and a
// native client in the same room receive every message in order and stay connected, and
// the sender is never held back. One server of its own (open mode, no rate limit).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { call, sleep, uid, useServer, WebSocket } from './helpers.mjs';

const ctx = useServer();

const slowClosed = async () => {
  const m = await ctx.api('GET', '/metrics');
  return Number(/^parley_slow_consumers_closed_total (\d+)$/m.exec(m.text)[1]);
};

// A hand-made Engine.IO/Socket.IO client on a bare `ws` socket, so that the test can stop
// reading from its TCP socket: connects to "/" as `user` and joins `conv`.
async function rawSio(user, conv) {
  const url = ctx.server.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
  const ws = new WebSocket(url);
  const frames = [];
  let wake = null;
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') ws.send('3'); // Engine.IO ping
    frames.push(text);
    wake?.();
  });
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code })));
  const next = async (pred) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = frames.findIndex(pred);
      if (i >= 0) return frames.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`${user}: no frame; got ${frames.slice(-5)}`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await next((f) => f.startsWith('0{'));
  ws.send('40' + JSON.stringify({ userId: user, name: user }));
  await next((f) => f.startsWith('40{'));
  ws.send('420' + JSON.stringify(['join-conversation', { conversationId: conv }]));
  const ack = JSON.parse((await next((f) => f.startsWith('430['))).slice(3));
  assert.equal(ack[0].ok, true, JSON.stringify(ack));
  return { ws, frames, closed };
}

test('a Socket.IO reader that stops reading is closed while the others in its room keep up', async () => {
  const conv = uid('slow');
  const { socket: sender } = await ctx.sio({ mode: 'websocket', auth: { userId: 'sender' }, name: 'sender' });
  const { socket: fast, rec: fastRec } = await ctx.sio({ mode: 'websocket', auth: { userId: 'fast' }, name: 'fast' });
  for (const s of [sender, fast]) {
    assert.equal((await call(s, 'join-conversation', { conversationId: conv })).ok, true);
  }
  const native = await ctx.native('native');
  assert.equal((await native.request({ op: 'join', conversation: conv })).type, 'history');
  const slow = await rawSio('slow', conv);
  const before0 = await slowClosed();
  // The slow reader stops reading from its socket: its kernel buffers fill, then the
  // server's queue for it (4 MiB) overflows.
  slow.ws._socket.pause();

  const N = 300;
  const content = 'x'.repeat(60 * 1024); // 300 x 60 KiB = 18 MiB per reader
  for (let i = 0; i < N; i += 20) {
    const acks = [];
    for (let k = i; k < i + 20; k++) {
      // Sent over /ws: radio-istic's send-message keeps the app's 2,000-character limit, and
      // the queue needs big messages to overflow.
      acks.push(native.request({ op: 'send', conversation: conv, content: `${k} ${content}` }, { timeoutMs: 60000 }));
    }
    const replies = await Promise.all(acks);
    assert.ok(replies.every((r) => r.type === 'ack'), 'every send is acknowledged');
  }

  // The fast readers get all of them, in order, and stay connected.
  const deadline = Date.now() + 60000;
  const got = () => fastRec.all('receive-message', (m) => m.conversationId === conv);
  const nativeGot = () => native.events.filter((e) => e.type === 'message' && e.message.conversation === conv);
  while ((got().length < N || nativeGot().length < N) && Date.now() < deadline) await sleep(100);
  const seqs = got().map((m) => m.seq);
  assert.equal(seqs.length, N, `the fast Socket.IO reader got ${seqs.length} of ${N}`);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  assert.equal(nativeGot().length, N, 'the native reader got every message');
  assert.ok(fast.connected, 'the fast reader stays connected');
  assert.equal((await call(fast, 'typing', { conversationId: conv, isTyping: false })).ok, true);

  // The slow one was cut off (counted once), and sees the close once it reads again.
  assert.equal(await slowClosed(), before0 + 1, 'one connection closed as slow');
  slow.ws._socket.resume();
  const closed = await Promise.race([slow.closed, sleep(15000).then(() => null)]);
  assert.ok(closed, 'the slow reader is disconnected');
  assert.ok([1013, 1006].includes(closed.code), `close code ${closed.code}`);
  const delivered = slow.frames.filter((f) => f.startsWith('42["receive-message"')).length;
  assert.ok(delivered < N, `the slow reader got ${delivered} of ${N} before being cut off`);
});
