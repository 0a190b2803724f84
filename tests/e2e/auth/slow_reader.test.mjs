// A reader that stops reading is cut off (its bounded outbound queue overflows: close 1013)
// while a fast reader in the same room receives every message and stays connected; the
// sender is never held back by the slow one. Open mode, no rate limit: one server of its own.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';

import { api } from '../lib/http.mjs';
import { sleep, startServer } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';

let server;
const clients = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const c of clients) c.ws.terminate();
  if (server) {
    await server.stop();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});

async function login(user) {
  const c = await WsClient.connect(WebSocket, server.wsUrl, { name: user });
  clients.push(c);
  assert.equal((await c.request({ op: 'auth', user })).type, 'ok');
  return c;
}

const slowClosed = async () => {
  const m = await api(server.url, 'GET', '/metrics');
  return Number(/^parley_slow_consumers_closed_total (\d+)$/m.exec(m.text)[1]);
};

test('a slow reader is closed while a fast reader in the same room keeps up', async () => {
  const conv = `slow-${process.pid}-${Date.now().toString(36)}`;
  const sender = await login('sender');
  const fast = await login('fast');
  const slow = await login('slow');
  for (const c of [sender, fast, slow]) {
    assert.equal((await c.request({ op: 'join', conversation: conv })).type, 'history');
  }
  const before0 = await slowClosed();
  // The slow reader stops reading from its socket: its kernel buffers fill (the receive
  // window stays small when nothing is read), then the server's queue (4 MiB) overflows.
  slow.ws._socket.pause();

  const N = 300;
  const content = 'x'.repeat(60 * 1024); // 300 x 60 KiB = 18 MiB per reader
  const acks = [];
  for (let i = 0; i < N; i++) {
    acks.push(sender.request({ op: 'send', conversation: conv, content: `${i} ${content}` }, { timeoutMs: 60000 }));
    if (i % 20 === 19) await Promise.all(acks.slice(-20)); // keep a bounded window in flight
  }
  const replies = await Promise.all(acks);
  assert.ok(replies.every((r) => r.type === 'ack'), 'every send is acknowledged');

  // The fast reader gets all of them, in order, and is still connected.
  const deadline = Date.now() + 60000;
  const received = () => fast.events.filter((e) => e.type === 'message' && e.message.conversation === conv);
  while (received().length < N && Date.now() < deadline) await sleep(100);
  const seqs = received().map((e) => e.message.seq);
  assert.equal(seqs.length, N, `fast reader got ${seqs.length} of ${N}`);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
  assert.ok(fast.isOpen, 'the fast reader stays connected');
  assert.equal((await fast.request({ op: 'ping' })).type, 'pong');

  // The slow one was cut off by the server (counted), and sees the close once it reads again.
  assert.equal(await slowClosed(), before0 + 1, 'one session closed as slow');
  slow.ws._socket.resume();
  const closed = await Promise.race([slow.closePromise, sleep(15000).then(() => null)]);
  assert.ok(closed, 'the slow reader is disconnected');
  // 1013 (try again later) when the close frame got through; 1006 when the server had to
  // drop the connection because even the close frame could not be written in time.
  assert.ok([1013, 1006].includes(closed.code), `close code ${closed.code}`);
  const got = slow.events.filter((e) => e.type === 'message').length;
  assert.ok(got < N, `the slow reader got ${got} of ${N} before being cut off`);
});
