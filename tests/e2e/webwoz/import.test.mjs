// WebWOz's conversations moved into Parley with `parley import`, from where the app keeps
// them: its room files (backend/data/conversations/*.json, the real ones of the repository
// snapshot, copied out of it), its SQLAlchemy tables in SQLite (made by the app's own models,
// backend/database.py, with Debian's python3-sqlalchemy) and in PostgreSQL (the same models'
// DDL, when PARLEY_TEST_PG_URL names a server). After each import the app's own clients
// (lib.mjs: the participant and wizard front ends) join each room and get its history in
// order, one new_message per stored message, as the app sends it; the wizard also gets the
// app's templates (its templates.json beside the room files, its `templates` table) in its
// `templates` event.
// Parley only (WEBWOZ_TARGET=flask runs the app itself, which has no import).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { parleyBin } from '../lib/server.mjs';
import { PYTHON, TARGET, WOZCHAT_GIT_DIR, participantClient, startTarget, wizardClient } from './lib.mjs';

const skipAll = TARGET !== 'parley' ? 'parley import is Parley\'s (WEBWOZ_TARGET=flask)' : false;

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-webwoz-import-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// `again`: the source was imported already, so nothing is written (nor verified).
function importInto(source, data, { again = false } = {}) {
  const r = spawnSync(parleyBin(), ['import', source, '--data-dir', data], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  if (again) {
    assert.match(r.stdout, /imported 0 conversation\(s\), 0 message\(s\)/);
  } else {
    assert.match(r.stdout, /verified (\d+) conversation\(s\): \1 match the source/);
  }
  return r.stdout;
}

// A file of the snapshot at HEAD; null when the snapshot is absent.
function fromSnapshot(p) {
  if (!fs.existsSync(WOZCHAT_GIT_DIR)) return null;
  const r = spawnSync('git', ['--git-dir', WOZCHAT_GIT_DIR, 'show', `HEAD:${p}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : null;
}

// Each room's history as the wizard and the participant front ends receive it on join:
// [sender, text] of each new_message, in order.
async function historyOf(url, room, count) {
  const wizard = await wizardClient(url, room);
  const participant = await participantClient(url, room);
  try {
    const got = [];
    for (const client of [wizard, participant]) {
      const want = (m) => m.room === room;
      for (let i = 0; client.rec.of('new_message').filter(want).length < count && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      got.push(client.rec.of('new_message').filter((m) => m.room === room).map((m) => [m.sender, m.text, Date.parse(m.timestamp)]));
    }
    assert.deepEqual(got[1], got[0], 'the participant gets what the wizard gets');
    return got[0];
  } finally {
    wizard.close();
    participant.close();
  }
}

test("WebWOz's real data directory (room files, templates.json): imported, then the app's clients get each room's history and the templates in order", { skip: skipAll }, async (t) => {
  const list = fs.existsSync(WOZCHAT_GIT_DIR)
    ? spawnSync('git', ['--git-dir', WOZCHAT_GIT_DIR, 'ls-tree', '--name-only', 'HEAD', 'backend/data/conversations/'], { encoding: 'utf8' })
    : null;
  if (!list || list.status !== 0) {
    console.error(`\n*** SKIPPED: the WebWOz snapshot is absent at ${WOZCHAT_GIT_DIR} (WOZCHAT_GIT_DIR) ***\n`);
    t.skip('WebWOz snapshot absent');
    return;
  }
  // The app's DATA_DIR: conversations/ and templates.json beside it (backend/app.py).
  const dir = tempDir(t);
  const rooms = path.join(dir, 'conversations');
  fs.mkdirSync(rooms);
  const files = list.stdout.trim().split('\n').filter((p) => p.endsWith('.json'));
  assert.ok(files.length > 0);
  for (const p of files) fs.writeFileSync(path.join(rooms, path.basename(p)), fromSnapshot(p));
  const templatesJson = fromSnapshot('backend/data/templates.json');
  assert.ok(templatesJson, 'backend/data/templates.json in the snapshot');
  fs.writeFileSync(path.join(dir, 'templates.json'), templatesJson);
  const data = path.join(dir, 'data');
  const out = importInto(rooms, data);
  assert.match(out, /WebWOz room file\(s\) \(seed 000\), with the app's templates in /);
  // The file as json.load reads it: its categories and keys in their order.
  const want = Object.entries(JSON.parse(templatesJson)).map(([category, items]) => [category, Object.entries(items)]);
  const count = want.reduce((n, [, items]) => n + items.length, 0);
  assert.match(out, new RegExp(`verified templates: ${count} held with the source's value`));
  // Named by DATA_DIR this time: the same rooms and templates, nothing to write.
  assert.match(importInto(dir, data, { again: true }), new RegExp(`templates: imported 0 of the source's ${count} into the template store; ${count} unchanged`));
  const server = await startTarget({ dataDir: data });
  t.after(() => server.stop());
  for (const file of fs.readdirSync(rooms)) {
    const room = JSON.parse(fs.readFileSync(path.join(rooms, file), 'utf8'));
    const want = room.messages.map((m) => [m.sender, m.text, Date.parse(m.timestamp)]);
    assert.deepEqual(await historyOf(server.url, room.room_id, want.length), want, `room ${room.room_id}`);
  }
  assert.deepEqual(await templatesOf(server.url, JSON.parse(fs.readFileSync(path.join(rooms, fs.readdirSync(rooms)[0]), 'utf8')).room_id), want);
});

// Two rooms as the app's DatabaseManager stores them: message_order decides the order (rows
// inserted out of it), a room with no messages.
const ROOMS = {
  a1b2c3d4: [
    ['participant', 'Hi, I need a table for two', '2025-08-07T12:00:30+00:00'],
    ['wizard', 'Of course! For which evening?', '2025-08-07T12:01:00+00:00'],
    ['participant', 'Friday, 8pm **please**\nnear the window 🙂', '2025-08-07T12:02:00+00:00'],
    ['bot', 'Booked: Friday 20:00, table 4.', '2025-08-07T12:02:30+00:00'],
  ],
  e5f6a7b8: [['participant', 'Anyone there?', '2025-08-08T09:00:00+00:00']],
};

// The app's templates table, rows in id order: [category, key, value]. The wizard front end
// shows each category as a phase (Pinned apart) and each key as a template's id.
const TEMPLATES = [
  ['Phase 1', 'greeting', 'Welcome to the study!'],
  ['Phase 1', 'ask', 'What happened, **exactly**?'],
  ['Pinned', 'wait', 'One moment please 🙂'],
  ['Phase 2', 'bye', 'Thanks, goodbye!'],
];

// Runs Debian's python with the app's backend/database.py (its SQLAlchemy models).
function withModels(t, script, env = {}) {
  const source = fromSnapshot('backend/database.py');
  if (!source) return { skipped: `the WebWOz snapshot is absent at ${WOZCHAT_GIT_DIR}` };
  if (spawnSync(PYTHON, ['-c', 'import sqlalchemy']).status !== 0) {
    return { skipped: `${PYTHON} lacks python3-sqlalchemy (scripts/install-deps.sh)` };
  }
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'database.py'), source);
  const r = spawnSync(PYTHON, ['-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, PYTHONPATH: dir, ...env } });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return { out: r.stdout };
}

// Rows of ROOMS for the models, inserted in reverse message_order.
const FILL = `
import json, os
from datetime import datetime
rooms = json.loads(os.environ['ROOMS'])
templates = json.loads(os.environ['TEMPLATES'])
def rows(Conversation, Message, Template):
    out = [Template(category=c, key=k, value=v) for c, k, v in templates]
    for room, msgs in rooms.items():
        out.append(Conversation(room_id=room, created_at=datetime.fromisoformat(msgs[0][2]),
                                last_updated=datetime.fromisoformat(msgs[-1][2]),
                                message_count=len(msgs), is_active=True,
                                extra_data=json.dumps({"study": "pilot"})))
        for order in reversed(range(len(msgs))):
            sender, text, at = msgs[order]
            out.append(Message(room_id=room, sender=sender, text=text,
                               timestamp=datetime.fromisoformat(at), message_order=order + 1))
    return out
`;

// The `templates` event a wizard gets on joining `room`, as ordered entries (the front end
// lists phases and templates in the dict's order).
async function templatesOf(url, room) {
  const wizard = await wizardClient(url, room);
  try {
    const dict = await wizard.rec.next('templates');
    return Object.entries(dict).map(([category, items]) => [category, Object.entries(items)]);
  } finally {
    wizard.close();
  }
}

async function expectRooms(t, data) {
  const server = await startTarget({ dataDir: data });
  t.after(() => server.stop());
  for (const [room, msgs] of Object.entries(ROOMS)) {
    const want = msgs.map(([sender, text, at]) => [sender, text, Date.parse(at)]);
    assert.deepEqual(await historyOf(server.url, room, want.length), want, `room ${room}`);
  }
  // The app's templates, not Parley's defaults, in the table's order.
  const want = [];
  for (const [category, key, value] of TEMPLATES) {
    let entry = want.find(([c]) => c === category);
    if (!entry) want.push((entry = [category, []]));
    entry[1].push([key, value]);
  }
  assert.deepEqual(await templatesOf(server.url, Object.keys(ROOMS)[0]), want);
}

test("WebWOz's SQLite tables, made by the app's own models: imported, then the app's clients get each room's history in order", { skip: skipAll }, async (t) => {
  const dir = tempDir(t);
  const db = path.join(dir, 'webwoz.db');
  const made = withModels(t, `${FILL}
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from database import Base, Conversation, Message, Template
engine = create_engine('sqlite:///${db}')
Base.metadata.create_all(engine)
with Session(engine) as s:
    s.add_all(rows(Conversation, Message, Template))
    s.commit()
`, { ROOMS: JSON.stringify(ROOMS), TEMPLATES: JSON.stringify(TEMPLATES) });
  if (made.skipped) {
    console.error(`\n*** SKIPPED: ${made.skipped} ***\n`);
    t.skip(made.skipped);
    return;
  }
  const data = path.join(dir, 'data');
  assert.match(importInto(db, data), /WebWOz/);
  await expectRooms(t, data);
});

function findPsql() {
  for (const v of ['17', '16', '15', '14']) {
    const p = `/usr/lib/postgresql/${v}/bin/psql`;
    if (fs.existsSync(p)) return p;
  }
  return null;
}

test("WebWOz's PostgreSQL tables (the models' DDL): imported, then the app's clients get each room's history in order", { skip: skipAll }, async (t) => {
  const url = process.env.PARLEY_TEST_PG_URL;
  if (!url || !findPsql()) {
    console.error('\n*** SKIPPED: PARLEY_TEST_PG_URL is not set or psql is absent (scripts/pg-test-cluster.sh) ***\n');
    t.skip('no PostgreSQL');
    return;
  }
  // The models' own DDL for PostgreSQL (SQLAlchemy compiles it), then the rows as INSERTs.
  const dir = tempDir(t);
  const sql = path.join(dir, 'webwoz.sql');
  const made = withModels(t, `${FILL}
from sqlalchemy import literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable, CreateIndex
from database import Base, Conversation, Message, Template
d = postgresql.dialect()
out = open(os.environ['OUT'], 'w')  # (importing the module prints to stdout)
for table in Base.metadata.sorted_tables:
    out.write(str(CreateTable(table).compile(dialect=d)).strip() + ';\\n')
    for index in table.indexes:
        out.write(str(CreateIndex(index).compile(dialect=d)).strip() + ';\\n')
for row in rows(Conversation, Message, Template):
    table = row.__table__
    values = {c.name: getattr(row, c.key) for c in table.columns if getattr(row, c.key) is not None}
    # SQLAlchemy 1.4 renders no datetime literal: the ISO text, which PostgreSQL casts.
    values = {k: literal_column("'" + v.isoformat() + "'") if isinstance(v, datetime) else v
              for k, v in values.items()}
    out.write(str(table.insert().values(**values).compile(dialect=d, compile_kwargs={'literal_binds': True})) + ';\\n')
out.close()
`, { ROOMS: JSON.stringify(ROOMS), TEMPLATES: JSON.stringify(TEMPLATES), OUT: sql });
  if (made.skipped) {
    console.error(`\n*** SKIPPED: ${made.skipped} ***\n`);
    t.skip(made.skipped);
    return;
  }
  const name = `parley_webwoz_import_${process.pid}`;
  const psql = (u, args) => spawnSync(findPsql(), [u, '-v', 'ON_ERROR_STOP=1', '-q', ...args], { encoding: 'utf8' });
  assert.equal(psql(url, ['-c', `CREATE DATABASE ${name}`]).status, 0);
  t.after(() => psql(url, ['-c', `DROP DATABASE IF EXISTS ${name}`]));
  const pg = url.replace(/\/[^/?]*(\?.*)?$/, `/${name}$1`);
  const loaded = psql(pg, ['-f', sql]);
  assert.equal(loaded.status, 0, loaded.stderr);
  const data = path.join(dir, 'data');
  assert.match(importInto(pg, data), /WebWOz/);
  await expectRooms(t, data);
});
