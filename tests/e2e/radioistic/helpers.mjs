// radio-istic's clients, as its code at b5e67e5 is written, pointed at Parley:
// - tokens made exactly as backend-api/routes/auth.js makes them (generateToken, line 23-27);
// - the REST calls of lib/api.ts (fetchAPI, lines 61-101, chatAPI lines 291-345);
// - a Socket.IO client that emits and listens to exactly what lib/websocket-context.tsx does
//   (io() options lines 86-95, listeners lines 97-214, emits lines 229-315).
// Each file starts one server (token mode with the app's JWT_SECRET) and upserts the app's
// users through Parley's REST API, as an operator does (docs/socketio.md).

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

import { api as httpApi } from '../lib/http.mjs';
import { startServer } from '../lib/server.mjs';

export { sleep } from '../lib/server.mjs';
export { io, jwt };

export const JWT_SECRET = 'radio-istic-test-secret-at-least-32-characters-long';
export const ADMIN_TOKEN = 'radio-istic-e2e-admin-token-0123456789';
export const kTimeoutMs = 5000;

// routes/auth.js:23-27:
//   const generateToken = (id) => jwt.sign({ id }, process.env.JWT_SECRET, {
//     expiresIn: process.env.JWT_EXPIRE || '7d' });
export const generateToken = (id, secret = JWT_SECRET) =>
  jwt.sign({ id }, secret, { expiresIn: process.env.JWT_EXPIRE || '7d' });

// Mongo ObjectIds, as the app's users, conversations and messages have.
let counter = 0;
export function objectId() {
  counter += 1;
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  const tail = (process.pid * 1000 + counter).toString(16).padStart(16, '0').slice(-16);
  return seconds + tail;
}

// One server per test file: token mode, the app's secret, an admin token for the operator's
// user upserts.
export function useServer(env = {}) {
  const ctx = { server: null };
  before(async () => {
    ctx.server = await startServer({
      env: { AUTH_MODE: 'token', JWT_SECRET, ADMIN_TOKEN, ...env },
    });
  });
  after(async () => {
    if (ctx.server) await ctx.server.stop();
  });
  return ctx;
}

// What an operator (or the app's back end) does for each of its users: PUT /api/users/:id
// with the app's `${firstName} ${lastName}` and avatar (docs/socketio.md, radio-istic).
export async function upsertUser(server, { id, firstName, lastName, avatar }) {
  const res = await httpApi(server.url, 'PUT', `/api/users/${id}`,
    { name: `${firstName} ${lastName}`, avatar },
    { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// A user of the app: its ObjectId, names, avatar and token.
export async function makeUser(server, firstName, lastName, avatar) {
  const user = { id: objectId(), firstName, lastName, avatar: avatar ?? `/uploads/avatars/${firstName}.jpg` };
  await upsertUser(server, user);
  user.name = `${firstName} ${lastName}`;
  user.token = generateToken(user.id);
  return user;
}

// lib/api.ts fetchAPI (lines 61-101): JSON, `Authorization: Bearer <token>` when logged in,
// base NEXT_PUBLIC_API_URL (here Parley's /api). Resolves {status, json}.
export async function chatApi(server, token, endpoint, { method = 'GET', body } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}/api${endpoint}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

// lib/api.ts chatAPI (lines 291-345), call for call.
export const chatAPI = (server, token) => ({
  getConversations: () => chatApi(server, token, '/chat/conversations', { method: 'GET' }),
  getConversation: (id) => chatApi(server, token, `/chat/conversations/${id}`, { method: 'GET' }),
  createConversation: (participantIds, isGroup = false, groupName) =>
    chatApi(server, token, '/chat/conversations', {
      method: 'POST',
      body: JSON.stringify({ participantIds, isGroup, groupName }),
    }),
  sendMessage: (conversationId, content, type = 'text') =>
    chatApi(server, token, '/chat/messages', {
      method: 'POST',
      body: JSON.stringify({ conversationId, content, type }),
    }),
  markAsRead: (messageId) => chatApi(server, token, `/chat/messages/${messageId}/read`, { method: 'PUT' }),
  getUnreadCount: () => chatApi(server, token, '/chat/unread-count', { method: 'GET' }),
  // Not in lib/api.ts, but a route of routes/chat.js (lines 247-277).
  deleteMessage: (messageId) => chatApi(server, token, `/chat/messages/${messageId}`, { method: 'DELETE' }),
});

// The events lib/websocket-context.tsx listens to (lines 97-214).
export const LISTENED = [
  'connect', 'disconnect', 'connect_error', 'online-users', 'user-status-change',
  'receive-message', 'message-sent', 'message-delivered', 'messages-read', 'user-typing',
  'conversation-history',
];

// lib/websocket-context.tsx:86-95, the options of its io() call.
export const ioOptions = (token) => ({
  auth: { token },
  transports: ['websocket', 'polling'],
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 10000,
  randomizationFactor: 0.5,
  timeout: 20000,
});

// The events lib/websocket-context.tsx emits (lines 250, 264, 270, 284, 294, 310).
export const EMITTED = [
  'send-message', 'typing-start', 'typing-stop', 'join-conversation', 'leave-conversation', 'mark-as-read',
];

// The WebSocketProvider of lib/websocket-context.tsx without React: the same io() call, the
// same listeners (recording what they receive), the same emits.
export class RadioClient {
  constructor(server, user, { name = user?.firstName ?? 'client' } = {}) {
    this.user = user;
    this.name = name;
    this.events = []; // {name, arg}
    this.waiters = [];
    this.socket = io(server.url, ioOptions(user.token));
    this.isConnected = false;
    for (const event of LISTENED) {
      this.socket.on(event, (arg) => {
        if (event === 'connect') this.isConnected = true;
        if (event === 'disconnect' || event === 'connect_error') this.isConnected = false;
        this.record(event, arg);
      });
    }
    // The server's `error` events: the context has no listener for them, but the tests check
    // that they come as websocket-server.js sends them.
    this.socket.on('error', (arg) => this.record('error', arg));
    this.socket.on('new-message-notification', (arg) => this.record('new-message-notification', arg));
    this.socket.on('message-error', (arg) => this.record('message-error', arg));
  }

  record(name, arg) {
    this.events.push({ name, arg });
    for (const w of [...this.waiters]) {
      if (w.name === name && w.predicate(arg)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(arg);
      }
    }
  }

  // The first `name` event (recorded from index `from` on) whose argument satisfies predicate.
  next(name, predicate = () => true, { timeoutMs = kTimeoutMs, from = 0 } = {}) {
    for (let i = from; i < this.events.length; i++) {
      const e = this.events[i];
      if (e.name === name && predicate(e.arg)) return Promise.resolve(e.arg);
    }
    return new Promise((resolve, reject) => {
      const w = { name, predicate, resolve, timer: null };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no "${name}" within ${timeoutMs} ms; got ` +
          JSON.stringify(this.events.slice(-8).map((e) => [e.name, e.arg]))));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Asserts that no `name` event matching predicate arrives within `ms`.
  async none(name, predicate = () => true, ms = 400) {
    const from = this.events.length;
    await new Promise((r) => setTimeout(r, ms));
    const got = this.events.slice(from).filter((e) => e.name === name && predicate(e.arg));
    assert.deepEqual(got, [], `${this.name}: unexpected "${name}"`);
  }

  mark() {
    return this.events.length;
  }

  connected() {
    return this.next('connect');
  }

  // lines 229-258
  sendMessage(recipientId, message, conversationId) {
    const tempId = `temp-${Date.now()}-${Math.random()}`;
    this.socket.emit('send-message', {
      conversationId,
      recipientId,
      message,
      senderId: this.user?.id,
      senderName: this.user?.name,
      tempId,
    });
    return tempId;
  }

  // lines 260-275
  typing(conversationId, isTyping, recipientId) {
    if (isTyping) {
      this.socket.emit('typing-start', { conversationId, recipientId, userName: this.user?.name });
    } else {
      this.socket.emit('typing-stop', { conversationId, recipientId });
    }
  }

  // lines 277-288
  join(conversationId) {
    this.socket.emit('join-conversation', { conversationId, userId: this.user?.id });
  }

  // lines 290-298
  leave(conversationId) {
    this.socket.emit('leave-conversation', { conversationId, userId: this.user?.id });
  }

  // lines 300-315 (messageIds given; the context's fallback is its own received messages)
  markAsRead(conversationId, messageIds) {
    const msgIds = messageIds ?? this.events
      .filter((e) => (e.name === 'receive-message' || e.name === 'message-sent') &&
        e.arg.conversationId === conversationId)
      .map((e) => e.arg.id);
    if (msgIds.length === 0) return;
    const received = this.events.find((e) => e.name === 'receive-message' && e.arg.conversationId === conversationId);
    this.socket.emit('mark-as-read', {
      conversationId,
      messageIds: msgIds,
      recipientId: received?.arg.senderId,
    });
  }

  // Not in the context (it is websocket-server.js's `get-online-users` handler, lines 316-319).
  getOnlineUsers() {
    this.socket.emit('get-online-users');
  }

  close() {
    this.socket.disconnect();
  }
}

// Connects a client and waits for its `connect`.
export async function connect(server, user, opts) {
  const c = new RadioClient(server, user, opts);
  await c.connected();
  return c;
}

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const OBJECT_ID = /^[0-9a-f]{24}$/;
