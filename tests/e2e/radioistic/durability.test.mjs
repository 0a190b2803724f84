// A message sent through the app's own events (send-message, acknowledged by message-sent)
// survives kill -9 of Parley and comes back in the app's history after a restart: in
// conversation-history on join (websocket-server.js:113-136) and in GET
// /api/chat/conversations/:id (routes/chat.js:54-95).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { chatAPI, connect, makeUser, useServer } from './helpers.mjs';

const ctx = useServer();

test('message-sent means stored: kill -9, restart, the history has every acknowledged message', async () => {
  const a = await makeUser(ctx.server, 'Durable', 'Sender');
  const b = await makeUser(ctx.server, 'Durable', 'Reader');
  const conv = (await chatAPI(ctx.server, a.token).createConversation([a.id, b.id], false)).json.conversation;
  const ca = await connect(ctx.server, a);
  ca.join(conv._id);
  await ca.next('conversation-history', (d) => d.conversationId === conv._id);
  const acked = [];
  for (let i = 0; i < 20; i++) {
    const tempId = ca.sendMessage(b.id, `message ${i} 📻`, conv._id);
    acked.push(await ca.next('message-sent', (d) => d.tempId === tempId));
  }
  // Kill at once, with the last acknowledgement just received.
  const info = await ctx.server.kill('SIGKILL');
  assert.equal(info.signal, 'SIGKILL');
  ca.close();
  await ctx.server.restart();

  const cb = await connect(ctx.server, b);
  cb.join(conv._id);
  const h = await cb.next('conversation-history', (d) => d.conversationId === conv._id);
  assert.deepEqual(h.messages.map((m) => m.id), acked.map((m) => m.id));
  assert.deepEqual(h.messages.map((m) => m.content), acked.map((m) => m.content));
  assert.ok(h.messages.every((m) => m.senderId === a.id && m.senderName === 'Durable Sender'));
  const rest = await chatAPI(ctx.server, a.token).getConversation(conv._id);
  assert.deepEqual(rest.json.messages.map((m) => m._id), acked.map((m) => m.id));
  cb.close();
});
