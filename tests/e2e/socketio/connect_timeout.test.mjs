// Socket.IO's connectTimeout over a raw Engine.IO WebSocket: it applies until the client's
// first namespace CONNECT and is cleared then, as socket.io's Client.doConnect clears it. A
// client that joined "/" and left it keeps its connection past the timeout (issue 17: the
// timer and its pending wait are no longer kept alive on every connected session).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { sleep, useServer, WebSocket } from './helpers.mjs';

const kConnectTimeoutMs = 400;
const ctx = useServer({ env: { SOCKETIO_CONNECT_TIMEOUT_MS: String(kConnectTimeoutMs) } });

// An Engine.IO WebSocket session: its packets as they arrive, and whether it closed.
async function open() {
  const url = `${ctx.server.wsUrl.replace(/\/ws$/, '')}/socket.io/?EIO=4&transport=websocket`;
  const ws = new WebSocket(url);
  const packets = [];
  const waiters = [];
  const state = { closed: false };
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') ws.send('3'); // the heartbeat
    packets.push(text);
    for (const w of waiters.splice(0)) w();
  });
  ws.on('close', () => {
    state.closed = true;
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  // Resolves with the first packet (from `from` on) that starts with `prefix`.
  const next = async (prefix, from = 0) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const found = packets.slice(from).find((p) => p.startsWith(prefix));
      if (found !== undefined) return found;
      if (state.closed) throw new Error(`closed before a packet starting ${prefix}`);
      if (Date.now() > deadline) throw new Error(`no packet starting ${prefix}`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  await next('0{'); // the Engine.IO handshake
  return { ws, packets, state, next };
}

describe('Socket.IO connect timeout', () => {
  it('no longer applies once a namespace was joined, even after leaving it', async () => {
    const s = await open();
    s.ws.send('40');
    await s.next('40{');
    s.ws.send('41'); // leaves "/": no namespace now
    await sleep(kConnectTimeoutMs * 4);
    assert.equal(s.state.closed, false, 'closed at the connect timeout after a CONNECT');
    const from = s.packets.length;
    s.ws.send('40');
    await s.next('40{', from); // and may join again
    s.ws.close();
  });
});
