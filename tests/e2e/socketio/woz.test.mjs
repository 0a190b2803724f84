// WebWOz's vocabulary (seed 000, docs/socketio.md "WebWOz") with the official
// socket.io-client over each transport choice, with Parley's extensions the app's own
// clients do not use (acknowledgements with seq, since). The app's clients, event for event,
// are tests/e2e/webwoz/.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { call, MODES, TRICKY_TEXT, uid, useServer } from './helpers.mjs';

const ctx = useServer();
const APP_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;

for (const mode of Object.keys(MODES)) {
  describe(`WebWOz vocabulary, ${mode} transport`, () => {
    it('join -> one new_message per stored message; messages -> new_message with the role', async () => {
      const room = uid('room');
      const p = await ctx.sio({ mode, name: 'participant' });
      const w = await ctx.sio({ mode, name: 'wizard' });

      const pAck = await call(p.socket, 'join', { room, type: 'participant' });
      assert.equal(pAck.ok, true);
      assert.deepEqual(pAck.messages, []);
      const joinAck = await call(w.socket, 'join', { room, type: 'wizard' });
      assert.equal(joinAck.ok, true);
      await w.rec.next('bot_status_changed', (x) => x.room === room);

      p.socket.emit('participant_message', { room, text: TRICKY_TEXT });
      const m1 = await w.rec.next('new_message', (x) => x.room === room && x.text === TRICKY_TEXT);
      assert.deepEqual(Object.keys(m1).sort(), ['room', 'sender', 'text', 'timestamp']);
      assert.equal(m1.sender, 'participant');
      assert.match(m1.timestamp, APP_TIMESTAMP);
      await p.rec.next('new_message', (x) => x.room === room && x.text === TRICKY_TEXT);

      // Acknowledgements carry the seq (a Parley extension).
      const ack = await call(w.socket, 'wizard_response', { room, text: 'Hello **there**\n\n1. a\n2. b' });
      assert.equal(ack.ok, true);
      assert.equal(ack.seq, 2);
      const m2 = await p.rec.next('new_message', (x) => x.room === room && x.sender === 'wizard');
      assert.equal(m2.text, 'Hello **there**\n\n1. a\n2. b');

      w.socket.emit('bot_message', { room, text: '_I am the bot_' });
      const m3 = await p.rec.next('new_message', (x) => x.room === room && x.sender === 'bot');
      assert.equal(m3.text, '_I am the bot_');

      // A late joiner gets the whole conversation in order; `since` gives only what is newer.
      const late = await ctx.sio({ mode, name: 'late' });
      late.socket.emit('join', { room, type: 'participant' });
      await late.rec.next('new_message', (x) => x.sender === 'bot');
      assert.deepEqual(late.rec.events.filter((e) => e.name === 'new_message').map((e) => e.args[0].sender),
        ['participant', 'wizard', 'bot']);
      const again = await ctx.sio({ mode, name: 'again' });
      const sinceAck = await call(again.socket, 'join', { room, type: 'participant', since: 2 });
      assert.deepEqual(sinceAck.messages.map((x) => x.sender), ['bot']);
    });

    it('rejects bad payloads with an error event, and carries on', async () => {
      const room = uid('room');
      const s = await ctx.sio({ mode, name: 'woz-errors' });
      const bad = await call(s.socket, 'participant_message', { room });
      assert.deepEqual([bad.ok, bad.code], [false, 'bad_request']);
      const err = await s.rec.next('error');
      assert.match(err.message, /text/);
      const ok = await call(s.socket, 'participant_message', { room, text: 'fine' });
      assert.equal(ok.ok, true);
    });
  });
}
