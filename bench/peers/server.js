// A Socket.IO chat server written the way its users write one, for `bench/run.sh --peers`:
// socket.io 4 on Node, every message stored durably before it is acknowledged and broadcast
// (insert, then ack, then io.to(room).emit), in SQLite through better-sqlite3 (WAL,
// synchronous=FULL) or in PostgreSQL through pg. It speaks the events parley-bench speaks
// with `--protocol socketio` (EVENTS below must match bench/load/sio_vocabulary.hpp) and
// serves the one REST page parley-bench verifies with, so the same load and the same checks
// run against it and against Parley.
//
//   node server.js --port 0 --db /tmp/peer/chat.db            # SQLite
//   node server.js --port 0 --database-url postgresql://...   # PostgreSQL
//
// Prints "listening on http://127.0.0.1:PORT" once it accepts connections.

import http from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';

// The vocabulary: bench/load/sio_vocabulary.hpp says the same.
const EVENTS = { join: 'join-conversation', send: 'send-message', broadcast: 'receive-message' };

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '3000' },
    db: { type: 'string' },
    'database-url': { type: 'string' },
  },
});

const store = opt['database-url'] ? await pgStore(opt['database-url']) : sqliteStore(opt.db ?? 'chat.db');

// SQLite as the better-sqlite3 README sets it up for a server, with every commit durable.
function sqliteStore(file) {
  return import('better-sqlite3').then(({ default: Database }) => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE IF NOT EXISTS messages (
      id INTEGER PRIMARY KEY,
      conversation_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      sender_id TEXT NOT NULL,
      content TEXT NOT NULL,
      client_msg_id TEXT,
      created_at INTEGER NOT NULL,
      UNIQUE (conversation_id, seq))`);
    const insert = db.prepare(`INSERT INTO messages (conversation_id, seq, sender_id, content, client_msg_id, created_at)
      SELECT @room, COALESCE(MAX(seq), 0) + 1, @sender, @content, @clientMsgId, @at FROM messages WHERE conversation_id = @room
      RETURNING id, seq`);
    const page = db.prepare(`SELECT id, seq, sender_id, content, client_msg_id, created_at FROM messages
      WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`);
    const last = db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM messages WHERE conversation_id = ?');
    return {
      // Synchronous: one message at a time, in the order the events arrived.
      append: async (room, sender, content, clientMsgId, at) => insert.get({ room, sender, content, clientMsgId, at }),
      page: async (room, after, limit) => page.all(room, after, limit),
      lastSeq: async (room) => last.get(room).seq,
    };
  });
}

// PostgreSQL through a pool. Appends to one room are chained so that seqs are assigned and
// broadcast in order (without it two inserts into a room race for the same seq).
async function pgStore(url) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query(`CREATE TABLE IF NOT EXISTS peer_messages (
    id BIGSERIAL PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    sender_id TEXT NOT NULL,
    content TEXT NOT NULL,
    client_msg_id TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (conversation_id, seq))`);
  const chains = new Map();
  return {
    append(room, sender, content, clientMsgId, at) {
      const run = () =>
        pool
          .query(
            `INSERT INTO peer_messages (conversation_id, seq, sender_id, content, client_msg_id, created_at)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM peer_messages WHERE conversation_id = $1
             RETURNING id, seq`,
            [room, sender, content, clientMsgId, at],
          )
          .then((r) => ({ id: Number(r.rows[0].id), seq: Number(r.rows[0].seq) }));
      const next = (chains.get(room) ?? Promise.resolve()).then(run, run);
      chains.set(room, next.catch(() => {}));
      return next;
    },
    async page(room, after, limit) {
      const r = await pool.query(
        `SELECT id, seq, sender_id, content, client_msg_id, created_at FROM peer_messages
         WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [room, after, limit],
      );
      return r.rows.map((m) => ({ ...m, id: Number(m.id), seq: Number(m.seq), created_at: Number(m.created_at) }));
    },
    async lastSeq(room) {
      const r = await pool.query('SELECT COALESCE(MAX(seq), 0) AS seq FROM peer_messages WHERE conversation_id = $1', [room]);
      return Number(r.rows[0].seq);
    },
  };
}

const db = await store;

const toMessage = (room, m, senderName) => ({
  id: String(m.id),
  conversationId: room,
  seq: m.seq,
  content: m.content,
  senderId: m.sender_id,
  senderName: senderName ?? m.sender_id,
  timestamp: new Date(m.created_at).toISOString(),
  clientMsgId: m.client_msg_id ?? undefined,
});

// GET /api/conversations/:id/messages?after=&limit=: the page parley-bench verifies with.
const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const m = url.pathname.match(/^\/api\/conversations\/([^/]+)\/messages$/);
  if (req.method !== 'GET' || !m) {
    res.writeHead(404).end();
    return;
  }
  try {
    const room = decodeURIComponent(m[1]);
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 50), 1000);
    const rows = await db.page(room, Number(url.searchParams.get('after') ?? 0), limit + 1);
    const body = { messages: rows.slice(0, limit).map((r) => toMessage(room, r)), has_more: rows.length > limit };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  } catch (e) {
    res.writeHead(500).end(String(e));
  }
});

const io = new Server(httpServer);

io.use((socket, next) => {
  const { userId, name } = socket.handshake.auth ?? {};
  if (typeof userId !== 'string' || !userId) return next(new Error('userId required'));
  socket.data.userId = userId;
  socket.data.name = typeof name === 'string' ? name : userId;
  next();
});

io.on('connection', (socket) => {
  socket.on(EVENTS.join, async (p, ack) => {
    try {
      const room = p?.conversationId;
      if (typeof room !== 'string') throw new Error('conversationId required');
      await socket.join(room);
      const lastSeq = await db.lastSeq(room);
      ack?.({ ok: true, conversationId: room, messages: [], hasMore: lastSeq > 0, lastSeq });
    } catch (e) {
      ack?.({ ok: false, code: 'bad_request', message: e.message });
    }
  });

  socket.on(EVENTS.send, async (p, ack) => {
    try {
      const room = p?.conversationId;
      if (typeof room !== 'string' || typeof p.content !== 'string') throw new Error('conversationId and content required');
      const at = Date.now();
      const row = await db.append(room, socket.data.userId, p.content, p.clientMsgId ?? null, at);
      const message = toMessage(room, { ...row, sender_id: socket.data.userId, content: p.content, client_msg_id: p.clientMsgId, created_at: at }, socket.data.name);
      ack?.({ ok: true, id: message.id, seq: message.seq, timestamp: message.timestamp, conversationId: room });
      io.to(room).emit(EVENTS.broadcast, message);
    } catch (e) {
      ack?.({ ok: false, code: 'internal', message: e.message });
    }
  });
});

httpServer.listen(Number(opt.port), opt.host, () => {
  console.log(`listening on http://${opt.host}:${httpServer.address().port}`);
});
const stop = () => httpServer.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 2000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
