// The test clients of this suite are the app's own code, transcribed: this file reads the
// app's sources at b5e67e5 (from RADIOISTIC_GIT_DIR, default the mirror this machine has) and
// checks that the client emits and listens to exactly what lib/websocket-context.tsx does, with
// its io() options, that the server events the socket tests cover are all that
// websocket-server.js handles and emits, and that the REST calls are routes/chat.js's routes.
// Without the sources the file is skipped, loudly.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';

import { EMITTED, ioOptions, LISTENED } from './helpers.mjs';

const GIT_DIR = process.env.RADIOISTIC_GIT_DIR || '/work/.mirror/dhia-ui+radio-istic/repo';
const REV = process.env.RADIOISTIC_REV || 'b5e67e5';
const present = fs.existsSync(GIT_DIR);
if (!present) {
  console.warn(`\n*** radio-istic sources not found at ${GIT_DIR} (set RADIOISTIC_GIT_DIR): ` +
    'the contract checks are SKIPPED ***\n');
}

const show = (path) => execFileSync('git', ['--git-dir', GIT_DIR, 'show', `${REV}:${path}`], { encoding: 'utf8' });
const names = (text, re) => [...new Set([...text.matchAll(re)].map((m) => m[1]))].sort();

test('the client listens to and emits exactly what lib/websocket-context.tsx does', { skip: !present }, () => {
  const src = show('lib/websocket-context.tsx');
  assert.deepEqual(names(src, /newSocket\.on\('([^']+)'/g), [...LISTENED].sort());
  assert.deepEqual(names(src, /socket\.emit\('([^']+)'/g), [...EMITTED].sort());
  // The io() options, key for key and value for value.
  const block = src.slice(src.indexOf('io(SOCKET_URL, {'), src.indexOf('})', src.indexOf('io(SOCKET_URL, {')));
  const keys = names(block, /^\s+(\w+):/gm);
  assert.deepEqual(keys, Object.keys(ioOptions('t')).sort());
  for (const [key, value] of Object.entries(ioOptions('t'))) {
    if (key === 'auth') {
      assert.match(block, /auth: \{ token \}/);
    } else if (key === 'transports') {
      assert.match(block, /transports: \['websocket', 'polling'\]/);
    } else {
      assert.match(block, new RegExp(`${key}: ${value}\\b`), key);
    }
  }
});

test('websocket-server.js handles and emits the events the socket tests cover', { skip: !present }, () => {
  const src = show('backend-api/websocket-server.js');
  assert.deepEqual(names(src, /socket\.on\('([^']+)'/g), [
    'disconnect', 'error', 'get-online-users', 'join-conversation', 'leave-conversation',
    'mark-as-read', 'send-message', 'typing-start', 'typing-stop',
  ]);
  assert.deepEqual(names(src, /\.emit\('([^']+)'/g), [
    'conversation-history', 'error', 'message-error', 'message-sent', 'messages-read',
    'new-message-notification', 'online-users', 'receive-message', 'user-status-change', 'user-typing',
  ]);
  // The token: auth.token or the Authorization header (line 31), verified with JWT_SECRET,
  // its `id` claim the user (lines 38-41), as routes/auth.js signs it (jwt.sign({ id }, ...)).
  assert.match(src, /socket\.handshake\.auth\.token \|\| socket\.handshake\.headers\.authorization/);
  assert.match(src, /User\.findById\(decoded\.id\)/);
  assert.match(show('backend-api/routes/auth.js'), /jwt\.sign\(\{ id \}, process\.env\.JWT_SECRET/);
});

test('the REST calls are the routes of routes/chat.js, as lib/api.ts calls them', { skip: !present }, () => {
  const routes = names(show('backend-api/routes/chat.js'), /router\.(?:get|post|put|delete)\('([^']+)'/g);
  const methods = [...show('backend-api/routes/chat.js').matchAll(/router\.(get|post|put|delete)\('([^']+)'/g)]
    .map((m) => `${m[1].toUpperCase()} ${m[2]}`).sort();
  assert.deepEqual(routes, ['/conversations', '/conversations/:id', '/messages', '/messages/:id',
    '/messages/:id/read', '/unread-count']);
  // rest.test.mjs exercises each of these.
  assert.deepEqual(methods, [
    'DELETE /messages/:id', 'GET /conversations', 'GET /conversations/:id', 'GET /unread-count',
    'POST /conversations', 'POST /messages', 'PUT /messages/:id/read',
  ]);
  assert.match(show('backend-api/server.js'), /app\.use\('\/api\/chat', require\('\.\/routes\/chat'\)\)/);
  const api = show('lib/api.ts');
  for (const call of ["fetchAPI('/chat/conversations', { method: 'GET' })",
    'fetchAPI(`/chat/conversations/${id}`', "fetchAPI('/chat/messages', {",
    'fetchAPI(`/chat/messages/${messageId}/read`', "fetchAPI('/chat/unread-count'"]) {
    assert.ok(api.includes(call), call);
  }
});
