// Long operations off a terminal print plain progress lines on stderr; SIGINT (Ctrl-C) stops
// them between two conversations with a message, leaving only whole conversations, and
// migrate and import complete when run again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parleyBin } from '../lib/server.mjs';

const bin = parleyBin();
const CONVERSATIONS = 400;
const PER = 2;

function parley(args, env = {}) {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

// Runs parley with a progress line after every step and sends SIGINT at the first one.
function interrupted(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: { PATH: process.env.PATH, PARLEY_PROGRESS_INTERVAL_MS: '0' },
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && /^\w+: \d+/m.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, sent }));
  });
}

function source(t, conversations = CONVERSATIONS) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-progress-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = [];
  for (let c = 0; c < conversations; c++) {
    for (let seq = 1; seq <= PER; seq++) {
      lines.push(JSON.stringify({
        id: `m-${c}-${seq}`, conversation: `conv-${String(c).padStart(4, '0')}`, seq,
        sender: { id: 'u1', name: 'Ada', role: 'user' }, kind: 'text', content: `message ${seq}`,
        meta: {}, created_at: '2026-01-02T10:00:00.000Z', edited_at: null, deleted: false, client_id: null,
      }));
    }
  }
  const file = join(dir, 'all.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file };
}

// Messages per conversation of a store, from its jsonl export.
function countsOf(dataDir) {
  const r = parley(['export', '--format', 'jsonl', '--data-dir', dataDir]);
  assert.equal(r.status, 0, r.stderr);
  const counts = new Map();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const m = JSON.parse(line);
    counts.set(m.conversation, (counts.get(m.conversation) || 0) + 1);
  }
  return counts;
}

test('progress lines when stderr is not a terminal', (t) => {
  const { dir, file } = source(t);
  const env = { PARLEY_PROGRESS_INTERVAL_MS: '0', SQLITE_SYNCHRONOUS: 'NORMAL' };
  const data = join(dir, 'data');
  let r = parley(['import', 'jsonl', file, '--data-dir', data], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^import: 2 messages, \d+\/s$/m);
  assert.match(r.stderr, new RegExp(`^import: ${CONVERSATIONS * PER} messages, \\d+/s$`, 'm'));
  assert.doesNotMatch(r.stderr, /\r|\x1b/); // no terminal redraws

  r = parley(['export', '--format', 'jsonl', '--out', join(dir, 'out.jsonl'), '--data-dir', data], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^export: 2/${CONVERSATIONS * PER} messages \\(0%\\), \\d+/s(, ETA \\d+:\\d\\d)?$`, 'm'));
  assert.match(r.stderr, new RegExp(`^export: ${CONVERSATIONS * PER}/${CONVERSATIONS * PER} messages \\(100%\\)`, 'm'));

  r = parley(['cleanup', '--keep-last', '1', '--dry-run', '--data-dir', data], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^cleanup: ${CONVERSATIONS}/${CONVERSATIONS} conversations \\(100%\\)`, 'm'));

  // The default interval (5 s) prints nothing for a run this short.
  r = parley(['export', '--format', 'jsonl', '--out', join(dir, 'again.jsonl'), '--data-dir', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /^export: \d+\//m);
});

test('SIGINT stops migrate between conversations; running it again resumes', async (t) => {
  const { dir, file } = source(t);
  const src = join(dir, 'src');
  let r = parley(['import', 'jsonl', file, '--data-dir', src], { SQLITE_SYNCHRONOUS: 'NORMAL' });
  assert.equal(r.status, 0, r.stderr);
  const dst = join(dir, 'dst');
  const args = ['migrate', '--from', `sqlite:${join(src, 'parley.db')}`, '--to', `sqlite:${join(dst, 'parley.db')}`];
  const stopped = await interrupted(args);
  assert.ok(stopped.sent, stopped.stderr);
  assert.equal(stopped.status, 130, stopped.stderr + stopped.stdout);
  const m = stopped.stdout.match(/^interrupted after (\d+) conversation\(s\) \((\d+) copied, 0 already there\).*run the same command again to resume$/m);
  assert.ok(m, stopped.stdout);
  const done = Number(m[1]);
  assert.ok(done >= 1 && done < CONVERSATIONS, `stopped after ${done}`);
  const counts = countsOf(dst);
  assert.equal(counts.size, done);
  for (const [id, n] of counts) assert.equal(n, PER, `${id} is not whole`);

  r = parley(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`migrated ${CONVERSATIONS} conversation\\(s\\) \\(${CONVERSATIONS - done} copied, ${done} already there\\).*every conversation matches`));
});

test('SIGINT stops import between conversations; importing again completes it', async (t) => {
  // More conversations than for migrate: an import stores one in well under a millisecond,
  // and the signal must arrive before the last one.
  const total = 2000;
  const { dir, file } = source(t, total);
  const data = join(dir, 'data');
  const stopped = await interrupted(['import', 'jsonl', file, '--data-dir', data]);
  assert.ok(stopped.sent, stopped.stderr);
  assert.equal(stopped.status, 130, stopped.stderr + stopped.stdout);
  const m = stopped.stdout.match(/^interrupted: stopped before conversation (conv-\d+) \(.*all\.jsonl:\d+\); imported (\d+) conversation\(s\)/m);
  assert.ok(m, stopped.stdout);
  const counts = countsOf(data);
  assert.equal(counts.size, Number(m[2]));
  assert.ok(counts.size < total);
  assert.ok(!counts.has(m[1]));
  for (const [id, n] of counts) assert.equal(n, PER, `${id} is not whole`);

  const r = parley(['import', 'jsonl', file, '--data-dir', data], { SQLITE_SYNCHRONOUS: 'NORMAL' });
  assert.equal(r.status, 0, r.stderr);
  const all = countsOf(data);
  assert.equal(all.size, total);
  for (const [id, n] of all) assert.equal(n, PER, `${id} is not whole`);
});
