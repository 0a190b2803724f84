// Where WebWOz's back end serves its two built front ends (backend/app.py: /, /wizard,
// /wizard/<room>, /chat/<room>, /static/...), from a folder laid out as the app's dockerfile
// lays out backend/static/. A small stand-in folder here (the real bundles are built by
// tests/browser/webwoz.test.mjs); the same tests run against the app (WEBWOZ_TARGET=flask,
// the folder linked as backend/static).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { TARGET, startTarget } from './lib.mjs';

let target;
let outside;
let dir;

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

before(async () => {
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'webwoz-pages-'));
  dir = path.join(outside, 'static');
  write(path.join(outside, 'secret.txt'), 'top secret');
  write(path.join(dir, 'wizard', 'index.html'), '<title>wizard page</title>');
  write(path.join(dir, 'participant', 'index.html'), '<title>participant page</title>');
  write(path.join(dir, 'static', 'w', 'js', 'main.w1.js'), 'wizard();');
  write(path.join(dir, 'static', 'p', 'js', 'main.p1.js'), 'participant();');
  write(path.join(dir, 'static', 'w', 'css', 'same.css'), '/* wizard */');
  write(path.join(dir, 'static', 'p', 'css', 'same.css'), '/* participant */');
  write(path.join(dir, 'static', 'root.txt'), 'root asset');
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'static', 'w', 'link.txt'));
  target = await startTarget({ frontendDir: dir });
});

after(async () => {
  await target?.stop();
  fs.rmSync(outside, { recursive: true, force: true });
});

async function get(p) {
  const res = await fetch(target.url + p, { redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// Sends the request target byte for byte (fetch would normalise "..").
function rawGet(p) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, '127.0.0.1', () => {
      socket.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), text: data }));
    socket.on('error', reject);
  });
}

describe(`WebWOz pages on ${TARGET}`, () => {
  test('the wizard at /wizard and /wizard/<room>, the participant at /chat/<room>', async () => {
    for (const p of ['/wizard', '/wizard/abcd1234']) {
      const r = await get(p);
      assert.equal(r.status, 200, p);
      assert.equal(r.text, '<title>wizard page</title>');
      assert.match(r.headers.get('content-type'), /^text\/html/);
    }
    const chat = await get('/chat/abcd1234');
    assert.equal(chat.status, 200);
    assert.equal(chat.text, '<title>participant page</title>');
    assert.equal((await get('/chat')).status, 404);
  });

  test('/ redirects to /wizard', async () => {
    const r = await get('/');
    assert.equal(r.status, 302);
    assert.match(r.headers.get('location'), /\/wizard$/);
  });

  test('/static/ serves each bundle, and falls back wizard, participant, then the root', async () => {
    const cases = [
      ['/static/w/js/main.w1.js', 'wizard();'],
      ['/static/p/js/main.p1.js', 'participant();'],
      ['/static/js/main.w1.js', 'wizard();'],
      ['/static/js/main.p1.js', 'participant();'],
      ['/static/css/same.css', '/* wizard */'],
      ['/static/p/css/same.css', '/* participant */'],
      ['/static/root.txt', 'root asset'],
    ];
    for (const [p, body] of cases) {
      const r = await get(p);
      assert.equal(r.status, 200, p);
      assert.equal(r.text, body, p);
    }
    assert.match((await get('/static/w/js/main.w1.js')).headers.get('content-type'), /javascript/);
    assert.equal((await get('/static/js/missing.js')).status, 404);
  });

  test('nothing outside the folder is served', async () => {
    const hostile = [
      '/static/../../secret.txt',
      '/static/%2e%2e/%2e%2e/secret.txt',
      '/static/w/%2e%2e/%2e%2e/%2e%2e/secret.txt',
      '/static/..%2f..%2fsecret.txt',
      '/static/w/..%2F..%2F..%2Fsecret.txt',
      '/static/%2E%2E%5C%2E%2E%5Csecret.txt',
      '/chat/..%2f..%2f..%2fsecret.txt',
      '/wizard/..%2f..%2fsecret.txt',
    ];
    for (const p of hostile) {
      const r = await rawGet(p);
      assert.notEqual(r.status, 200, p);
      assert.ok(!r.text.includes('top secret'), p);
    }
    if (TARGET === 'parley') {
      // A symlink inside the folder that leads out of it. (The app's send_from_directory
      // follows it: Parley is stricter.)
      const r = await rawGet('/static/w/link.txt');
      assert.equal(r.status, 404);
      assert.ok(!r.text.includes('top secret'));
    }
  });
});
