// A native client (JSON over WebSocket at /ws) and Socket.IO clients of both vocabularies in
// one room: each sees the others' messages, typing and reads.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { call, MODES, TRICKY_TEXT, uid, useServer } from './helpers.mjs';

const ctx = useServer();

describe('native and Socket.IO clients in one room', () => {
  for (const mode of Object.keys(MODES)) {
    it(`messages cross both ways (${mode} transport)`, async () => {
      const conv = uid('conv');
      const nativeUser = uid('nat');
      const sioUser = uid('sio');
      const n = await ctx.native(nativeUser);
      const join = await n.request({ op: 'join', conversation: conv });
      assert.equal(join.type, 'history');
      const s = await ctx.sio({ mode, name: 'sio', auth: { userId: sioUser, name: 'Sio' } });
      await call(s.socket, 'join-conversation', { conversationId: conv });
      const woz = await ctx.sio({ mode, name: 'woz' });
      await call(woz.socket, 'join', { room: conv, type: 'wizard' });

      // Native -> Socket.IO (both vocabularies).
      const ack = await n.request({ op: 'send', conversation: conv, content: TRICKY_TEXT });
      assert.equal(ack.type, 'ack');
      const m = await s.rec.next('receive-message', (x) => x.conversationId === conv && x.seq === ack.seq);
      assert.equal(m.content, TRICKY_TEXT);
      assert.equal(m.senderId, nativeUser);
      const wm = await woz.rec.next('new_message', (x) => x.room === conv && x.text === TRICKY_TEXT);
      assert.equal(wm.text, TRICKY_TEXT);
      assert.equal(wm.sender, 'user');

      // Socket.IO (messaging) -> native and WoZ.
      const sent = await call(s.socket, 'send-message', { conversationId: conv, content: 'from socket.io' });
      assert.equal(sent.ok, true);
      const got = await n.next((e) => e.type === 'message' && e.message.seq === sent.seq);
      assert.equal(got.message.content, 'from socket.io');
      assert.equal(got.message.sender.id, sioUser);
      assert.equal(got.message.id, sent.id);
      await woz.rec.next('new_message', (x) => x.room === conv && x.text === 'from socket.io');

      // Socket.IO (WoZ) -> native and messaging.
      const wz = await call(woz.socket, 'wizard_response', { room: conv, text: 'from the wizard' });
      const gotW = await n.next((e) => e.type === 'message' && e.message.seq === wz.seq);
      assert.equal(gotW.message.sender.role, 'wizard');
      const mW = await s.rec.next('receive-message', (x) => x.seq === wz.seq && x.conversationId === conv);
      assert.equal(mW.content, 'from the wizard');
      assert.equal(mW.senderRole, 'wizard');

      // Typing and reads cross too.
      await n.send({ op: 'typing', conversation: conv, on: true });
      const t = await s.rec.next('user-typing', (x) => x.conversationId === conv && x.userId === nativeUser);
      assert.equal(t.isTyping, true);
      await call(s.socket, 'typing', { conversationId: conv, isTyping: true });
      const nt = await n.next((e) => e.type === 'typing' && e.user === sioUser);
      assert.equal(nt.on, true);
      await call(s.socket, 'mark-as-read', { conversationId: conv, seq: wz.seq });
      const r = await n.next((e) => e.type === 'read' && e.user === sioUser);
      assert.equal(r.seq, wz.seq);
    });
  }
});
