// Issue 14, "history, then live, nothing twice", over Socket.IO: a socket.io-client reader
// that re-joins a busy room far behind (800 messages, past the room's 256-message cache, so
// its history is read from storage while four writers keep committing) with
// `join-conversation {conversationId, since}` must get its `conversation-history` first and
// then the live `receive-message`s, every seq once, in order, none missing; what it saw over
// all rounds is, seq for seq and id for id, what REST history holds. The native twin is
// tests/e2e/native/rejoin.test.mjs; this one goes through the Socket.IO session's queue
// (WebSocket and long-polling) and the radio-istic vocabulary's history and message encodings.
// On 8b0f714, before the fix (its vocabulary named the live event `new-message`), the
// WebSocket run had 90-349 live messages before the history and 39-289 repeats in 24 joins
// (three runs), the polling run 62-82 and 33-62 in 12.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { judgeRound } from '../lib/rejoin.mjs';
import { call, sleep, uid, useServer } from './helpers.mjs';

const ctx = useServer();

const kBehind = 800;

// Every message of `conversation` through REST paging, oldest first.
async function restMessages(conversation) {
  const out = [];
  for (let after = 0, page = 0; page < 200; page++) {
    const r = await ctx.api('GET', `/api/conversations/${encodeURIComponent(conversation)}/messages?after=${after}&limit=1000`);
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.messages);
    if (!r.json.has_more || r.json.messages.length === 0) return out;
    after = r.json.messages[r.json.messages.length - 1].seq;
  }
  throw new Error('more than 200 pages');
}

// WebSocket, and long-polling (where a poll takes the whole queue: the reply and the live
// messages behind it leave in one response, still in queue order).
for (const [mode, kRounds] of [['websocket', 24], ['polling', 12]]) {
  test(`${kRounds} Socket.IO re-joins (${mode}) at ${kBehind} behind under 4 writers: history first, then live, every seq once, in order`, { timeout: 60000 }, async (t) => {
    const conversationId = uid('sio-busy');
    const writers = [];
    for (let i = 0; i < 4; i++) {
      const w = await ctx.native(uid(`writer${i}`));
      const r = await w.request({ op: 'join', conversation: conversationId });
      assert.equal(r.type, 'history', JSON.stringify(r));
      writers.push(w);
    }
    let committed = 0;
    let stop = false;
    const deadline = Date.now() + 40000; // writers stop by then whatever happens
    // Each writer keeps 4 sends in flight until told to stop (bounded in count and time).
    const writing = writers.map(async (w, k) => {
      let n = 0;
      async function lane() {
        while (!stop && n < 20000 && Date.now() < deadline) {
          n++;
          const r = await w.request({ op: 'send', conversation: conversationId, content: `w${k}-${n}` }, { timeoutMs: 20000 });
          assert.equal(r.type, 'ack', JSON.stringify(r));
          committed = Math.max(committed, r.seq);
        }
      }
      await Promise.all([lane(), lane(), lane(), lane()]);
    });

    const { socket, rec } = await ctx.sio({ mode, auth: { userId: uid('reader') }, name: 'reader' });
    const ours = (m) => m?.conversationId === conversationId;
    // seen: {seq, id} of every message the reader accepted, over all rounds, in order
    const stats = { early: 0, repeats: 0, breaks: 0, seen: [] };
    try {
      let last = 0;
      for (let round = 0; round < kRounds; round++) {
        while (committed < last + kBehind) {
          assert.ok(Date.now() < deadline, `round ${round}: the writers stalled at ${committed}`);
          await sleep(5);
        }
        const target = committed; // acknowledged before the join: must all arrive
        const from = rec.events.length;
        const ack = await call(socket, 'join-conversation', { conversationId, since: last, limit: 1000 }, 15000);
        assert.equal(ack.ok, true, JSON.stringify(ack).slice(0, 300));
        const history = await rec.next('conversation-history', ours, { from, timeoutMs: 15000 });
        const at = rec.events.findIndex((e, i) => i >= from && e.args[0] === history);
        // The writers may run past the 1000-message page on a loaded machine: then the client
        // pages on (hasMore) with get-history, and the live messages continue after
        // history.lastSeq, where the room's fan-out stood when the reader became a member.
        const pages = [history];
        while (pages[pages.length - 1].hasMore) {
          const prev = pages[pages.length - 1];
          const after = prev.messages.length ? prev.messages[prev.messages.length - 1].seq : last;
          const page = await call(socket, 'get-history', { conversationId, after, limit: 1000 }, 15000);
          assert.equal(page.ok, true, JSON.stringify(page).slice(0, 300));
          pages.push(page);
        }
        // Live messages arrive meanwhile; wait (bounded) until the one acknowledged last
        // before the join is among what arrived, then a little more.
        const top = () => Math.max(last, ...pages.map((p) => p.messages.at(-1)?.seq ?? 0),
          ...rec.events.slice(from).filter((e) => e.name === 'receive-message' && ours(e.args[0])).map((e) => e.args[0].seq));
        for (const until = Date.now() + 10000; top() < target && Date.now() < until;) await sleep(10);
        await sleep(20);
        const live = [];
        let early = 0;
        for (let i = from; i < rec.events.length; i++) {
          const e = rec.events[i];
          if (e.name !== 'receive-message' || !ours(e.args[0])) continue;
          if (i < at) early++;
          live.push(e.args[0]);
        }
        last = judgeRound(stats, round, last, target,
          pages.map((p) => ({ messages: p.messages, more: p.hasMore })), live, early, kBehind);
        const left = await call(socket, 'leave-conversation', { conversationId }, 15000);
        assert.equal(left.ok, true, JSON.stringify(left));
      }
      t.diagnostic(`${kRounds} re-joins, ${stats.seen.length} messages: ${stats.early} live before the history, ${stats.repeats} repeats, ${stats.breaks} breaks in the order`);
      assert.equal(stats.early, 0, 'receive-message before the conversation-history reply');
      assert.equal(stats.repeats, 0, 'messages delivered twice');
      assert.equal(stats.breaks, 0, 'messages out of order or missing');
    } finally {
      stop = true;
      await Promise.all(writing);
      socket.close();
    }
    // What the reader saw is what was stored: every seq from 1, each with its stored id.
    const stored = await restMessages(conversationId);
    assert.ok(stored.length >= stats.seen.length);
    assert.deepEqual(stats.seen, stored.slice(0, stats.seen.length).map((m) => ({ seq: m.seq, id: m.id })));
  });
}
