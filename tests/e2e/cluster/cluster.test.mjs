// Several servers (PROTOCOL.md "Several servers"): two Parley servers on two ports share one
// throwaway PostgreSQL (scripts/pg-test-cluster.sh) and one Redis (redis-server started
// here as a child). A native client on each; concurrent sends from both into one
// conversation give one gapless seq and every client gets every message in seq order; a REST
// post on one reaches the other's client; presence and typing cross servers; after Redis is
// killed and restarted, messages committed meanwhile reach the other server's client.
//
// Needs Debian's `postgresql` and `redis-server`; skipped when missing.
//   cd tests/e2e/cluster && npm ci && node --test

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';

import { uid, join, login as chatLogin } from '../lib/chat.mjs';
import { api } from '../lib/http.mjs';
import { freePort, repoRoot, sleep, startServer } from '../lib/server.mjs';

const login = (server, user) => chatLogin(WebSocket, server, user);

const script = path.join(repoRoot, 'scripts/pg-test-cluster.sh');
const haveDeps = fs.existsSync('/usr/lib/postgresql') && fs.existsSync('/usr/bin/redis-server');

let pgDir;
let pgUrl;
let redis;
let redisPort;
const servers = [];

async function startRedis() {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  process.on('exit', () => redis?.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(redisPort), 'ping'], { stdio: 'pipe' });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error('redis-server did not start');
}

async function stopRedis() {
  if (!redis) return;
  const r = redis;
  redis = null;
  const exited = new Promise((resolve) => r.once('exit', resolve));
  r.kill('SIGKILL');
  await exited;
}

before(async () => {
  if (!haveDeps) return;
  pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-pg-'));
  pgUrl = execFileSync(script, ['start', pgDir], { encoding: 'utf8' }).trim();
  redisPort = await freePort();
  await startRedis();
  const env = { DATABASE_URL: pgUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}` };
  servers.push(await startServer({ env }));
  servers.push(await startServer({ env }));
});

after(async () => {
  for (const s of servers) {
    await s.stop();
    fs.rmSync(s.dataDir, { recursive: true, force: true });
  }
  await stopRedis();
  if (pgDir) execFileSync(script, ['destroy', pgDir]);
});

const messagesOf = (c, conversation) =>
  c.events.filter((e) => e.type === 'message' && e.message.conversation === conversation).map((e) => e.message);

async function waitUntil(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function stored(server, conversation) {
  const r = await api(server.url, 'GET', `/api/conversations/${conversation}/messages?after=0&limit=1000`);
  assert.equal(r.status, 200, r.text);
  return r.json.messages;
}

describe('several servers with Redis', { skip: !haveDeps && 'needs postgresql and redis-server' }, () => {
  test('concurrent sends on two servers: one gapless seq, every client sees all in order', { timeout: 60000 }, async () => {
    const [s1, s2] = servers;
    const conversation = uid('two');
    const a = await login(s1, `a-${process.pid}`);
    const b = await login(s2, `b-${process.pid}`);
    try {
      await join(a, conversation);
      await join(b, conversation);
      const n = 100;
      const send = async (c, who) => {
        for (let i = 0; i < n; i++) {
          const r = await c.request({ op: 'send', conversation, content: `${who} ${i}`, client_id: `${who}-${i}` }, { timeoutMs: 10000 });
          assert.equal(r.type, 'ack', JSON.stringify(r));
        }
      };
      await Promise.all([send(a, 'a'), send(b, 'b')]);
      const all = await stored(s1, conversation);
      assert.deepEqual(all.map((m) => m.seq), Array.from({ length: 2 * n }, (_, i) => i + 1), 'one gapless seq');
      for (const c of [a, b]) {
        await waitUntil(() => messagesOf(c, conversation).length >= 2 * n, 15000, `${c.name} gets all ${2 * n}`);
        const seqs = messagesOf(c, conversation).map((m) => m.seq);
        assert.deepEqual(seqs, all.map((m) => m.seq), `${c.name} sees every message once, in seq order`);
      }
    } finally {
      a.ws.terminate();
      b.ws.terminate();
    }
  });

  test('REST post, presence and typing cross servers', { timeout: 60000 }, async () => {
    const [s1, s2] = servers;
    const conversation = uid('cross');
    const a = await login(s1, `pa-${process.pid}`);
    try {
      await join(a, conversation);
      const b = await login(s2, `pb-${process.pid}`);
      const joined = await join(b, conversation);
      assert.ok(joined.online.includes(a.name), `the join on s2 lists a (on s1) online: ${JSON.stringify(joined.online)}`);
      await a.next((e) => e.type === 'presence' && e.user === b.name && e.status === 'online', { timeoutMs: 5000, desc: 'b online on s1' });

      const post = await api(s1.url, 'POST', `/api/conversations/${conversation}/messages`,
        { sender: { id: 'bot', name: 'Bot', role: 'bot' }, content: 'from REST on s1' });
      assert.equal(post.status, 201, post.text);
      const ev = await b.next((e) => e.type === 'message' && e.message.content === 'from REST on s1', { timeoutMs: 5000, desc: 'REST post on s2' });
      assert.equal(ev.message.seq, post.json.seq ?? post.json.message?.seq);

      b.send({ op: 'typing', conversation, on: true });
      const typing = await a.next((e) => e.type === 'typing' && e.user === b.name, { timeoutMs: 5000, desc: 'typing from s2' });
      assert.equal(typing.on, true);

      b.ws.close();
      await a.next((e) => e.type === 'presence' && e.user === b.name && e.status === 'offline', { timeoutMs: 5000, desc: 'b offline on s1' });
    } finally {
      a.ws.terminate();
    }
  });

  test('Redis goes away and returns: the other server catches up from the store by seq', { timeout: 60000 }, async () => {
    const [s1, s2] = servers;
    const conversation = uid('redis');
    const a = await login(s1, `ra-${process.pid}`);
    const b = await login(s2, `rb-${process.pid}`);
    try {
      await join(a, conversation);
      await join(b, conversation);
      let r = await a.request({ op: 'send', conversation, content: 'before' });
      assert.equal(r.type, 'ack');
      await waitUntil(() => messagesOf(b, conversation).length === 1, 5000, 'first message on s2');
      await stopRedis();
      for (let i = 0; i < 5; i++) {
        r = await a.request({ op: 'send', conversation, content: `during ${i}` });
        assert.equal(r.type, 'ack', 'each server keeps serving its own clients');
      }
      await startRedis();
      await waitUntil(() => messagesOf(b, conversation).length >= 6, 20000, 'the missed messages on s2');
      r = await a.request({ op: 'send', conversation, content: 'after' });
      await waitUntil(() => messagesOf(b, conversation).length >= 7, 10000, 'the next message on s2');
      assert.deepEqual(messagesOf(b, conversation).map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
    } finally {
      a.ws.terminate();
      b.ws.terminate();
    }
  });
});
