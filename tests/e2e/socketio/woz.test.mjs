// The Wizard-of-Oz vocabulary (seed 000) with the official socket.io-client, over each
// transport choice: join {room, role} -> history; participant_message / wizard_message /
// bot_message -> message with the sender's role; text byte for byte.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { call, MODES, RFC3339_MS, TRICKY_TEXT, uid, useServer } from './helpers.mjs';

const ctx = useServer();

for (const mode of Object.keys(MODES)) {
  describe(`Wizard-of-Oz vocabulary, ${mode} transport`, () => {
    it('join -> history; the three message events -> message with the sender role', async () => {
      const room = uid('room');
      const p = await ctx.sio({ mode, name: 'participant' });
      const w = await ctx.sio({ mode, name: 'wizard' });

      p.socket.emit('join', { room, role: 'participant' });
      const h = await p.rec.next('history', (x) => x.room === room);
      assert.deepEqual(h.messages, []);
      const joinAck = await call(w.socket, 'join', { room, role: 'wizard' });
      assert.equal(joinAck.ok, true);
      await w.rec.next('history', (x) => x.room === room);

      p.socket.emit('participant_message', { room, text: TRICKY_TEXT });
      const m1 = await w.rec.next('message', (x) => x.room === room && x.seq === 1);
      assert.equal(m1.sender, 'participant');
      assert.equal(m1.text, TRICKY_TEXT);
      assert.match(m1.timestamp, RFC3339_MS);
      assert.equal((await p.rec.next('message', (x) => x.room === room && x.seq === 1)).text, TRICKY_TEXT);

      const ack = await call(w.socket, 'wizard_message', { room, text: 'Hello **there**\n\n1. a\n2. b' });
      assert.equal(ack.ok, true);
      assert.equal(ack.seq, 2);
      const m2 = await p.rec.next('message', (x) => x.room === room && x.seq === 2);
      assert.equal(m2.sender, 'wizard');
      assert.equal(m2.text, 'Hello **there**\n\n1. a\n2. b');

      w.socket.emit('bot_message', { room, text: '_I am the bot_' });
      const m3 = await p.rec.next('message', (x) => x.room === room && x.seq === 3);
      assert.equal(m3.sender, 'bot');

      // A late joiner gets the whole conversation in order, with each sender's role.
      const late = await ctx.sio({ mode, name: 'late' });
      late.socket.emit('join', { room, role: 'participant' });
      const full = await late.rec.next('history', (x) => x.room === room);
      assert.deepEqual(full.messages.map((x) => [x.sender, x.seq]), [['participant', 1], ['wizard', 2], ['bot', 3]]);
      assert.equal(full.messages[0].text, TRICKY_TEXT);
      assert.ok(full.messages.every((x) => x.room === room && RFC3339_MS.test(x.timestamp)));
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
