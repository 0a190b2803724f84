// Shared setup of the Socket.IO e2e suite: the real server (one per test file), the official
// socket.io-client v4 in the three transport modes an app can pick, an event recorder with
// timeouts (so a missing event fails the test instead of hanging it), and unique ids.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, afterEach, before } from 'node:test';
import { io } from 'socket.io-client';
import WebSocket from 'ws';

import { api } from '../lib/http.mjs';
import { startServer } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';

export { api, rawRequest } from '../lib/http.mjs';
export { sleep, startServer } from '../lib/server.mjs';
export { TimeoutError, WsClient } from '../lib/wsclient.mjs';
export { io, WebSocket };

export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const kTimeoutMs = 5000;

// The transport choices of socket.io-client: default (polling, then upgrade to WebSocket),
// WebSocket only, long-polling only.
export const MODES = {
  default: {},
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
};

let counter = 0;
export function uid(prefix = 'c') {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}${Date.now().toString(36)}-${counter}`;
}

// Text that must survive byte for byte: markdown, quotes, escapes, non-ASCII, emoji.
export const TRICKY_TEXT =
  '**Bold** _it_ `code`\n- one\n- two\n\n> quote "double" \'single\' \\ back\\slash\t' +
  'tab <b>html</b> & amp; é ü 日本語 🎉 \u2028 end';

// Records every event of a socket.io-client socket, so a test can wait for one that came
// before it started waiting.
export class Recorder {
  constructor(socket, name = '') {
    this.socket = socket;
    this.name = name;
    this.events = []; // {name, args}
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.events.push({ name: event, args });
      for (const w of [...this.waiters]) {
        if (w.match(event, args)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(args[0]);
        }
      }
    });
  }

  // Resolves with the first argument of the first `event` (from index `from` on) whose first
  // argument satisfies `predicate`.
  next(event, predicate = () => true, { timeoutMs = kTimeoutMs, from = 0 } = {}) {
    const match = (name, args) => name === event && predicate(args[0]);
    for (let i = from; i < this.events.length; i++) {
      if (match(this.events[i].name, this.events[i].args)) {
        return Promise.resolve(this.events[i].args[0]);
      }
    }
    return new Promise((resolve, reject) => {
      const w = { match, resolve, timer: null };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no "${event}" within ${timeoutMs} ms; got ` +
          JSON.stringify(this.events.slice(-8).map((e) => [e.name, e.args[0]]))));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  all(event, predicate = () => true) {
    return this.events.filter((e) => e.name === event && predicate(e.args[0])).map((e) => e.args[0]);
  }

  // True if an `event` matching `predicate` arrives (or arrived) within `ms`.
  async arrives(event, predicate, ms, from = 0) {
    try {
      await this.next(event, predicate, { timeoutMs: ms, from });
      return true;
    } catch {
      return false;
    }
  }
}

// Opens a socket.io-client socket to the server and waits until it is connected.
export function connectSio(server, { mode = 'default', auth, name = '', options = {}, registry } = {}) {
  const socket = io(server.url, {
    ...MODES[mode],
    auth,
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    timeout: kTimeoutMs,
    ...options,
  });
  const rec = new Recorder(socket, name || mode);
  registry?.push(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`${name}: not connected within ${kTimeoutMs} ms`));
    }, kTimeoutMs);
    // Only the first outcome counts: a later connect_error (a reconnection attempt while the
    // server is down) must not close the socket and stop its reconnection.
    const onConnect = () => {
      clearTimeout(timer);
      socket.off('connect_error', onError);
      resolve({ socket, rec });
    };
    const onError = (err) => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.close();
      reject(err);
    };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
}

// Emits with an acknowledgement callback; resolves with the ack's argument.
export function call(socket, event, payload, timeoutMs = kTimeoutMs) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

// Resolves when the socket is (re)connected.
export function waitConnect(socket, timeoutMs = 10000) {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not reconnected within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// A native-protocol client (JSON over WebSocket at /ws), authenticated in open mode.
export async function nativeLogin(server, user, registry) {
  const c = await WsClient.connect(WebSocket, server.wsUrl, { name: user });
  registry?.push(c);
  const reply = await c.request({ op: 'auth', user, name: user });
  assert.equal(reply.type, 'ok', JSON.stringify(reply));
  return c;
}

export function removeDir(dir) {
  if (!process.env.PARLEY_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

// Per test file: one server for all its tests; sockets and native clients registered in
// ctx.sockets / ctx.natives are closed after each test.
export function useServer(options = {}) {
  const ctx = {
    server: null,
    sockets: [],
    natives: [],
    sio: (opts = {}) => connectSio(ctx.server, { ...opts, registry: ctx.sockets }),
    native: (user) => nativeLogin(ctx.server, user, ctx.natives),
    api: (method, path, body, opts) => api(ctx.server.url, method, path, body, opts),
  };
  before(async () => {
    ctx.server = await startServer(options);
  });
  afterEach(async () => {
    for (const s of ctx.sockets.splice(0)) s.close();
    await Promise.all(ctx.natives.splice(0).map((c) => c.close().catch(() => {})));
  });
  after(async () => {
    if (ctx.server) {
      await ctx.server.stop();
      removeDir(ctx.server.dataDir);
    }
  });
  return ctx;
}
