// The data commands of the real binary on temp dirs: import, export, cleanup, migrate.
// Binary: PARLEY_BIN or build/parley (from the repository root). Run: node --test tests/e2e/cli/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';

import { startServer } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = resolve(root, process.env.PARLEY_BIN || 'build/parley');
const fixtures = join(root, 'tests/fixtures/import');

function parley(args, env = {}) {
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r;
}

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('binary exists', () => {
  assert.ok(existsSync(bin), `parley binary not found at ${bin} (build it, or set PARLEY_BIN)`);
});

test('import webwoz, export jsonl, import that, export again: byte-identical', (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  let r = parley(['import', 'webwoz', join(fixtures, 'webwoz'), '--data-dir', a]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /imported 2 conversation\(s\), 5 message\(s\)/);
  // Importing twice stores nothing twice.
  r = parley(['import', 'webwoz', join(fixtures, 'webwoz'), '--data-dir', a]);
  assert.equal(r.status, 0, r.stderr);
  const first = parley(['export', '--format', 'jsonl', '--data-dir', a]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.stdout.trim().split('\n').length, 5);
  const file = join(dir, 'all.jsonl');
  writeFileSync(file, first.stdout);
  r = parley(['import', 'jsonl', file, '--data-dir', b]);
  assert.equal(r.status, 0, r.stderr);
  const out = join(dir, 'again.jsonl');
  r = parley(['export', '--format', 'jsonl', '--out', out, '--data-dir', b]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(readFileSync(out, 'utf8'), first.stdout);
  assert.ok(!existsSync(out + '.part'));
});

test('DATA_DIR from the environment, one conversation as markdown and csv', (t) => {
  const dir = tempDir(t);
  let r = parley(['import', 'conversations-json', join(fixtures, 'conversations.json')], { DATA_DIR: dir });
  assert.equal(r.status, 0, r.stderr);
  r = parley(['export', '--conversation', 'test-123', '--format', 'markdown'], { DATA_DIR: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# Test Chat/);
  assert.match(r.stdout, /Hi there!/);
  r = parley(['export', '--format', 'csv'], { DATA_DIR: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.split('conversation,seq,id,').length, 2);
  r = parley(['export', '--conversation', 'missing', '--format', 'json'], { DATA_DIR: dir });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no conversation missing/);
});

test('bad records: reported with file and line, skipped, or fatal with --strict', (t) => {
  const dir = tempDir(t);
  let r = parley(['import', 'jsonl', join(fixtures, 'messages-bad.jsonl'), '--strict', '--data-dir', dir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /messages-bad\.jsonl:2: skipped: not valid JSON/);
  r = parley(['export', '--format', 'jsonl', '--data-dir', dir]);
  assert.equal(r.stdout, '');
  r = parley(['import', 'jsonl', join(fixtures, 'messages-bad.jsonl'), '--data-dir', dir]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /messages-bad\.jsonl:5: skipped: invalid conversation id/);
  assert.match(r.stdout, /imported 2 conversation\(s\), 2 message\(s\); 5 record\(s\) skipped/);
  r = parley(['import', 'webwoz', join(fixtures, 'webwoz-bad'), '--dry-run', '--data-dir', dir]);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /link\.json: skipped: not a regular file/);
  assert.match(r.stdout, /dry run: would import 1 conversation/);
  r = parley(['import', 'xml', fixtures, '--data-dir', dir]);
  assert.equal(r.status, 2);
});

test('cleanup keeps the last N and seqs stay', (t) => {
  const dir = tempDir(t);
  parley(['import', 'webwoz', join(fixtures, 'webwoz'), '--data-dir', dir]);
  let r = parley(['cleanup', '--keep-last', '1', '--dry-run', '--data-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /would remove 3 message/);
  r = parley(['cleanup', '--keep-last', '1', '--conversation', 'abc12345', '--data-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  r = parley(['export', '--conversation', 'abc12345', '--format', 'jsonl', '--data-dir', dir]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((m) => m.seq), [3]);
  r = parley(['cleanup', '--older-than', 'soon', '--data-dir', dir]);
  assert.equal(r.status, 2);
  r = parley(['cleanup', '--data-dir', dir]);
  assert.equal(r.status, 2);
});

// People who never posted: `lurker` joins and reads, `visitor` only authenticates. The server
// stores users, memberships, read state and last_seen (on disconnect).
async function addLurkers(dataDir, conversation) {
  const server = await startServer({ dataDir });
  try {
    for (const user of ['lurker', 'visitor']) {
      const c = await WsClient.connect(WebSocket, server.wsUrl, { name: user });
      let reply = await c.request({ op: 'auth', user, name: `${user} name`, role: 'user' });
      assert.equal(reply.type, 'ok', JSON.stringify(reply));
      if (user === 'lurker') {
        reply = await c.request({ op: 'join', conversation });
        assert.equal(reply.type, 'history', JSON.stringify(reply));
        assert.ok(reply.last_seq >= 2);
        reply = await c.request({ op: 'read', conversation, seq: reply.last_seq - 1 });
        assert.equal(reply.type, 'ok', JSON.stringify(reply));
      }
      await c.close();
    }
  } finally {
    await server.stop();
  }
}

// Users, members and read state of a SQLite store, as text (sqlite3 shell).
function peopleOf(dbPath) {
  const r = spawnSync('sqlite3', [dbPath,
    'SELECT * FROM users ORDER BY id; SELECT * FROM members ORDER BY conversation, user_id; ' +
    'SELECT * FROM read_state ORDER BY conversation, user_id;'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
const haveSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

test('migrate copies users who never posted, members, read state and last_seen', { skip: !haveSqlite3 }, async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  parley(['import', 'webwoz', join(fixtures, 'webwoz'), '--data-dir', src]);
  await addLurkers(src, 'abc12345');
  const before = peopleOf(join(src, 'parley.db'));
  assert.match(before, /^visitor\|visitor name\|\|user\|\d+$/m);
  assert.match(before, /^abc12345\|lurker\|\d+$/m);
  assert.match(before, /^abc12345\|lurker\|2$/m);
  const to = join(dir, 'copy', 'parley.db');
  const r = parley(['migrate', '--from', `sqlite:${join(src, 'parley.db')}`, '--to', `sqlite:${to}`]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /\d+ user\(s\); verification: every conversation matches/);
  assert.equal(peopleOf(to), before);
});

test('migrate sqlite -> sqlite verifies every conversation', (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  parley(['import', 'conversations-json', join(fixtures, 'conversations.json'), '--data-dir', src]);
  parley(['import', 'jsonl', join(fixtures, 'messages.jsonl'), '--data-dir', src]);
  const to = join(dir, 'copy.db');
  let r = parley(['migrate', '--from', `sqlite:${join(src, 'parley.db')}`, '--to', `sqlite:${to}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /migrated 4 conversation\(s\) \(4 copied, 0 already there\).*every conversation matches/);
  r = parley(['migrate', '--from', `sqlite:${join(src, 'parley.db')}`, '--to', `sqlite:${to}`]);
  assert.match(r.stdout, /\(0 copied, 4 already there\)/);
  const a = parley(['export', '--format', 'json', '--data-dir', src]).stdout;
  const copyDir = join(dir, 'copydir');
  r = parley(['migrate', '--from', `sqlite:${to}`, '--to', `sqlite:${join(copyDir, 'parley.db')}`]);
  assert.equal(r.status, 0, r.stderr);
  const b = parley(['export', '--format', 'json', '--data-dir', copyDir]).stdout;
  assert.equal(b, a);
});

// SQLite -> PostgreSQL -> SQLite, when PARLEY_TEST_PG_URL names a server (for example
// scripts/pg-test-cluster.sh start build/pg) and psql is there to make a fresh database.
function findPsql() {
  for (const v of ['17', '16', '15', '14']) {
    const p = `/usr/lib/postgresql/${v}/bin/psql`;
    if (existsSync(p)) return p;
  }
  return null;
}

test('migrate sqlite -> postgresql -> sqlite is identical', { skip: !process.env.PARLEY_TEST_PG_URL || !findPsql() || !haveSqlite3 }, async (t) => {
  const url = process.env.PARLEY_TEST_PG_URL;
  const name = `parley_cli_${process.pid}`;
  const psql = (sql) => spawnSync(findPsql(), [url, '-qc', sql], { encoding: 'utf8' });
  assert.equal(psql(`CREATE DATABASE ${name}`).status, 0);
  t.after(() => psql(`DROP DATABASE IF EXISTS ${name}`));
  const pg = url.replace(/\/[^/?]*(\?.*)?$/, `/${name}$1`);
  const dir = tempDir(t);
  const src = join(dir, 'src');
  parley(['import', 'webwoz', join(fixtures, 'webwoz'), '--data-dir', src]);
  parley(['import', 'jsonl', join(fixtures, 'messages.jsonl'), '--data-dir', src]);
  await addLurkers(src, 'abc12345');
  parley(['cleanup', '--keep-last', '2', '--conversation', 'abc12345', '--data-dir', src]);
  let r = parley(['migrate', '--from', `sqlite:${join(src, 'parley.db')}`, '--to', pg]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /every conversation matches/);
  const back = join(dir, 'back');
  r = parley(['migrate', '--from', pg, '--to', `sqlite:${join(back, 'parley.db')}`]);
  assert.equal(r.status, 0, r.stderr);
  for (const format of ['json', 'jsonl']) {
    const a = parley(['export', '--format', format, '--data-dir', src]).stdout;
    const b = parley(['export', '--format', format, '--data-dir', back]).stdout;
    const c = parley(['export', '--format', format, '--database-url', pg]).stdout;
    assert.equal(b, a);
    assert.equal(c, a);
  }
  // Users (also those who never posted), members, read state, last_seen.
  assert.equal(peopleOf(join(back, 'parley.db')), peopleOf(join(src, 'parley.db')));
});
