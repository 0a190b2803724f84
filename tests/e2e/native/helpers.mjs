// Shared setup of the native-protocol e2e suite: one real server per test file, clients that
// are closed after each test, unique conversation ids, and paging through REST.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, afterEach, before } from 'node:test';
import WebSocket from 'ws';

import { api } from '../lib/http.mjs';
import { startServer } from '../lib/server.mjs';
import { TimeoutError, WsClient } from '../lib/wsclient.mjs';

export { join, uid } from '../lib/chat.mjs';
export { api, rawRequest } from '../lib/http.mjs';
export { sleep, startServer } from '../lib/server.mjs';
export { TimeoutError, WsClient } from '../lib/wsclient.mjs';
export { WebSocket };

export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function removeDir(dir) {
  if (!process.env.PARLEY_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

// Opens a connection that is closed after the current test.
export async function connect(server, name = '', registry) {
  const c = await WsClient.connect(WebSocket, server.wsUrl, { name });
  registry?.push(c);
  return c;
}

// Connects and authenticates in open mode: {op:"auth", user, name, role}.
export async function login(server, user, { name, role = 'user', registry } = {}) {
  const c = await connect(server, user, registry);
  const reply = await c.request({ op: 'auth', user, name: name ?? user, role });
  assert.equal(reply.type, 'ok', `auth as ${user}: ${JSON.stringify(reply)}`);
  return c;
}

// Sends `contents` with at most `window` sends in flight; resolves with the acks in send
// order. Fails on the first reply that is not an ack.
export async function sendMany(client, conversation, contents, { window = 16, extra = () => ({}) } = {}) {
  const acks = new Array(contents.length);
  let next = 0;
  async function worker() {
    while (next < contents.length) {
      const i = next++;
      const reply = await client.request(
        { op: 'send', conversation, content: contents[i], ...extra(i) },
        { timeoutMs: 15000 },
      );
      assert.equal(reply.type, 'ack', `send #${i}: ${JSON.stringify(reply)}`);
      acks[i] = reply;
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, contents.length) }, worker));
  return acks;
}

// Every message of `conversation` through REST paging (after=, limit=), oldest first.
export async function allMessages(server, conversation, { pageSize = 1000 } = {}) {
  const out = [];
  let after = 0;
  for (let page = 0; page < 1000; page++) {
    const res = await api(server.url, 'GET',
      `/api/conversations/${encodeURIComponent(conversation)}/messages?after=${after}&limit=${pageSize}`);
    assert.equal(res.status, 200, `GET messages after=${after}: ${res.status} ${res.text}`);
    const { messages, has_more: hasMore } = res.json;
    assert.ok(Array.isArray(messages), `messages page: ${res.text.slice(0, 300)}`);
    out.push(...messages);
    if (!hasMore || messages.length === 0) return out;
    after = messages[messages.length - 1].seq;
  }
  throw new Error('more than 1000 pages of messages');
}

// Resolves true if an event matching `predicate` arrives within `ms`, false otherwise.
export async function arrives(client, predicate, ms, from = 0) {
  try {
    await client.next(predicate, { timeoutMs: ms, from });
    return true;
  } catch (err) {
    if (err instanceof TimeoutError) return false;
    throw err;
  }
}

export const seqsOf = (messages) => messages.map((m) => m.seq);
export const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Per test file: starts one server before the tests, closes every client registered in
// `ctx.clients` after each test, stops the server and removes its data dir at the end.
export function useServer(options = {}) {
  const ctx = {
    server: null,
    clients: [],
    login: (user, opts = {}) => login(ctx.server, user, { ...opts, registry: ctx.clients }),
    connect: (name) => connect(ctx.server, name, ctx.clients),
    api: (method, path, body, opts) => api(ctx.server.url, method, path, body, opts),
  };
  before(async () => {
    ctx.server = await startServer(options);
  });
  afterEach(async () => {
    const clients = ctx.clients.splice(0);
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  });
  after(async () => {
    if (!ctx.server) return;
    const info = await ctx.server.stop();
    if (process.env.PARLEY_E2E_LOG_ON_EXIT) process.stderr.write(ctx.server.logs());
    removeDir(ctx.server.dataDir);
    ctx.exit = info;
  });
  return ctx;
}

// A raw client that keeps every frame in arrival order (replies and events alike), to check
// the order of a reply against the events around it. `closed` resolves when the socket closes.
export async function recorder(url) {
  const ws = new WebSocket(url);
  const frames = [];
  const waiters = [];
  ws.on('message', (data) => {
    frames.push(JSON.parse(String(data)));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise((resolve) => ws.once('close', resolve));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    frames,
    send: (obj) => ws.send(JSON.stringify(obj)),
    async until(predicate, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = frames.find(predicate);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out; last frames: ${JSON.stringify(frames.slice(-5))}`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, Math.min(left, 200));
        });
      }
    },
    close: () => ws.close(),
    closed,
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
  };
}
