// Keep-alive on /ws with a hand-made WebSocket client (node:net, no library, so nothing
// answers a ping unless the test does): a quiet connection gets a ping after half of
// WS_IDLE_TIMEOUT_S; one that answers stays open and usable; one that stays silent is dropped
// after the whole timeout.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { startServer } from './helpers.mjs';

const T = { timeout: 30000 };

// A client frame: FIN, `opcode`, masked payload (clients must mask).
function clientFrame(opcode, payload = Buffer.alloc(0)) {
  const key = crypto.randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i % 4];
  return Buffer.concat([head, key, body]);
}

// Connects, upgrades, and parses the server's (unmasked) frames into `frames`.
async function rawWebSocket(server) {
  const url = new URL(server.wsUrl);
  const socket = net.connect(Number(url.port), url.hostname);
  const state = { socket, frames: [], closedAt: null, buffer: Buffer.alloc(0), upgraded: false };
  socket.on('close', () => { state.closedAt = Date.now(); });
  socket.on('error', () => {});
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
    'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`);
  await new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      state.buffer = Buffer.concat([state.buffer, chunk]);
      if (!state.upgraded) {
        const end = state.buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = state.buffer.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`no upgrade: ${head}`));
        state.upgraded = true;
        state.buffer = state.buffer.subarray(end + 4);
        resolve();
      }
      for (;;) {
        const b = state.buffer;
        if (b.length < 2) return;
        let len = b[1] & 0x7f;
        let at = 2;
        if (len === 126) {
          if (b.length < 4) return;
          len = b.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (b.length < 10) return;
          len = Number(b.readBigUInt64BE(2));
          at = 10;
        }
        if (b.length < at + len) return;
        assert.equal(b[1] & 0x80, 0, 'server frames are never masked');
        state.frames.push({ opcode: b[0] & 0x0f, fin: (b[0] & 0x80) !== 0, at: Date.now(),
          payload: b.subarray(at, at + len) });
        state.buffer = b.subarray(at + len);
      }
    });
  });
  return state;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('keep-alive (WS_IDLE_TIMEOUT_S=2)', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { WS_IDLE_TIMEOUT_S: '2' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('a silent connection gets a ping after half the timeout, then is dropped', T, async () => {
    const c = await rawWebSocket(server);
    const opened = Date.now();
    while (c.closedAt === null && Date.now() - opened < 8000) await sleep(50);
    assert.notEqual(c.closedAt, null, 'still open 8 s after a 2 s idle timeout');
    const pings = c.frames.filter((f) => f.opcode === 0x9);
    assert.ok(pings.length >= 1, `no ping before the close: ${JSON.stringify(c.frames)}`);
    assert.ok(pings[0].at - opened >= 800, `ping after ${pings[0].at - opened} ms, before half the timeout`);
    assert.ok(c.closedAt - opened >= 1800, `dropped after ${c.closedAt - opened} ms, before the timeout`);
  });

  test('a connection that answers pings stays open and keeps working', T, async () => {
    const c = await rawWebSocket(server);
    let answered = 0;
    const opened = Date.now();
    while (Date.now() - opened < 5000) {
      for (const f of c.frames.filter((x) => x.opcode === 0x9).slice(answered)) {
        c.socket.write(clientFrame(0xa, f.payload));
        answered++;
      }
      await sleep(50);
    }
    assert.equal(c.closedAt, null, 'closed although every ping was answered');
    assert.ok(answered >= 2, `only ${answered} pings in 5 s with a 2 s timeout`);
    // A request in two fragments with a ping of our own in between: answered in order.
    const from = c.frames.length;
    const request = Buffer.from('{"op":"ping","ref":"keepalive"}');
    c.socket.write(Buffer.concat([
      (() => { const f = clientFrame(0x1, request.subarray(0, 10)); f[0] &= 0x7f; return f; })(),
      clientFrame(0x9, Buffer.from('hello')),
      (() => { const f = clientFrame(0x0, request.subarray(10)); return f; })(),
    ]));
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && c.frames.length < from + 2) await sleep(20);
    const got = c.frames.slice(from).filter((f) => f.opcode !== 0x9);
    assert.equal(got[0]?.opcode, 0xa, `our ping not answered first: ${JSON.stringify(got)}`);
    assert.equal(got[0].payload.toString(), 'hello');
    assert.equal(got[1]?.opcode, 0x1);
    assert.deepEqual(JSON.parse(got[1].payload.toString()), { type: 'pong', ref: 'keepalive' });
    // A clean close: the server answers with its own close frame and ends the connection.
    c.socket.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
    while (Date.now() < deadline + 3000 && c.closedAt === null) await sleep(20);
    const close = c.frames.find((f) => f.opcode === 0x8);
    assert.ok(close, 'no close frame in answer');
    assert.equal(close.payload.readUInt16BE(0), 1000);
    assert.notEqual(c.closedAt, null, 'the server did not end the connection after the close');
  });
});
