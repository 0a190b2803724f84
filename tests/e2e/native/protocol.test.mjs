// The native protocol of PROTOCOL.md ("JSON over WebSocket at /ws"), op by op, against the
// real server: auth, join (history, since, limit), leave, presence, send/ack/fan-out,
// idempotent client_id, edit, delete, read, typing, history paging, ping.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { RFC3339_MS, allMessages, arrives, join, range, sendMany, seqsOf, uid, useServer } from './helpers.mjs';

const ctx = useServer();
const T = { timeout: 30000 };

const isMsg = (conversation) => (e) => e.type === 'message' && e.message?.conversation === conversation;
const isPresence = (conversation, user, status) => (e) =>
  e.type === 'presence' && e.conversation === conversation && e.user === user && e.status === status;

describe('auth', () => {
  test('open-mode auth replies ok with the user', T, async () => {
    const c = await ctx.connect('auth');
    const reply = await c.request({ op: 'auth', ref: 'a-1', user: 'auth-alice', name: 'Alice', role: 'participant' });
    assert.equal(reply.type, 'ok', JSON.stringify(reply));
    assert.equal(reply.ref, 'a-1');
    assert.deepEqual(
      { id: reply.user?.id, name: reply.user?.name, role: reply.user?.role },
      { id: 'auth-alice', name: 'Alice', role: 'participant' },
    );
  });

  test('ops before auth are unauthorized; the connection carries on', T, async () => {
    const c = await ctx.connect('anon');
    const conversation = uid('unauth');
    for (const op of [
      { op: 'join', conversation },
      { op: 'send', conversation, content: 'hi' },
      { op: 'history', conversation },
      { op: 'read', conversation, seq: 1 },
    ]) {
      const reply = await c.request(op);
      assert.equal(reply.type, 'error', `${op.op} before auth: ${JSON.stringify(reply)}`);
      assert.equal(reply.code, 'unauthorized', `${op.op} before auth: ${JSON.stringify(reply)}`);
      assert.equal(typeof reply.message, 'string');
    }
    const ok = await c.request({ op: 'auth', user: 'late-auth' });
    assert.equal(ok.type, 'ok', JSON.stringify(ok));
    await join(c, conversation);
    const res = await ctx.api('GET', `/api/conversations/${conversation}/messages`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.messages, [], 'nothing was stored by the unauthorized send');
  });
});

describe('ping', () => {
  test('ping gets pong with the same ref (number or string)', T, async () => {
    const c = await ctx.login('pinger');
    assert.deepEqual(await c.request({ op: 'ping', ref: 42 }), { type: 'pong', ref: 42 });
    assert.deepEqual(await c.request({ op: 'ping', ref: 'p-x' }), { type: 'pong', ref: 'p-x' });
  });

  // docs/protocol.md: "the reply carries the same ref, byte for byte" (issue 14: a 30-digit
  // number came back as 1.2345678901234568E29, an object ref was dropped).
  test('ref comes back byte for byte, whatever JSON value it is', T, async () => {
    const c = await ctx.login('pinger-raw');
    const reply = (frame) => new Promise((resolve) => {
      c.ws.once('message', (data) => resolve(data.toString('utf8')));
      c.ws.send(frame);
    });
    assert.equal(await reply('{"op":"ping","ref":123456789012345678901234567890}'),
      '{"type":"pong","ref":123456789012345678901234567890}');
    assert.equal(await reply('{"op":"ping","ref":{"id":7, "at":1.50}}'), '{"type":"pong","ref":{"id":7, "at":1.50}}');
    assert.equal(await reply('{"ref":"caf\\u00e9","op":"ping"}'), '{"type":"pong","ref":"caf\\u00e9"}');
    assert.equal(await reply('{"op":"fly","ref":[1e2]}'),
      '{"type":"error","ref":[1e2],"code":"bad_request","message":"unknown op"}');
  });
});

describe('join', () => {
  test('the first join creates the conversation with an empty history', T, async () => {
    const conversation = uid('new');
    const c = await ctx.login('joiner');
    const h = await c.request({ op: 'join', conversation, ref: 7 });
    assert.equal(h.type, 'history', JSON.stringify(h));
    assert.equal(h.ref, 7);
    assert.equal(h.conversation, conversation);
    assert.deepEqual(h.messages, []);
    assert.equal(h.has_more, false);
    assert.equal(h.last_seq, 0);
    assert.equal(h.read_seq, 0);
    const res = await ctx.api('GET', `/api/conversations/${conversation}`);
    assert.equal(res.status, 200, `conversation created on first join: ${res.status} ${res.text}`);
    assert.equal(res.json.id, conversation);
  });

  test('join returns the last `limit` messages oldest first, with has_more', T, async () => {
    const conversation = uid('last-n');
    const a = await ctx.login('ln-alice');
    await join(a, conversation);
    await sendMany(a, conversation, ['m1', 'm2', 'm3', 'm4', 'm5'], { window: 1 });
    const b = await ctx.login('ln-bob');
    const h3 = await join(b, conversation, { limit: 3 });
    assert.deepEqual(seqsOf(h3.messages), [3, 4, 5]);
    assert.deepEqual(h3.messages.map((m) => m.content), ['m3', 'm4', 'm5']);
    assert.equal(h3.has_more, true);
    assert.equal(h3.last_seq, 5);
    const h10 = await join(b, conversation, { limit: 10 });
    assert.deepEqual(seqsOf(h10.messages), [1, 2, 3, 4, 5]);
    assert.equal(h10.has_more, false);
    assert.equal(h10.last_seq, 5);
  });

  test('join defaults to the last 100 messages and caps limit at 1000', { timeout: 90000 }, async () => {
    const conversation = uid('caps');
    const a = await ctx.login('cap-alice');
    await join(a, conversation);
    const n = 1005;
    await sendMany(a, conversation, range(1, n).map((i) => `bulk ${i}`), { window: 64 });
    const b = await ctx.login('cap-bob');
    const dflt = await join(b, conversation);
    assert.deepEqual(seqsOf(dflt.messages), range(n - 99, n), 'default: the last 100, oldest first');
    assert.equal(dflt.has_more, true);
    assert.equal(dflt.last_seq, n);
    const big = await join(b, conversation, { limit: 5000 });
    assert.equal(big.messages.length, 1000, 'limit is capped at 1000');
    assert.deepEqual(seqsOf(big.messages), range(n - 999, n));
    assert.equal(big.has_more, true);
  });

  test('join with since returns exactly the messages a disconnected client missed', T, async () => {
    const conversation = uid('since');
    const a = await ctx.login('since-alice');
    await join(a, conversation);
    const b = await ctx.login('since-bob');
    await join(b, conversation);
    await sendMany(a, conversation, ['one', 'two', 'three'], { window: 1 });
    const seen = await b.collect(isMsg(conversation), 3, { desc: 'messages' });
    const lastSeen = seen[seen.length - 1].message.seq;
    assert.equal(lastSeen, 3);
    await b.terminate(); // network drop: no leave, no close frame

    const missed = await sendMany(a, conversation, ['four', 'five', 'six', 'seven'], { window: 1 });
    const b2 = await ctx.login('since-bob');
    const h = await join(b2, conversation, { since: lastSeen });
    assert.deepEqual(seqsOf(h.messages), [4, 5, 6, 7]);
    assert.deepEqual(h.messages.map((m) => m.content), ['four', 'five', 'six', 'seven']);
    assert.deepEqual(h.messages.map((m) => m.id), missed.map((ack) => ack.id));
    assert.equal(h.has_more, false);
    assert.equal(h.last_seq, 7);
    const none = await join(b2, conversation, { since: 7 });
    assert.deepEqual(none.messages, []);
    assert.equal(none.has_more, false);
  });

  test('join with since pages by limit with has_more', T, async () => {
    const conversation = uid('since-page');
    const a = await ctx.login('sp-alice');
    await join(a, conversation);
    await sendMany(a, conversation, ['1', '2', '3', '4', '5'], { window: 1 });
    const b = await ctx.login('sp-bob');
    const p1 = await join(b, conversation, { since: 0, limit: 2 });
    assert.deepEqual(seqsOf(p1.messages), [1, 2]);
    assert.equal(p1.has_more, true);
    const p2 = await join(b, conversation, { since: 2, limit: 2 });
    assert.deepEqual(seqsOf(p2.messages), [3, 4]);
    assert.equal(p2.has_more, true);
    const p3 = await join(b, conversation, { since: 4, limit: 2 });
    assert.deepEqual(seqsOf(p3.messages), [5]);
    assert.equal(p3.has_more, false);
    assert.equal(p3.last_seq, 5);
  });
});

describe('presence and leave', () => {
  test('join announces online, leave replies ok and announces offline', T, async () => {
    const conversation = uid('presence');
    const b = await ctx.login('pr-bob');
    await join(b, conversation);
    const a = await ctx.login('pr-alice');
    await join(a, conversation);
    const online = await b.next(isPresence(conversation, 'pr-alice', 'online'), { desc: 'online presence' });
    assert.equal(online.type, 'presence');
    const left = await a.request({ op: 'leave', conversation, ref: 'lv' });
    assert.deepEqual(left, { type: 'ok', ref: 'lv' });
    await b.next(isPresence(conversation, 'pr-alice', 'offline'), { desc: 'offline presence' });
    // After leaving, the room's messages no longer reach a.
    const from = a.events.length;
    await sendMany(b, conversation, ['after leave'], { window: 1 });
    await b.request({ op: 'ping' });
    assert.equal(await arrives(a, isMsg(conversation), 500, from), false, 'a left but still got a message');
  });

  test('offline only when the user has no other connection in the room', T, async () => {
    const conversation = uid('presence-multi');
    const b = await ctx.login('pm-bob');
    await join(b, conversation);
    const a1 = await ctx.login('pm-alice');
    const a2 = await ctx.login('pm-alice');
    await join(a1, conversation);
    await join(a2, conversation);
    await b.next(isPresence(conversation, 'pm-alice', 'online'));
    const from = b.events.length;
    assert.equal((await a1.request({ op: 'leave', conversation })).type, 'ok');
    assert.equal(
      await arrives(b, isPresence(conversation, 'pm-alice', 'offline'), 700, from),
      false,
      'offline was announced while pm-alice still had a connection in the room',
    );
    await a2.close();
    await b.next(isPresence(conversation, 'pm-alice', 'offline'), { from, desc: 'offline after the last connection closed' });
  });

  test('a dropped connection announces offline', T, async () => {
    const conversation = uid('presence-drop');
    const b = await ctx.login('pd-bob');
    await join(b, conversation);
    const c = await ctx.login('pd-carol');
    await join(c, conversation);
    await b.next(isPresence(conversation, 'pd-carol', 'online'));
    await c.terminate();
    await b.next(isPresence(conversation, 'pd-carol', 'offline'), { desc: 'offline after a dropped connection' });
  });
});

describe('send', () => {
  test('send is acked and reaches every member, the sender\'s other connection included', T, async () => {
    const conversation = uid('send');
    const a1 = await ctx.login('s-alice', { name: 'Alice', role: 'user' });
    const a2 = await ctx.login('s-alice', { name: 'Alice', role: 'user' });
    const b = await ctx.login('s-bob');
    for (const c of [a1, a2, b]) await join(c, conversation);
    const ack = await a1.request({ op: 'send', conversation, content: 'hello world', ref: 'snd-1' });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    assert.equal(ack.ref, 'snd-1');
    assert.equal(typeof ack.id, 'string');
    assert.ok(ack.id.length > 0);
    assert.equal(ack.seq, 1);
    assert.match(ack.created_at, RFC3339_MS);
    const expected = {
      id: ack.id,
      conversation,
      seq: 1,
      sender: { id: 's-alice', name: 'Alice', role: 'user' },
      kind: 'text',
      content: 'hello world',
      meta: {},
      created_at: ack.created_at,
      edited_at: null,
      deleted: false,
      client_id: null,
    };
    for (const c of [a2, b]) {
      const ev = await c.next(isMsg(conversation), { desc: `message at ${c.name}` });
      assert.deepEqual(ev, { type: 'message', message: expected });
    }
  });

  test('kind and meta are stored and broadcast as given', T, async () => {
    const conversation = uid('kind');
    const a = await ctx.login('k-alice');
    const b = await ctx.login('k-bob');
    await join(a, conversation);
    await join(b, conversation);
    const meta = { url: 'https://example.invalid/cat.png', w: 640, tags: ['a', 'b'] };
    const ack = await a.request({ op: 'send', conversation, content: 'a cat', kind: 'image', meta });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const ev = await b.next(isMsg(conversation));
    assert.equal(ev.message.kind, 'image');
    assert.deepEqual(ev.message.meta, meta);
    const stored = await allMessages(ctx.server, conversation);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].kind, 'image');
    assert.deepEqual(stored[0].meta, meta);
  });

  test('messages reach members in seq order, gapless, in the sender\'s order', T, async () => {
    const conversation = uid('order');
    const a = await ctx.login('o-alice');
    const b = await ctx.login('o-bob');
    await join(a, conversation);
    await join(b, conversation);
    const contents = range(1, 40).map((i) => `msg ${i}`);
    const acks = await sendMany(a, conversation, contents, { window: 10 });
    assert.deepEqual(acks.map((x) => x.seq), range(1, 40), 'acks carry seq in send order');
    const got = await b.collect(isMsg(conversation), 40, { desc: 'messages' });
    assert.deepEqual(got.map((e) => e.message.seq), range(1, 40));
    assert.deepEqual(got.map((e) => e.message.content), contents);
  });

  test('a repeated client_id returns the original ack, is not broadcast or stored again', T, async () => {
    const conversation = uid('idem');
    const a = await ctx.login('i-alice');
    const b = await ctx.login('i-bob');
    await join(a, conversation);
    await join(b, conversation);
    const first = await a.request({ op: 'send', conversation, content: 'once', client_id: 'cid-1' });
    assert.equal(first.type, 'ack', JSON.stringify(first));
    const again = await a.request({ op: 'send', conversation, content: 'once', client_id: 'cid-1' });
    assert.equal(again.type, 'ack', JSON.stringify(again));
    assert.equal(again.id, first.id);
    assert.equal(again.seq, first.seq);
    assert.equal(again.created_at, first.created_at);
    // A marker after both: by the time b has it, a second broadcast would have come first.
    await a.request({ op: 'send', conversation, content: 'marker' });
    await b.next((e) => isMsg(conversation)(e) && e.message.content === 'marker');
    const copies = b.events.filter((e) => isMsg(conversation)(e) && e.message.client_id === 'cid-1');
    assert.equal(copies.length, 1, `broadcast ${copies.length} times`);
    assert.equal(copies[0].message.content, 'once');
    // Same client_id from another sender is another message.
    const other = await b.request({ op: 'send', conversation, content: 'bob once', client_id: 'cid-1' });
    assert.equal(other.type, 'ack', JSON.stringify(other));
    assert.notEqual(other.id, first.id);
    const stored = await allMessages(ctx.server, conversation);
    assert.deepEqual(seqsOf(stored), [1, 2, 3]);
    assert.equal(stored.filter((m) => m.client_id === 'cid-1' && m.sender.id === 'i-alice').length, 1);
  });
});

describe('edit and delete', () => {
  test('editing an own message replies ok and broadcasts edited', T, async () => {
    const conversation = uid('edit');
    const a = await ctx.login('e-alice');
    const b = await ctx.login('e-bob');
    await join(a, conversation);
    await join(b, conversation);
    const [ack] = await sendMany(a, conversation, ['first draft']);
    const ok = await a.request({ op: 'edit', conversation, seq: ack.seq, content: 'final text', ref: 'ed' });
    assert.deepEqual(ok, { type: 'ok', ref: 'ed' });
    const ev = await b.next((e) => e.type === 'edited', { desc: 'edited event' });
    assert.equal(ev.message.id, ack.id);
    assert.equal(ev.message.seq, ack.seq);
    assert.equal(ev.message.conversation, conversation);
    assert.equal(ev.message.content, 'final text');
    assert.match(ev.message.edited_at ?? '', RFC3339_MS);
    const [stored] = await allMessages(ctx.server, conversation);
    assert.equal(stored.content, 'final text');
    assert.match(stored.edited_at ?? '', RFC3339_MS);
  });

  test('editing another user\'s message is forbidden and changes nothing', T, async () => {
    const conversation = uid('edit-forbidden');
    const a = await ctx.login('ef-alice');
    const b = await ctx.login('ef-bob');
    await join(a, conversation);
    await join(b, conversation);
    const [ack] = await sendMany(a, conversation, ['mine']);
    const reply = await b.request({ op: 'edit', conversation, seq: ack.seq, content: 'hijacked' });
    assert.equal(reply.type, 'error', JSON.stringify(reply));
    assert.equal(reply.code, 'forbidden');
    const [stored] = await allMessages(ctx.server, conversation);
    assert.equal(stored.content, 'mine');
    assert.equal(stored.edited_at, null);
  });

  test('deleting an own message broadcasts deleted; it keeps its seq, content emptied', T, async () => {
    const conversation = uid('delete');
    const a = await ctx.login('d-alice');
    const b = await ctx.login('d-bob');
    await join(a, conversation);
    await join(b, conversation);
    const acks = await sendMany(a, conversation, ['keep', 'secret', 'keep too'], { window: 1 });
    const ok = await a.request({ op: 'delete', conversation, seq: acks[1].seq, ref: 'del' });
    assert.deepEqual(ok, { type: 'ok', ref: 'del' });
    const ev = await b.next((e) => e.type === 'deleted', { desc: 'deleted event' });
    assert.deepEqual(ev, { type: 'deleted', conversation, seq: 2 });
    const h = await join(b, conversation);
    assert.deepEqual(seqsOf(h.messages), [1, 2, 3]);
    assert.equal(h.messages[1].deleted, true);
    assert.equal(h.messages[1].content, '');
    assert.equal(h.last_seq, 3);
    const [next] = await sendMany(a, conversation, ['after delete']);
    assert.equal(next.seq, 4, 'seq continues after a delete');
  });

  test('deleting another user\'s message is forbidden', T, async () => {
    const conversation = uid('delete-forbidden');
    const a = await ctx.login('df-alice');
    const b = await ctx.login('df-bob');
    await join(a, conversation);
    await join(b, conversation);
    const [ack] = await sendMany(a, conversation, ['not yours']);
    const reply = await b.request({ op: 'delete', conversation, seq: ack.seq });
    assert.equal(reply.type, 'error', JSON.stringify(reply));
    assert.equal(reply.code, 'forbidden');
    const [stored] = await allMessages(ctx.server, conversation);
    assert.equal(stored.deleted, false);
    assert.equal(stored.content, 'not yours');
  });

  test('editing or deleting a seq that does not exist is not_found', T, async () => {
    const conversation = uid('edit-missing');
    const a = await ctx.login('em-alice');
    await join(a, conversation);
    await sendMany(a, conversation, ['only one']);
    const e = await a.request({ op: 'edit', conversation, seq: 99, content: 'x' });
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, 'not_found');
    const d = await a.request({ op: 'delete', conversation, seq: 99 });
    assert.equal(d.type, 'error', JSON.stringify(d));
    assert.equal(d.code, 'not_found');
  });
});

describe('read', () => {
  test('read replies ok, broadcasts read, and sets read_seq for the next join', T, async () => {
    const conversation = uid('read');
    const a = await ctx.login('r-alice');
    const b = await ctx.login('r-bob');
    await join(a, conversation);
    await join(b, conversation);
    await sendMany(a, conversation, ['1', '2', '3'], { window: 1 });
    const ok = await b.request({ op: 'read', conversation, seq: 2, ref: 'rd' });
    assert.deepEqual(ok, { type: 'ok', ref: 'rd' });
    const ev = await a.next((e) => e.type === 'read', { desc: 'read event' });
    assert.deepEqual(ev, { type: 'read', conversation, user: 'r-bob', seq: 2 });
    const b2 = await ctx.login('r-bob');
    const h = await join(b2, conversation);
    assert.equal(h.read_seq, 2);
    assert.equal(h.last_seq, 3);
    const ha = await join(a, conversation);
    // Read state is per user: bob's read is not alice's (hers is 0, or 3 if sending marks read).
    assert.ok([0, 3].includes(ha.read_seq), `alice's read_seq: ${ha.read_seq}`);
  });
});

describe('typing', () => {
  test('typing reaches the others, not the sender, and is never stored', T, async () => {
    const conversation = uid('typing');
    const a = await ctx.login('t-alice');
    const b = await ctx.login('t-bob');
    await join(a, conversation);
    await join(b, conversation);
    const none = await a.request({ op: 'typing', conversation, on: true, ref: 'ty' }, { timeoutMs: 700 }).catch((err) => err);
    // `typing` has no reply in PROTOCOL.md; only an error would be wrong.
    assert.ok(!(none && none.type === 'error'), `typing got an error: ${JSON.stringify(none)}`);
    const on = await b.next((e) => e.type === 'typing', { desc: 'typing on' });
    assert.equal(on.conversation, conversation);
    assert.equal(on.user, 't-alice');
    assert.equal(on.on, true);
    const from = b.events.length;
    await a.send({ op: 'typing', conversation, on: false });
    const off = await b.next((e) => e.type === 'typing', { from, desc: 'typing off' });
    assert.equal(off.on, false);
    await a.request({ op: 'ping' });
    assert.equal(await arrives(a, (e) => e.type === 'typing', 300), false, 'the sender got its own typing');
    const h = await join(b, conversation);
    assert.equal(h.last_seq, 0, 'typing must not be stored');
    assert.deepEqual(h.messages, []);
  });
});

describe('history', () => {
  test('history pages with before, after and limit', T, async () => {
    const conversation = uid('history');
    const a = await ctx.login('h-alice');
    await join(a, conversation);
    await sendMany(a, conversation, range(1, 10).map(String), { window: 1 });
    const b = await ctx.login('h-bob');
    const before = await b.request({ op: 'history', conversation, before: 6, limit: 3, ref: 'hb' });
    assert.equal(before.type, 'history', JSON.stringify(before));
    assert.equal(before.ref, 'hb');
    assert.equal(before.conversation, conversation);
    assert.deepEqual(seqsOf(before.messages), [3, 4, 5], 'before=6 limit=3: the 3 just before, oldest first');
    assert.equal(before.has_more, true);
    assert.equal(before.last_seq, 10);
    const first = await b.request({ op: 'history', conversation, before: 3, limit: 5 });
    assert.deepEqual(seqsOf(first.messages), [1, 2]);
    assert.equal(first.has_more, false);
    const after = await b.request({ op: 'history', conversation, after: 2, limit: 3 });
    assert.deepEqual(seqsOf(after.messages), [3, 4, 5]);
    assert.equal(after.has_more, true);
    const tail = await b.request({ op: 'history', conversation, after: 7 });
    assert.deepEqual(seqsOf(tail.messages), [8, 9, 10]);
    assert.equal(tail.has_more, false);
    const latest = await b.request({ op: 'history', conversation, limit: 4 });
    assert.deepEqual(seqsOf(latest.messages), [7, 8, 9, 10], 'no cursor: the latest, oldest first');
    assert.equal(latest.has_more, true);
  });
});
