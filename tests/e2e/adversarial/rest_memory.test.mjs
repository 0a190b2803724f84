// REST memory must not grow with what is asked for (issue 14, item 7). Observed on the landed
// build: on a 92.5 MB conversation one export added 178 MB of RSS, four concurrent
// full-conversation GETs peaked at 1.4 GB and left 756 MB held. Exports and a GET without
// `limit` now stream a page at a time.
//
// Short form (make test): a 24 MB conversation. PARLEY_ADVERSARIAL_FULL=1: 100 MB.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import { makeDataDir, parleyBin, sleep, startServer } from '../lib/server.mjs';
import { memoryMb } from './eio.mjs';

const kMb = Number(process.env.PARLEY_ADVERSARIAL_MB || (process.env.PARLEY_ADVERSARIAL_FULL ? 100 : 24));
const kContent = 1000; // bytes of content per message
const kMessages = Math.round((kMb * 1024 * 1024) / (kContent + 250));

// A jsonl file of one conversation, written in large chunks (about 1 s per 100 MB).
function generate(file) {
  const fd = fs.openSync(file, 'w');
  const filler = 'lorem ipsum dolor sit amet, '.repeat(Math.ceil(kContent / 28)).slice(0, kContent - 12);
  let chunk = '';
  for (let i = 1; i <= kMessages; ++i) {
    chunk += JSON.stringify({
      conversation: 'big',
      seq: i,
      sender: { id: i % 2 ? 'wizard' : 'participant', name: i % 2 ? 'Wizard' : 'Participant', role: 'user' },
      kind: 'text',
      content: `${String(i).padStart(10, '0')}: ${filler}`,
      created_at: 1767225600000 + i * 1000,
    }) + '\n';
    if (chunk.length > 1 << 20) {
      fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  fs.writeSync(fd, chunk);
  fs.closeSync(fd);
}

// GETs `path` and counts the body without keeping it; resolves {status, bytes, lines, head, tail}.
function drain(base, urlPath) {
  return new Promise((resolve, reject) => {
    http
      .get(base + urlPath, { timeout: 120000 }, (res) => {
        let bytes = 0;
        let lines = 0;
        let head = '';
        let tail = '';
        res.on('data', (c) => {
          bytes += c.length;
          for (const b of c) if (b === 10) lines += 1;
          if (head.length < 200) head += c.toString('utf8', 0, Math.min(c.length, 200));
          tail = (tail + c.toString('utf8', Math.max(0, c.length - 200))).slice(-200);
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, lines, head, tail }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

test(`four concurrent exports of a ${kMb} MB conversation keep RSS bounded`, { timeout: 300000 }, async () => {
  const dataDir = makeDataDir();
  const file = path.join(dataDir, 'big.jsonl');
  generate(file);
  const size = fs.statSync(file).size;
  const started = Date.now();
  const imported = spawnSync(parleyBin(), ['import', 'jsonl', file, '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(imported.status, 0, imported.stderr + imported.stdout);
  console.log(`imported ${kMessages} messages (${(size / 1048576).toFixed(1)} MB of jsonl) in ${Date.now() - started} ms`);
  fs.rmSync(file);

  const server = await startServer({ dataDir, env: { REST_MAX_STREAMS: '4' } });
  try {
    const pid = server.proc.pid;
    await sleep(500);
    // The heap is what a request builds in; SQLite's mmap'd database pages are resident
    // too but are file pages the kernel takes back, so anonymous memory is sampled (its
    // peak: every 20 ms while the exports run).
    const before = memoryMb(pid);
    let peakAnon = before.anon;
    const sampler = setInterval(() => {
      peakAnon = Math.max(peakAnon, memoryMb(pid).anon);
    }, 20);
    const results = await Promise.all([
      drain(server.url, '/api/conversations/big/export?format=jsonl'),
      drain(server.url, '/api/conversations/big/export?format=csv'),
      drain(server.url, '/api/conversations/big/export?format=json'),
      drain(server.url, '/api/conversations/big'),
    ]);
    clearInterval(sampler);
    const after = memoryMb(pid);
    console.log(`RSS ${before.rss.toFixed(1)} MB before, peak ${after.hwm.toFixed(1)} MB, ${after.rss.toFixed(1)} MB after; anonymous ${before.anon.toFixed(1)} MB before, peak ${peakAnon.toFixed(1)} MB; bodies ${results.map((r) => (r.bytes / 1048576).toFixed(1)).join(', ')} MB`);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.ok(r.bytes > size * 0.7, `a whole body (${r.bytes} bytes)`);
    }
    assert.equal(results[0].lines, kMessages, 'jsonl: one line a message');
    assert.equal(results[1].lines, kMessages + 1, 'csv: a header and a line a message');
    assert.match(results[2].head, /^\{"id":"big",/);
    assert.ok(results[2].tail.endsWith(']}'));
    assert.match(results[3].head, /^\{"id":"big",/);
    assert.ok(results[3].tail.endsWith(']}'));
    assert.match(results[3].headers['content-type'], /application\/json/);
    // Four bodies of kMb each went out; the server's peak grew by a small fraction of one.
    assert.ok(peakAnon - before.anon < 48, `peak anonymous RSS grew by ${(peakAnon - before.anon).toFixed(1)} MB (bound 48 MB)`);

    // A fifth at once is refused (REST_MAX_STREAMS=4), not queued in memory.
    const five = await Promise.all(Array.from({ length: 5 }, () => drain(server.url, '/api/conversations/big/export?format=jsonl')));
    const statuses = five.map((r) => r.status).sort();
    assert.ok(statuses.filter((s) => s === 200).length >= 1, JSON.stringify(statuses));
    assert.ok(statuses.every((s) => s === 200 || s === 503), JSON.stringify(statuses));

    // With `limit`, the latest messages, capped like every history page (1000).
    const capped = await fetch(`${server.url}/api/conversations/big?limit=5000`).then((r) => r.json());
    assert.equal(capped.messages.length, 1000);
    assert.equal(capped.messages.at(-1).seq, kMessages);
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
