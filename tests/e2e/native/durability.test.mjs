// Durable before visible: kill -9 mid-traffic loses no acknowledged message, stores none
// twice, keeps seq gapless, and a restart continues seq; SIGTERM drains and exits 0; two
// members see each other's concurrent messages in the same seq order.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { allMessages, join, login, range, removeDir, sleep, startServer, uid } from './helpers.mjs';

const isMsg = (conversation) => (e) => e.type === 'message' && e.message?.conversation === conversation;

// Several clients send to one conversation, each keeping `window` sends in flight, until
// `stop()` or `perClient` sends each. Records every ack by client_id.
function traffic(clients, conversation, { window = 16, perClient = 2000 } = {}) {
  const acked = new Map(); // client_id -> ack
  const sent = new Set(); // client_ids sent (acked or not)
  const errors = [];
  let stopped = false;
  const loops = clients.map(async (c, ci) => {
    let next = 0;
    async function worker() {
      while (!stopped && next < perClient && c.isOpen) {
        const clientId = `${c.name}-${ci}-${next++}`;
        sent.add(clientId);
        let reply;
        try {
          reply = await c.request({ op: 'send', conversation, content: `payload ${clientId}`, client_id: clientId },
            { timeoutMs: 10000 });
        } catch {
          return; // connection gone (the server was killed): the send is unacknowledged
        }
        if (reply.type === 'ack') acked.set(clientId, reply);
        else errors.push(reply);
      }
    }
    await Promise.all(Array.from({ length: window }, worker));
  });
  return {
    acked,
    sent,
    errors,
    stop() {
      stopped = true;
    },
    done: Promise.all(loops),
  };
}

async function waitUntil(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// Every acked message is stored once with its acked id and seq; seqs are 1..n gapless;
// nothing stored twice; only messages that were sent.
function assertDurable(stored, run, label) {
  assert.deepEqual(stored.map((m) => m.seq), range(1, stored.length), `${label}: gapless seq 1..${stored.length}`);
  const byClientId = new Map();
  for (const m of stored) {
    assert.ok(m.client_id, `${label}: stored message without client_id: ${JSON.stringify(m)}`);
    assert.ok(!byClientId.has(m.client_id), `${label}: ${m.client_id} stored twice`);
    assert.ok(run.sent.has(m.client_id), `${label}: stored ${m.client_id} that was never sent`);
    byClientId.set(m.client_id, m);
  }
  assert.equal(new Set(stored.map((m) => m.id)).size, stored.length, `${label}: ids unique`);
  const lost = [];
  for (const [clientId, ack] of run.acked) {
    const m = byClientId.get(clientId);
    if (!m) {
      lost.push(clientId);
      continue;
    }
    assert.equal(m.id, ack.id, `${label}: ${clientId} id`);
    assert.equal(m.seq, ack.seq, `${label}: ${clientId} seq`);
    assert.equal(m.content, `payload ${clientId}`);
  }
  assert.deepEqual(lost.slice(0, 20), [], `${label}: ${lost.length} acknowledged messages lost of ${run.acked.size}`);
}

describe('durability', () => {
  test('kill -9 mid-traffic loses no acknowledged message; restart continues seq', { timeout: 120000 }, async (t) => {
    const server = await startServer();
    try {
      const conversation = uid('crash');
      const clients = [];
      for (const name of ['k1', 'k2', 'k3', 'k4']) {
        const c = await login(server, `${name}-${process.pid}`);
        c.name = name;
        await join(c, conversation);
        clients.push(c);
      }
      const run = traffic(clients, conversation, { window: 16, perClient: 2000 });
      // Let traffic build up, then pull the plug while sends are in flight.
      await waitUntil(() => run.acked.size >= 400 || run.errors.length > 0, 30000, '400 acks');
      assert.deepEqual(run.errors.slice(0, 3), [], 'sends before the kill were acked');
      const exit = await server.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL');
      run.stop();
      await run.done;
      assert.ok(run.sent.size > run.acked.size || run.sent.size === 8000, 'sends were in flight at the kill');

      await server.restart();
      const stored = await allMessages(server, conversation);
      assertDurable(stored, run, 'after kill -9');
      assert.ok(stored.length >= run.acked.size);
      t.diagnostic(`kill -9: ${run.sent.size} sent, ${run.acked.size} acked, ${stored.length} stored`);

      // A client retrying everything it sent (as after a lost connection) duplicates nothing,
      // and gets the original seq for what was stored.
      const retry = await login(server, `k1-${process.pid}`);
      const mine = [...run.sent].filter((id) => id.startsWith('k1-')).slice(-40);
      const storedByClientId = new Map(stored.map((m) => [m.client_id, m]));
      for (const clientId of mine) {
        const reply = await retry.request({ op: 'send', conversation, content: `payload ${clientId}`, client_id: clientId });
        assert.equal(reply.type, 'ack', JSON.stringify(reply));
        const before = storedByClientId.get(clientId);
        if (before) assert.equal(reply.seq, before.seq, `retry of stored ${clientId} keeps its seq`);
      }
      const afterRetry = await allMessages(server, conversation);
      const newOnes = mine.filter((id) => !storedByClientId.has(id)).length;
      assert.equal(afterRetry.length, stored.length + newOnes, 'retries stored only the missing ones');
      assertDurable(afterRetry, run, 'after retries');

      // Restart continues seq.
      const next = await retry.request({ op: 'send', conversation, content: 'after restart' });
      assert.equal(next.type, 'ack', JSON.stringify(next));
      assert.equal(next.seq, afterRetry.length + 1, 'seq continues after the restart');
      await retry.close();
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  });

  test('SIGTERM: clients get close 1001, the server exits 0, acked messages are kept', { timeout: 90000 }, async (t) => {
    const server = await startServer();
    try {
      const conversation = uid('term');
      const idle = await login(server, `idle-${process.pid}`);
      await join(idle, conversation);
      const clients = [];
      for (const name of ['t1', 't2']) {
        const c = await login(server, `${name}-${process.pid}`);
        c.name = name;
        await join(c, conversation);
        clients.push(c);
      }
      const run = traffic(clients, conversation, { window: 8, perClient: 2000 });
      await waitUntil(() => run.acked.size >= 200 || run.errors.length > 0, 30000, '200 acks');
      const exit = await server.kill('SIGTERM', 15000);
      run.stop();
      await run.done;
      assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM; log:\n${server.logs().slice(-2000)}`);
      const closed = await idle.waitClose(2000);
      assert.equal(closed.code, 1001, `close code on shutdown: ${JSON.stringify(closed)}`);

      await server.restart();
      const stored = await allMessages(server, conversation);
      assertDurable(stored, run, 'after SIGTERM');
      t.diagnostic(`SIGTERM: ${run.sent.size} sent, ${run.acked.size} acked, ${stored.length} stored`);
      const c = await login(server, `after-${process.pid}`);
      const next = await c.request({ op: 'send', conversation, content: 'after restart' });
      assert.equal(next.seq, stored.length + 1, 'seq continues after the restart');
      await c.close();
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  });

  test('two members sending at once see each other\'s messages in the same seq order', { timeout: 60000 }, async () => {
    const server = await startServer();
    const clients = [];
    try {
      const conversation = uid('concurrent');
      const open = async (user) => {
        const c = await login(server, user);
        c.name = user;
        await join(c, conversation);
        clients.push(c);
        return c;
      };
      const a = await open('cc-alice');
      const b = await open('cc-bob');
      const aWatch = await open('cc-alice'); // alice's second connection
      const bWatch = await open('cc-bob');
      const n = 60;
      const send = async (c, who) => {
        const acks = [];
        let next = 0;
        const worker = async () => {
          while (next < n) {
            const i = next++;
            const r = await c.request({ op: 'send', conversation, content: `${who} ${i}` }, { timeoutMs: 15000 });
            assert.equal(r.type, 'ack', JSON.stringify(r));
            acks.push(r);
          }
        };
        await Promise.all(Array.from({ length: 8 }, worker));
        return acks;
      };
      const [acksA, acksB] = await Promise.all([send(a, 'alice'), send(b, 'bob')]);
      const allSeqs = [...acksA, ...acksB].map((x) => x.seq).sort((x, y) => x - y);
      assert.deepEqual(allSeqs, range(1, 2 * n), 'acks cover 1..2n once each');

      const watchA = (await aWatch.collect(isMsg(conversation), 2 * n)).map((e) => e.message);
      const watchB = (await bWatch.collect(isMsg(conversation), 2 * n)).map((e) => e.message);
      assert.deepEqual(watchA.map((m) => m.seq), range(1, 2 * n), 'alice sees seq order');
      assert.deepEqual(watchB.map((m) => m.seq), range(1, 2 * n), 'bob sees seq order');
      assert.deepEqual(watchA.map((m) => m.id), watchB.map((m) => m.id), 'same messages in the same order');
      // The senders themselves see the other's messages, in increasing seq.
      const bAtA = (await a.collect((e) => isMsg(conversation)(e) && e.message.sender.id === 'cc-bob', n)).map((e) => e.message.seq);
      const aAtB = (await b.collect((e) => isMsg(conversation)(e) && e.message.sender.id === 'cc-alice', n)).map((e) => e.message.seq);
      assert.deepEqual(bAtA, [...bAtA].sort((x, y) => x - y), 'alice sees bob\'s messages in seq order');
      assert.deepEqual(aAtB, [...aAtB].sort((x, y) => x - y), 'bob sees alice\'s messages in seq order');
      assert.deepEqual(bAtA, acksB.map((x) => x.seq).sort((x, y) => x - y));
      const stored = await allMessages(server, conversation);
      assert.deepEqual(stored.map((m) => m.id), watchA.map((m) => m.id), 'stored order is the order seen');
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await server.stop();
      removeDir(server.dataDir);
    }
  });
});
