// `parley import SOURCE` with the seed apps' real data and real clients: WebWOz's own room
// files (from the repository snapshot), radio-istic's collections as mongoexport writes them,
// live messages that an import must not destroy, and IMPORT_ON_START.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

import { join as joinRoom, login } from '../lib/chat.mjs';
import { WsClient } from '../lib/wsclient.mjs';
import { parleyBin, repoRoot, startServer } from '../lib/server.mjs';

const bin = parleyBin();
const root = repoRoot;
const ms = (t) => (typeof t === 'number' ? t : Date.parse(t));
const wozGitDir = process.env.WOZCHAT_GIT_DIR || '/work/.mirror/tveigel+WoZChat/repo';

function parley(args, env = {}) {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// WebWOz's backend/data/conversations/*.json at the snapshot's HEAD, copied out of the
// repository into `dir`; null when the snapshot is absent.
function wozRoomFiles(dir) {
  if (!existsSync(wozGitDir)) return null;
  const list = spawnSync('git', ['--git-dir', wozGitDir, 'ls-tree', '--name-only', 'HEAD', 'backend/data/conversations/'], { encoding: 'utf8' });
  if (list.status !== 0) return null;
  const out = join(dir, 'conversations');
  mkdirSync(out);
  for (const path of list.stdout.trim().split('\n').filter((p) => p.endsWith('.json'))) {
    const show = spawnSync('git', ['--git-dir', wozGitDir, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(show.status, 0, show.stderr);
    writeFileSync(join(out, path.split('/').pop()), show.stdout);
  }
  return out;
}

test("WebWOz's real room files: detected, imported, verified; a client joins and sees them in order", async (t) => {
  const dir = tempDir(t);
  const rooms = wozRoomFiles(dir);
  if (!rooms) {
    console.error(`\n*** SKIPPED: the WebWOz snapshot is absent at ${wozGitDir} (set WOZCHAT_GIT_DIR) ***\n`);
    t.skip('WebWOz snapshot absent');
    return;
  }
  const data = join(dir, 'data');
  let r = parley(['import', rooms, '--dry-run', '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /WebWOz room file\(s\) \(seed 000\) \(format webwoz\)/);
  assert.match(r.stdout, /dry run: would import \d+ conversation\(s\)/);
  r = parley(['import', rooms, '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /verified (\d+) conversation\(s\): \1 match the source/);
  // The second import writes nothing.
  r = parley(['import', rooms, '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /imported 0 conversation\(s\), 0 message\(s\); .* (\d+) unchanged/);

  const server = await startServer({ dataDir: data });
  t.after(() => server.stop());
  for (const file of readdirSync(rooms)) {
    const room = JSON.parse(readFileSync(join(rooms, file), 'utf8'));
    const c = await login(WebSocket, server, 'wizard-1', { role: 'wizard' });
    const history = await joinRoom(c, room.room_id, { limit: 100 });
    const got = history.messages.map((m) => [m.seq, m.sender.role, m.content, ms(m.created_at)]);
    const want = room.messages.slice(-100).map((m, i, a) => [room.messages.length - a.length + i + 1, m.sender, m.text, ms(m.timestamp)]);
    assert.deepEqual(got, want, `room ${room.room_id}`);
    await c.close();
  }
});

// radio-istic's collections as `mongoexport` writes them (relaxed Extended JSON, one document
// a line), with the mongoose models' field names.
const oid = (n) => ({ $oid: n.toString(16).padStart(24, '0') });
const date = (ms) => ({ $date: new Date(ms).toISOString() });
const T0 = Date.parse('2024-06-01T10:00:00Z');
function writeRadioIstic(dir) {
  mkdirSync(dir, { recursive: true });
  const users = [
    { _id: oid(1), firstName: 'Amira', lastName: 'Ben Salah', email: 'a@istic.tn', avatar: '/avatars/amira.jpg', role: 'president', field: 'GLSI', year: 2 },
    { _id: oid(2), firstName: 'Bilel', lastName: 'Trabelsi', email: 'b@istic.tn', avatar: '/avatars/default-avatar.jpg', role: 'member', field: 'IRS', year: 1 },
    { _id: oid(3), firstName: 'Chams', lastName: 'Gharbi', email: 'c@istic.tn', avatar: '/avatars/chams.png', role: 'secretary', field: 'LT', year: 3 },
  ];
  const conversations = [
    { _id: oid(0xc1), participants: [oid(1), oid(2)], isGroup: false, unreadCounts: {}, createdAt: date(T0), updatedAt: date(T0 + 9000), __v: 0 },
  ];
  const messages = [];
  for (let i = 0; i < 12; i++) {
    messages.push({
      _id: oid(0xa00 + i), conversation: oid(0xc1), sender: oid(1 + (i % 2)), content: `message ${i}`,
      type: 'text', readBy: [{ user: oid(1 + (i % 2)), readAt: date(T0 + i * 1000) }],
      isDeleted: false, createdAt: date(T0 + i * 1000), updatedAt: date(T0 + i * 1000), __v: 0,
    });
  }
  messages.reverse();  // the order of the file is not the order of the conversation
  const put = (name, docs) => writeFileSync(join(dir, `${name}.json`), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  put('users', users);
  put('conversations', conversations);
  put('messages', messages);
}

// radio-istic authenticates with JWTs: token mode, where the participants rule applies.
const SECRET = 'e2e-import-secret-0123456789abcdef';
function tokenLogin(server, user, name) {
  const now = Math.floor(Date.now() / 1000);
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ sub: user, name, exp: now + 3600 })).toString('base64url');
  const input = `${head}.${body}`;
  const token = `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
  return (async () => {
    const c = await WsClient.connect(WebSocket, server.wsUrl, { name: user });
    const reply = await c.request({ op: 'auth', token });
    assert.equal(reply.type, 'ok', JSON.stringify(reply));
    return c;
  })();
}

test('radio-istic mongoexport: participants get their history in order, others are kept out', async (t) => {
  const dir = tempDir(t);
  const exported = join(dir, 'export');
  writeRadioIstic(exported);
  const data = join(dir, 'data');
  const r = parley(['import', exported, '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /a mongoexport of radio-istic \(seed 002/);
  assert.match(r.stdout, /imported 1 conversation\(s\), 12 message\(s\)/);

  const server = await startServer({ dataDir: data, env: { AUTH_MODE: 'token', JWT_SECRET: SECRET } });
  t.after(() => server.stop());
  const conversation = oid(0xc1).$oid;
  const bilel = await tokenLogin(server, oid(2).$oid, 'Bilel Trabelsi');
  const history = await joinRoom(bilel, conversation, { limit: 50 });
  assert.deepEqual(history.messages.map((m) => m.content), Array.from({ length: 12 }, (_, i) => `message ${i}`));
  assert.deepEqual(history.messages.map((m) => m.id), Array.from({ length: 12 }, (_, i) => oid(0xa00 + i).$oid));
  assert.equal(history.messages[0].sender.name, 'Amira Ben Salah');
  await bilel.close();
  // Chams is not a participant of the direct conversation.
  const chams = await tokenLogin(server, oid(3).$oid, 'Chams Gharbi');
  const reply = await chams.request({ op: 'join', conversation });
  assert.equal(reply.type, 'error', JSON.stringify(reply));
  await chams.close();
});

test('live messages are never destroyed: reported in the dry run, left alone, kept by --merge', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const exported = join(dir, 'export');
  writeRadioIstic(exported);
  let r = parley(['import', exported, '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr);
  const conversation = oid(0xc1).$oid;
  // Two messages accepted by the running server after the import.
  let server = await startServer({ dataDir: data });
  const writer = await login(WebSocket, server, oid(2).$oid, { name: 'Bilel Trabelsi' });
  await joinRoom(writer, conversation);
  for (const content of ['live one', 'live two']) {
    const ack = await writer.request({ op: 'send', conversation, content, client_id: content });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
  }
  await writer.close();
  await server.stop();

  r = parley(['import', exported, '--dry-run', '--data-dir', data]);
  assert.equal(r.status, 5, r.stderr + r.stdout);
  assert.ok(r.stdout.includes(`conflict: ${conversation} (`), r.stdout);
  assert.match(r.stdout, /the store holds 2 message\(s\) the source does not have: left alone/);
  assert.match(r.stdout, /would import 0 conversation\(s\)/);
  r = parley(['import', exported, '--data-dir', data]);
  assert.equal(r.status, 5, r.stderr + r.stdout);
  // The live messages came after the source's: merged by time, the conversation is already
  // what the merge gives, and nothing is written (the unit tests interleave them).
  r = parley(['import', exported, '--merge', '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /imported 0 conversation\(s\).* 1 unchanged, 0 conflict\(s\) left alone/);
  r = parley(['import', exported, '--replace', '--dry-run', '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /conflict: .*replaced \(--replace\)/);
  assert.match(r.stdout, /would import 1 conversation\(s\), 12 message\(s\)/);

  server = await startServer({ dataDir: data });
  t.after(() => server.stop());
  const c = await login(WebSocket, server, oid(1).$oid);
  const history = await joinRoom(c, conversation, { limit: 50 });
  const contents = history.messages.map((m) => m.content);
  assert.equal(contents.length, 14);
  assert.deepEqual(contents.slice(-2), ['live one', 'live two']);
  // The next message takes the next seq.
  const sent = await c.request({ op: 'send', conversation, content: 'after', client_id: 'x1' });
  assert.equal(sent.seq, 15, JSON.stringify(sent));
  await c.close();
});

// The report of issue 15: a server running, a client in the room, `parley import --replace`
// of that conversation from another process. The server follows the store's change log
// (CHANGES_POLL_MS): the room reloads, a join gets the imported history, the next send the
// next seq, and every member gets it.
test('a running server sees an import at once: a re-join gets the imported history, the next send the next seq', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const exported = join(dir, 'export');
  writeRadioIstic(exported);
  let r = parley(['import', exported, '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const conversation = oid(0xc1).$oid;
  const server = await startServer({ dataDir: data, env: { CHANGES_POLL_MS: '100' } });
  t.after(() => server.stop());
  const amira = await login(WebSocket, server, oid(1).$oid, { name: 'Amira Ben Salah' });
  const bilel = await login(WebSocket, server, oid(2).$oid, { name: 'Bilel Trabelsi' });
  assert.equal((await joinRoom(amira, conversation, { limit: 50 })).messages.length, 12);
  await joinRoom(bilel, conversation, { limit: 50 });
  for (const content of ['live one', 'live two']) {
    const ack = await amira.request({ op: 'send', conversation, content, client_id: content });
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
  }
  assert.equal((await joinRoom(amira, conversation, { limit: 50 })).messages.length, 14);

  // While the server runs: the source wins.
  r = parley(['import', exported, '--replace', '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /conflict: .*replaced \(--replace\)/);
  assert.match(r.stdout, /verified 1 conversation\(s\): 1 match the source/);

  // The client joins again until the room has reloaded (a few polls at most).
  const want = Array.from({ length: 12 }, (_, i) => `message ${i}`);
  let got;
  for (let i = 0; i < 50; i++) {
    got = (await joinRoom(amira, conversation, { limit: 50 })).messages;
    if (got.length === 12) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.deepEqual(got.map((m) => m.content), want, 'the re-join shows the imported history');
  assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 12 }, (_, i) => i + 1));
  assert.match(server.logs(), new RegExp(`room ${conversation}: changed in the store`));
  const from = bilel.events.length;
  const ack = await amira.request({ op: 'send', conversation, content: 'after the import', client_id: 'after' });
  assert.equal(ack.type, 'ack', JSON.stringify(ack));
  assert.equal(ack.seq, 13, JSON.stringify(ack));
  const seen = await bilel.next((m) => m.type === 'message' && m.message.content === 'after the import', { from });
  assert.equal(seen.message.seq, 13);
  const fresh = await login(WebSocket, server, oid(3).$oid);
  const history = await joinRoom(fresh, conversation, { limit: 50 });
  assert.deepEqual(history.messages.map((m) => m.content), [...want, 'after the import']);
  await Promise.all([amira.close(), bilel.close(), fresh.close()]);
});

test('IMPORT_ON_START imports once before serving; a second start does not import again', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const exported = join(dir, 'export');
  writeRadioIstic(exported);
  let server = await startServer({ dataDir: data, env: { IMPORT_ON_START: exported } });
  assert.match(server.logs(), /IMPORT_ON_START: imported 1 conversation\(s\), 12 message\(s\)/);
  const conversation = oid(0xc1).$oid;
  const historyOf = async () => {
    const c = await login(WebSocket, server, oid(1).$oid);
    const h = await joinRoom(c, conversation, { limit: 100 });
    await c.close();
    return h.messages;
  };
  assert.equal((await historyOf()).length, 12);
  await server.stop();
  server = await startServer({ dataDir: data, env: { IMPORT_ON_START: exported } });
  t.after(() => server.stop());
  assert.match(server.logs(), /was imported before .*not imported again/);
  assert.equal((await historyOf()).length, 12);
});

// Seeds 001, 003 and 004 have no client of their own in Parley's tests: after each import of
// their tables (SQLite, and PostgreSQL when PARLEY_TEST_PG_URL names a server) or files,
// Parley's native client joins each conversation and gets its history in order. (WebWOz's
// and radio-istic's imports are checked with those apps' own clients, in tests/e2e/webwoz
// and tests/e2e/radioistic.)
const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;
function findPsql() {
  for (const v of ['17', '16', '15', '14']) {
    const p = `/usr/lib/postgresql/${v}/bin/psql`;
    if (existsSync(p)) return p;
  }
  return null;
}
const pgUrl = process.env.PARLEY_TEST_PG_URL;

// [sender role, content] of each conversation, in the order the app showed them.
const SEED003 = {
  ddl: 'CREATE TABLE conversations (id VARCHAR(255) PRIMARY KEY, title TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, ' +
    'updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, message_count INTEGER DEFAULT 0);' +
    'CREATE TABLE messages (id VARCHAR(255) PRIMARY KEY, conversation_id VARCHAR(255) REFERENCES conversations(id), ' +
    'role VARCHAR(50) NOT NULL, content TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, meta %JSON%, ' +
    'created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);' +
    "INSERT INTO conversations VALUES ('conv-1', 'Trip ideas', '2025-01-02 10:00:00', '2025-01-02 10:05:00', 3);" +
    "INSERT INTO messages VALUES ('m-1', 'conv-1', 'user', 'Where to go?', '2025-01-02 10:00:00', NULL, '2025-01-02 10:00:00');" +
    "INSERT INTO messages VALUES ('m-2', 'conv-1', 'assistant', 'Try Tozeur 🌴', '2025-01-02 10:00:05', '{\"model\":\"gpt\"}', '2025-01-02 10:00:05');" +
    "INSERT INTO messages VALUES ('m-3', 'conv-1', 'user', 'Why?', '2025-01-02 10:01:00', NULL, '2025-01-02 10:01:00');",
  want: { 'conv-1': [['user', 'Where to go?'], ['assistant', 'Try Tozeur 🌴'], ['user', 'Why?']] },
};
const SEED004 = {
  ddl: 'CREATE TABLE conversations (conversation_id VARCHAR(255) PRIMARY KEY, title VARCHAR(500) NOT NULL, ' +
    'created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, messages JSON NOT NULL, settings JSON);' +
    "INSERT INTO conversations VALUES ('rag-1', 'Contract questions', '2025-02-01 08:00:00', '2025-02-01 08:10:00', " +
    "'[{\"role\":\"user\",\"content\":\"What is clause 4?\",\"timestamp\":\"2025-02-01T08:00:00\"}," +
    "{\"role\":\"assistant\",\"content\":\"The liability clause.\",\"timestamp\":\"2025-02-01T08:00:04\",\"sources\":[\"c.pdf\"]}," +
    "{\"role\":\"user\",\"content\":\"Thanks\",\"timestamp\":\"2025-02-01T08:01:00\"}]', '{\"top_k\":5}');",
  want: { 'rag-1': [['user', 'What is clause 4?'], ['assistant', 'The liability clause.'], ['user', 'Thanks']] },
};
const SEED001 = {
  ddl: 'CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR NOT NULL, email VARCHAR, hashed_password VARCHAR);' +
    'CREATE TABLE general_chat_messages (id INTEGER NOT NULL PRIMARY KEY, sender_id INTEGER NOT NULL REFERENCES users(id), ' +
    'content TEXT NOT NULL, created_at DATETIME NOT NULL);' +
    "INSERT INTO users VALUES (1, 'alice', 'a@x', 'h'), (2, 'bob', 'b@x', 'h');" +
    "INSERT INTO general_chat_messages VALUES (1, 1, 'hello all', '2025-03-01 09:00:00.123456'), " +
    "(2, 2, 'hi alice', '2025-03-01 09:00:05.000000'), (3, 1, 'lunch?', '2025-03-01 09:01:00.000000');",
  want: { general: [['user', 'hello all'], ['user', 'hi alice'], ['user', 'lunch?']] },
  names: ['alice', 'bob', 'alice'],
};

const seedSources = [
  { name: 'seed 001 SQLite (general_chat_messages + users)', sqlite: SEED001 },
  { name: 'seed 003 SQLite (conversations + messages)', sqlite: { ...SEED003, ddl: SEED003.ddl.replace('%JSON%', 'TEXT') } },
  { name: 'seed 003 PostgreSQL (its DATABASE_URL)', pg: { ...SEED003, ddl: SEED003.ddl.replace('%JSON%', 'JSONB') } },
  { name: 'seed 004 PostgreSQL (conversations with messages JSON)', pg: SEED004 },
  {
    name: 'seed 004 JSON file (data/conversations.json)',
    file: ['conversations.json', JSON.stringify({
      'rag-1': {
        title: 'Contract questions', created_at: '2025-02-01T08:00:00', updated_at: '2025-02-01T08:10:00',
        messages: [
          { role: 'user', content: 'What is clause 4?', timestamp: '2025-02-01T08:00:00' },
          { role: 'assistant', content: 'The liability clause.', timestamp: '2025-02-01T08:00:04', sources: ['c.pdf'] },
          { role: 'user', content: 'Thanks', timestamp: '2025-02-01T08:01:00' },
        ],
        settings: { top_k: 5 },
      },
    })],
    want: SEED004.want,
  },
  { name: "Parley's own jsonl export", jsonl: true },
];

for (const source of seedSources) {
  const skip = (source.sqlite && !haveSqlite3) ? 'sqlite3 is absent'
    : (source.pg && (!pgUrl || !findPsql())) ? 'PARLEY_TEST_PG_URL is not set or psql is absent' : false;
  test(`${source.name}: imported, then a client joins each conversation and gets its history in order`, { skip }, async (t) => {
    const dir = tempDir(t);
    let from;
    let want = source.want ?? source.sqlite?.want ?? source.pg?.want;
    if (source.sqlite) {
      from = join(dir, 'app.db');
      const r = spawnSync('sqlite3', [from], { input: source.sqlite.ddl, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } else if (source.pg) {
      const name = `parley_seed_import_${process.pid}_${seedSources.indexOf(source)}`;
      const psql = (u, args) => spawnSync(findPsql(), [u, '-v', 'ON_ERROR_STOP=1', '-q', ...args], { encoding: 'utf8' });
      assert.equal(psql(pgUrl, ['-c', `CREATE DATABASE ${name}`]).status, 0);
      t.after(() => psql(pgUrl, ['-c', `DROP DATABASE IF EXISTS ${name}`]));
      from = pgUrl.replace(/\/[^/?]*(\?.*)?$/, `/${name}$1`);
      const r = psql(from, ['-c', source.pg.ddl]);
      assert.equal(r.status, 0, r.stderr);
    } else if (source.file) {
      from = join(dir, source.file[0]);
      writeFileSync(from, source.file[1]);
    } else {
      from = join(root, 'tests/fixtures/import/messages.jsonl');
      want = {};
      for (const line of readFileSync(from, 'utf8').trim().split('\n')) {
        const m = JSON.parse(line);
        (want[m.conversation] ??= []).push([m.sender.role, m.content]);
      }
    }
    const data = join(dir, 'data');
    const r = parley(['import', from, '--data-dir', data]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /verified (\d+) conversation\(s\): \1 match the source/);
    const server = await startServer({ dataDir: data });
    t.after(() => server.stop());
    const c = await login(WebSocket, server, 'reader');
    for (const [conversation, messages] of Object.entries(want)) {
      const history = await joinRoom(c, conversation, { limit: 100 });
      assert.deepEqual(history.messages.map((m) => [m.sender.role, m.content]), messages, conversation);
      assert.deepEqual(history.messages.map((m) => m.seq), history.messages.map((_, i) => history.messages[0].seq + i));
      if (source.sqlite?.names) assert.deepEqual(history.messages.map((m) => m.sender.name), source.sqlite.names);
    }
    await c.close();
  });
}
