// Recovery: a socket.io-client app that re-joins with `since` (the last seq it saw) in its
// `connect` handler receives exactly what it missed, after a dropped connection and after
// the server itself was killed (-9) and restarted. Nothing lost, nothing duplicated.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import {
  call, connectSio, MODES, nativeLogin, removeDir, sleep, startServer, uid, waitConnect,
} from './helpers.mjs';

// The client side of the recipe in docs/socketio.md: remember the highest seq seen, re-join
// with it on every (re)connect. Every arrival is recorded raw, so duplicates would show.
function trackConversation(socket, conversationId) {
  const state = { lastSeq: 0, arrivals: [] };
  const see = (m) => {
    if (m.conversationId !== conversationId) return;
    state.arrivals.push(m.seq);
    state.lastSeq = Math.max(state.lastSeq, m.seq);
  };
  socket.on('receive-message', see);
  socket.on('conversation-history', (h) => {
    if (h.conversationId === conversationId) h.messages.forEach(see);
  });
  const rejoin = () => socket.emit('join-conversation', { conversationId, since: state.lastSeq });
  socket.on('connect', rejoin);
  rejoin();
  return state;
}

async function until(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const servers = [];
after(async () => {
  for (const s of servers) {
    await s.stop();
    removeDir(s.dataDir);
  }
});

for (const mode of Object.keys(MODES)) {
  describe(`recovery, ${mode} transport`, () => {
    it('after a dropped connection: exactly the missed messages', async () => {
      const server = await startServer();
      servers.push(server);
      const conv = uid('conv');
      const { socket } = await connectSio(server, { mode, auth: { userId: uid('reader') } });
      const state = trackConversation(socket, conv);
      const writer = await nativeLogin(server, uid('writer'));
      const send = async (i) => {
        const r = await writer.request({ op: 'send', conversation: conv, content: `m${i}` });
        assert.equal(r.type, 'ack');
      };
      try {
        for (let i = 1; i <= 3; i++) await send(i);
        await until(() => state.lastSeq === 3, 'messages 1-3');

        // Drop the transport (as a network loss would); the client reconnects by itself.
        socket.io.engine.close();
        for (let i = 4; i <= 6; i++) await send(i);
        await waitConnect(socket);
        for (let i = 7; i <= 8; i++) await send(i);
        await until(() => state.lastSeq === 8, 'messages 1-8');
        await sleep(200);
        assert.deepEqual(state.arrivals, range(1, 8));
      } finally {
        socket.close();
        await writer.close();
      }
    });

    it('after the server was killed and restarted: exactly the missed messages', async () => {
      const server = await startServer();
      servers.push(server);
      const conv = uid('conv');
      const { socket } = await connectSio(server, { mode, auth: { userId: uid('reader') } });
      const state = trackConversation(socket, conv);
      const writerId = uid('writer');
      let writer = await nativeLogin(server, writerId);
      const send = async (i) => {
        const r = await writer.request({ op: 'send', conversation: conv, content: `m${i}` });
        assert.equal(r.type, 'ack');
      };
      try {
        for (let i = 1; i <= 3; i++) await send(i);
        await until(() => state.lastSeq === 3, 'messages 1-3');

        // A manual disconnect, so the reader surely misses what comes next.
        socket.disconnect();
        for (let i = 4; i <= 5; i++) await send(i);
        await server.kill('SIGKILL');
        await server.restart();
        writer = await nativeLogin(server, writerId);
        await send(6);
        socket.connect();
        await waitConnect(socket);
        await until(() => state.lastSeq === 6, 'messages 4-6 after the restart');

        // And a drop while the server is down: the client reconnects on its own.
        const dropped = new Promise((resolve) => socket.once('disconnect', resolve));
        await server.kill('SIGKILL');
        await dropped;
        await server.restart();
        writer = await nativeLogin(server, writerId);
        await send(7);
        await waitConnect(socket, 15000);
        await send(8);
        await until(() => state.lastSeq === 8, 'messages 7-8');
        await sleep(200);
        assert.deepEqual(state.arrivals, range(1, 8));
        const history = await call(socket, 'join-conversation', { conversationId: conv });
        assert.deepEqual(history.messages.map((m) => m.content), range(1, 8).map((i) => `m${i}`));
      } finally {
        socket.close();
        await writer.close();
      }
    });
  });
}
