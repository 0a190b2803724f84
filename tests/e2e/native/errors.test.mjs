// Bad input on /ws: malformed JSON, unknown ops, missing or mistyped fields, invalid UTF-8,
// oversized frames. Each gets the error of PROTOCOL.md (or, for what the WebSocket layer
// itself rejects, the RFC 6455 close code), and every other client carries on.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { allMessages, join, login, removeDir, sleep, startServer, uid, useServer } from './helpers.mjs';

const ctx = useServer();
const T = { timeout: 30000 };

const isMsg = (conversation) => (e) => e.type === 'message' && e.message?.conversation === conversation;

// Two other clients in their own room: proves the server still serves everyone else.
async function witnesses(c = ctx) {
  const conversation = uid('witness');
  const w1 = await c.login(uid('w1'));
  const w2 = await c.login(uid('w2'));
  await join(w1, conversation);
  await join(w2, conversation);
  return {
    async check(label) {
      const content = `still alive after ${label}`;
      const ack = await w1.request({ op: 'send', conversation, content });
      assert.equal(ack.type, 'ack', `witness send after ${label}: ${JSON.stringify(ack)}`);
      const ev = await w2.next((e) => isMsg(conversation)(e) && e.message.content === content, {
        desc: `witness message after ${label}`,
      });
      assert.equal(ev.message.seq, ack.seq);
    },
  };
}

// Waits (bounded) for either an error event at index >= from, or the socket closing.
async function errorOrClose(client, from, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const err = client.events.slice(from).find((e) => e.type === 'error');
    if (err) return { error: err };
    if (client.closed) return { close: client.closed };
    await sleep(20);
  }
  throw new Error(`neither an error reply nor a close within ${ms} ms; events: ${JSON.stringify(client.events.slice(from))}`);
}

async function stillServes(client, label) {
  const pong = await client.request({ op: 'ping' });
  assert.equal(pong.type, 'pong', `${label}: the connection should carry on: ${JSON.stringify(pong)}`);
}

describe('malformed requests', () => {
  test('malformed JSON gets bad_request; the connection carries on', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('bad-json'));
    for (const frame of ['{"op": "ping",', 'not json at all', '{"op":"send" "x":1}']) {
      const from = c.events.length;
      await c.send(frame);
      const got = await errorOrClose(c, from);
      assert.ok(got.error, `frame ${JSON.stringify(frame)}: connection closed ${JSON.stringify(got.close)}`);
      assert.equal(got.error.code, 'bad_request', JSON.stringify(got.error));
      assert.equal(typeof got.error.message, 'string');
      await stillServes(c, 'malformed JSON');
    }
    await w.check('malformed JSON');
  });

  test('a number beyond double range (1e400) gets bad_request, never an Infinity echo', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('inf'));
    const conv = uid('c-inf');
    await c.request({ op: 'join', conversation: conv });
    for (const frame of [
      `{"op":"send","conversation":"${conv}","content":"x","meta":{"n":1e400}}`,
      '{"op":"ping","ref":1e400}',
    ]) {
      const from = c.events.length;
      await c.send(frame);
      const got = await errorOrClose(c, from);
      assert.ok(got.error, `frame ${frame}: connection closed ${JSON.stringify(got.close)}`);
      assert.equal(got.error.code, 'bad_request', JSON.stringify(got.error));
      assert.equal(got.error.ref, undefined, 'an infinite ref is not echoed');
    }
    assert.equal(c.raw.length, 0, 'every frame the server sent was JSON');
    const h = await c.request({ op: 'history', conversation: conv });
    assert.equal(h.messages.length, 0, 'nothing was stored');
    await w.check('1e400');
  });

  test('a JSON value that is not an object gets bad_request', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('not-object'));
    for (const frame of ['[1,2,3]', '"hello"', '42', 'null']) {
      const from = c.events.length;
      await c.send(frame);
      const got = await errorOrClose(c, from);
      assert.ok(got.error, `frame ${frame}: connection closed ${JSON.stringify(got.close)}`);
      assert.equal(got.error.code, 'bad_request', `frame ${frame}: ${JSON.stringify(got.error)}`);
    }
    await stillServes(c, 'non-object JSON');
    await w.check('non-object JSON');
  });

  test('an unknown op gets bad_request with the ref', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('unknown-op'));
    const reply = await c.request({ op: 'fly', ref: 'u-1', conversation: 'x' });
    assert.equal(reply.type, 'error', JSON.stringify(reply));
    assert.equal(reply.ref, 'u-1');
    assert.equal(reply.code, 'bad_request');
    const noOp = await c.request({ ref: 'u-2', conversation: 'x' });
    assert.equal(noOp.type, 'error', JSON.stringify(noOp));
    assert.equal(noOp.code, 'bad_request');
    await stillServes(c, 'unknown op');
    await w.check('unknown op');
  });

  test('missing required fields get bad_request with the ref', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('missing'));
    const conversation = uid('missing-conv');
    await join(c, conversation);
    const cases = [
      { op: 'join' },
      { op: 'leave' },
      { op: 'send', content: 'no conversation' },
      { op: 'send', conversation },
      { op: 'edit', conversation, content: 'no seq' },
      { op: 'edit', conversation, seq: 1 },
      { op: 'delete', conversation },
      { op: 'read', conversation },
      { op: 'typing' },
      { op: 'history' },
    ];
    for (const [i, req] of cases.entries()) {
      const reply = await c.request({ ...req, ref: `mf-${i}` });
      assert.equal(reply.type, 'error', `${JSON.stringify(req)}: ${JSON.stringify(reply)}`);
      assert.equal(reply.ref, `mf-${i}`);
      assert.equal(reply.code, 'bad_request', `${JSON.stringify(req)}: ${JSON.stringify(reply)}`);
    }
    await stillServes(c, 'missing fields');
    assert.deepEqual(await allMessages(ctx.server, conversation), [], 'nothing stored');
    await w.check('missing fields');
  });

  test('mistyped fields get bad_request', T, async () => {
    const w = await witnesses();
    const c = await ctx.login(uid('mistyped'));
    const conversation = uid('mistyped-conv');
    await join(c, conversation);
    const cases = [
      { op: 'send', conversation, content: 42 },
      { op: 'send', conversation: 7, content: 'x' },
      { op: 'join', conversation, limit: 'ten' },
      { op: 'read', conversation, seq: 'one' },
      { op: 'send', conversation, content: 'x', meta: 'not an object' },
    ];
    for (const req of cases) {
      const reply = await c.request(req);
      assert.equal(reply.type, 'error', `${JSON.stringify(req)}: ${JSON.stringify(reply)}`);
      assert.equal(reply.code, 'bad_request', `${JSON.stringify(req)}: ${JSON.stringify(reply)}`);
    }
    assert.deepEqual(await allMessages(ctx.server, conversation), [], 'nothing stored');
    await stillServes(c, 'mistyped fields');
    await w.check('mistyped fields');
  });

  test('auth without a user (open mode) is refused', T, async () => {
    const c = await ctx.connect('no-user');
    const reply = await c.request({ op: 'auth' });
    assert.equal(reply.type, 'error', JSON.stringify(reply));
    assert.ok(['bad_request', 'unauthorized'].includes(reply.code), JSON.stringify(reply));
    const after = await c.request({ op: 'join', conversation: uid('x') });
    assert.equal(after.code, 'unauthorized', `still unauthenticated: ${JSON.stringify(after)}`);
  });
});

describe('invalid UTF-8', () => {
  test('a text frame with invalid UTF-8 is rejected and not stored; others carry on', T, async () => {
    const w = await witnesses();
    const conversation = uid('utf8');
    const c = await ctx.login(uid('utf8-user'));
    await join(c, conversation);
    const frame = Buffer.concat([
      Buffer.from(`{"op":"send","conversation":"${conversation}","ref":"u8","content":"bad `),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
      Buffer.from(' end"}'),
    ]);
    const from = c.events.length;
    await c.send(frame, { binary: false });
    const got = await errorOrClose(c, from);
    if (got.close) {
      // RFC 6455 §8.1: an endpoint receiving invalid UTF-8 in a text frame fails the
      // connection with 1007.
      assert.equal(got.close.code, 1007, `closed with ${JSON.stringify(got.close)}`);
    } else {
      assert.equal(got.error.code, 'bad_request', JSON.stringify(got.error));
      await stillServes(c, 'invalid UTF-8');
    }
    await w.check('invalid UTF-8');
    assert.deepEqual(await allMessages(ctx.server, conversation), [], 'invalid UTF-8 must never be stored');
  });

  test('a lone surrogate escape (\\ud800) is rejected, never stored', T, async () => {
    const w = await witnesses();
    const conversation = uid('surrogate');
    const c = await ctx.login(uid('surrogate-user'));
    await join(c, conversation);
    const from = c.events.length;
    await c.send(`{"op":"send","conversation":"${conversation}","ref":"sg","content":"half \\ud800 pair"}`);
    const got = await errorOrClose(c, from);
    assert.ok(got.error, `connection closed: ${JSON.stringify(got.close)}`);
    assert.equal(got.error.code, 'bad_request', JSON.stringify(got.error));
    await stillServes(c, 'lone surrogate');
    await w.check('lone surrogate');
    assert.deepEqual(await allMessages(ctx.server, conversation), [], 'must not be stored');
  });
});

describe('oversized frames', () => {
  test('a 4 MiB frame gets too_large and the connection carries on; so do other clients', T, async () => {
    const w = await witnesses();
    const conversation = uid('big');
    const c = await ctx.login(uid('big-user'));
    await join(c, conversation);
    const other = await ctx.login(uid('big-other'));
    await join(other, conversation);
    const frame = `{"op":"send","conversation":"${conversation}","ref":"big","content":"${'x'.repeat(4 * 1024 * 1024)}"}`;
    const from = c.events.length;
    await c.send(frame);
    const got = await errorOrClose(c, from, 10000);
    assert.ok(got.error, `connection closed: ${JSON.stringify(got.close)}`);
    assert.equal(got.error.code, 'too_large', JSON.stringify(got.error));
    await stillServes(c, '4 MiB frame');
    await w.check('a 4 MiB frame');
    // A member of the same room keeps sending and receiving.
    const ack = await other.request({ op: 'send', conversation, content: 'small one' });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const stored = await allMessages(ctx.server, conversation);
    assert.deepEqual(stored.map((m) => m.content), ['small one'], 'the oversized send is not stored');
  });

  test('MAX_FRAME_BYTES sets the frame limit', T, async () => {
    const server = await startServer({ env: { MAX_FRAME_BYTES: '65536' } });
    try {
      const conversation = uid('frame-limit');
      const c = await login(server, uid('fl-user'));
      await join(c, conversation);
      const small = await c.request({ op: 'send', conversation, content: 'y'.repeat(16 * 1024) });
      assert.equal(small.type, 'ack', `16 KiB under a 64 KiB limit: ${JSON.stringify(small)}`);
      const from = c.events.length;
      await c.send(`{"op":"send","conversation":"${conversation}","content":"${'z'.repeat(200 * 1024)}"}`);
      const got = await errorOrClose(c, from);
      assert.ok(got.error, `connection closed: ${JSON.stringify(got.close)}`);
      assert.equal(got.error.code, 'too_large', JSON.stringify(got.error));
      await c.close();
      const stored = await allMessages(server, conversation);
      assert.equal(stored.length, 1, 'only the small message is stored');
    } finally {
      await server.stop();
      removeDir(server.dataDir);
    }
  });
});
