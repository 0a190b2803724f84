// Chat steps every e2e suite repeats: unique ids, open-mode login, join. The WebSocket class
// is passed in, as for WsClient (the `ws` package lives in each suite's node_modules).

import assert from 'node:assert/strict';

import { WsClient } from './wsclient.mjs';

let counter = 0;
// A conversation (or user) id unique to this run: letters, digits and dashes.
export function uid(prefix = 'c') {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}${Date.now().toString(36)}-${counter}`;
}

// Connects and authenticates in open mode: {op:"auth", user, name, role}.
export async function login(WebSocket, server, user, { name, role = 'user' } = {}) {
  const c = await WsClient.connect(WebSocket, server.wsUrl, { name: user });
  const reply = await c.request({ op: 'auth', user, name: name ?? user, role });
  assert.equal(reply.type, 'ok', `auth as ${user}: ${JSON.stringify(reply)}`);
  return c;
}

// Joins `conversation` and returns the history reply (which must be a history).
export async function join(client, conversation, extra = {}) {
  const reply = await client.request({ op: 'join', conversation, ...extra });
  assert.equal(reply.type, 'history', `join ${conversation}: ${JSON.stringify(reply)}`);
  return reply;
}
