// Retention inside the running server: RETENTION_INTERVAL makes it prune every conversation
// to its policy (RETENTION_KEEP_LAST as the default, settings.keep_last replacing it), and
// a live room's cache must not serve the removed messages to a later join.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import WebSocket from 'ws';

import { login as chatLogin } from '../lib/chat.mjs';
import { api } from '../lib/http.mjs';
import { sleep, startServer } from '../lib/server.mjs';

const login = (server, user) => chatLogin(WebSocket, server, user);

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function seqs(server, conversation) {
  const res = await api(server.url, 'GET', `/api/conversations/${conversation}/messages?after=0&limit=1000`);
  assert.equal(res.status, 200, res.text);
  return res.json.messages.map((m) => m.seq);
}

// Polls until the stored seqs of `conversation` are `expected` (retention runs every second).
async function until(server, conversation, expected, ms = 10_000) {
  const deadline = Date.now() + ms;
  let got;
  while (Date.now() < deadline) {
    got = await seqs(server, conversation);
    if (JSON.stringify(got) === JSON.stringify(expected)) return;
    await sleep(200);
  }
  assert.deepEqual(got, expected, `${conversation} was not pruned in ${ms} ms`);
}

test('a server with a short RETENTION_INTERVAL prunes rooms to their keep_last', async (t) => {
  const server = await startServer({ env: { RETENTION_INTERVAL: '1s', RETENTION_KEEP_LAST: '10' } });
  const clients = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  });
  let res = await api(server.url, 'POST', '/api/conversations', { id: 'general', settings: { keep_last: 5 } });
  assert.equal(res.status, 201, res.text);
  res = await api(server.url, 'POST', '/api/conversations', { id: 'archive', settings: { keep_last: 15 } });
  assert.equal(res.status, 201, res.text);

  // alice stays in every room, so the rooms are live and their caches hold every message.
  const alice = await login(server, 'alice');
  clients.push(alice);
  for (const room of ['general', 'archive', 'plain']) {
    const joined = await alice.request({ op: 'join', conversation: room });
    assert.equal(joined.type, 'history', JSON.stringify(joined));
    for (let i = 1; i <= 20; i++) {
      const ack = await alice.request({ op: 'send', conversation: room, content: `${room} ${i}` });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
    }
  }

  // settings.keep_last 5; settings.keep_last 15 (more than the default: it replaces it);
  // no setting: RETENTION_KEEP_LAST 10.
  await until(server, 'general', range(16, 20));
  await until(server, 'archive', range(6, 20));
  await until(server, 'plain', range(11, 20));
  // (A pass may have run while the messages were being sent: the last one says seq 16.)
  assert.match(server.logs(), /retention: general: removed \d+ message\(s\); history now starts at seq 16/);

  // A new join is served from the live room, which must not hold the removed messages.
  const bob = await login(server, 'bob');
  clients.push(bob);
  const history = await bob.request({ op: 'join', conversation: 'general' });
  assert.equal(history.type, 'history', JSON.stringify(history));
  assert.deepEqual(history.messages.map((m) => m.seq), range(16, 20));
  assert.equal(history.has_more, false);
  assert.equal(history.last_seq, 20);
  const since = await bob.request({ op: 'history', conversation: 'plain', after: 0, limit: 100 });
  assert.deepEqual(since.messages.map((m) => m.seq), range(11, 20));

  // Seqs go on from last_seq; the next pass keeps the newest 5.
  const ack = await alice.request({ op: 'send', conversation: 'general', content: 'after' });
  assert.equal(ack.seq, 21);
  await until(server, 'general', range(17, 21));
  const again = await bob.request({ op: 'history', conversation: 'general', limit: 100 });
  assert.deepEqual(again.messages.map((m) => m.seq), range(17, 21));
});
