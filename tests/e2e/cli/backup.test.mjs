// `parley backup` while a server takes writes, `parley restore` into a fresh data dir: the
// restored store serves the same messages (a consistent prefix of what was acknowledged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { api } from '../lib/http.mjs';
import { parleyBin, startServer } from '../lib/server.mjs';

const bin = parleyBin();

function parleyAsync(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function parley(args, env = {}) {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

async function messages(server, conversation) {
  const res = await api(server.url, 'GET', `/api/conversations/${conversation}/messages?after=0&limit=1000`);
  assert.equal(res.status, 200, res.text);
  return res.json.messages;
}

const post = (server, conversation, i) =>
  api(server.url, 'POST', `/api/conversations/${conversation}/messages`, {
    sender: { id: 'writer', name: 'Writer', role: 'bot' },
    content: `message ${i}`,
  });

test('backup while the server writes, restore into a fresh dir: the same messages', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-backup-'));
  const servers = [];
  t.after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  const live = join(dir, 'live');
  const server = await startServer({ dataDir: live });
  servers.push(server);

  // Two writers keep posting until the backup is done (and a little after).
  let writing = true;
  const acked = { a: 0, b: 0 };
  const writer = async (conversation) => {
    for (let i = 1; writing || i <= 20; i++) {
      const res = await post(server, conversation, i);
      assert.equal(res.status, 201, res.text);
      acked[conversation] = res.json.seq;
    }
  };
  const writers = [writer('a'), writer('b')];
  while (acked.a < 50 || acked.b < 50) await new Promise((r) => setTimeout(r, 20));

  const file = join(dir, 'backup.db');
  const before = { ...acked };
  const backup = await parleyAsync(['backup', file, '--data-dir', live]);
  const after = { ...acked };
  writing = false;
  await Promise.all(writers);
  assert.equal(backup.status, 0, backup.stderr);
  assert.match(backup.stdout, /^backed up 2 conversation\(s\), \d+ message\(s\) to /);
  assert.ok(existsSync(file) && !existsSync(`${file}.part`));

  // The backup refuses to overwrite a file without --force.
  let r = parley(['backup', file, '--data-dir', live]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists/);

  const fresh = join(dir, 'fresh');
  r = parley(['restore', file, '--data-dir', fresh]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^restored 2 conversation\(s\)/);
  // Not into a store that has data, unless --force.
  r = parley(['restore', file, '--data-dir', fresh]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not empty/);
  r = parley(['restore', join(dir, 'missing.db'), '--data-dir', join(dir, 'other')]);
  assert.equal(r.status, 1);

  const restored = await startServer({ dataDir: fresh });
  servers.push(restored);
  for (const conversation of ['a', 'b']) {
    const original = await messages(server, conversation);
    const copy = await messages(restored, conversation);
    // Everything acknowledged before the backup started, nothing that was not committed,
    // no gap: a prefix of the original, message for message.
    assert.ok(copy.length >= before[conversation], `${conversation}: ${copy.length} < ${before[conversation]}`);
    assert.ok(copy.length <= after[conversation] + 2, `${conversation}: ${copy.length} > ${after[conversation]}`);
    assert.deepEqual(copy, original.slice(0, copy.length));
  }
  // The restored store takes new messages after its last seq.
  const last = (await messages(restored, 'a')).at(-1).seq;
  const res = await post(restored, 'a', 'new');
  assert.equal(res.json.seq, last + 1);

  // --force replaces a store that has data (its server stopped): the new message is gone.
  await restored.stop();
  r = parley(['restore', file, '--data-dir', fresh, '--force']);
  assert.equal(r.status, 0, r.stderr);
  await restored.restart();
  assert.equal((await messages(restored, 'a')).at(-1).seq, last);
});

test('PostgreSQL: backup and restore print the pg_dump / pg_restore commands, without the password', () => {
  const url = 'postgresql://parley:s3cret@db.example:5432/chat';
  let r = parley(['backup', '/backups/chat.dump', '--database-url', url]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /PGPASSWORD=\.\.\. pg_dump --format=custom --file='\/backups\/chat\.dump' 'postgresql:\/\/parley@db\.example:5432\/chat'/);
  r = parley(['restore', '/backups/chat.dump'], { DB_HOST: 'db.example', DB_USER: 'parley', DB_NAME: 'chat' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pg_restore --no-owner --dbname='postgresql:\/\/parley@db\.example:5432\/chat' '\/backups\/chat\.dump'/);
  assert.doesNotMatch(r.stdout + r.stderr, /s3cret/);
});
