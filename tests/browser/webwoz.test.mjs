// WebWOz's two React front ends, built from the app's repository unchanged (tveigel/WoZChat
// at 5a94a67, `npm ci` + `npm run build` as its dockerfile does), served by Parley from
// WEBWOZ_FRONTEND_DIR, in headless Chromium: a wizard page and a participant page talk
// through Parley.
//
// The build happens outside this repository, in ~/.cache/parley/webwoz-<rev>/ (or
// $WEBWOZ_CACHE), once per revision: a few minutes the first time, nothing afterwards. The
// repository snapshot comes from $WOZCHAT_GIT_DIR (default /work/.mirror/tveigel+WoZChat/
// repo); without it the test is skipped with a loud message.
//
// One deviation, in the browser, not the app or Parley: Debian's Chromium 156 returns a
// Promise from Element.scrollIntoView(), and the wizard's ChatArea.js writes
// `useEffect(() => bottomRef.current?.scrollIntoView(...), [messages])`, so React takes
// that Promise for an effect cleanup and throws "destroy is not a function" on the next
// message, against the app's own back end too. An init script restores the older
// `undefined` return value (scrollIntoView still scrolls).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, newPage, rest, startServer } from './lib.mjs';

const GIT_DIR = process.env.WOZCHAT_GIT_DIR || '/work/.mirror/tveigel+WoZChat/repo';
const REV = process.env.WOZCHAT_REV || '5a94a67';

function gitRev() {
  return execFileSync('git', ['--git-dir', GIT_DIR, 'rev-parse', '--short=7', REV], { encoding: 'utf8' }).trim();
}

// Builds both bundles as the dockerfile's builder stage does, then lays them out as its
// second stage lays out backend/static/. Returns that folder.
function buildFrontends() {
  const rev = gitRev();
  const cache = process.env.WEBWOZ_CACHE || path.join(os.homedir(), '.cache', 'parley', `webwoz-${rev}`);
  const out = path.join(cache, 'static');
  if (fs.existsSync(path.join(out, 'wizard', 'index.html')) && fs.existsSync(path.join(out, 'participant', 'index.html'))) {
    return out;
  }
  const src = path.join(cache, 'src');
  fs.mkdirSync(src, { recursive: true });
  const archive = spawnSync('git', ['--git-dir', GIT_DIR, 'archive', rev, 'frontend-participant', 'frontend-wizard'], {
    maxBuffer: 512 * 1024 * 1024,
  });
  assert.equal(archive.status, 0, String(archive.stderr));
  assert.equal(spawnSync('tar', ['x', '-C', src], { input: archive.stdout }).status, 0);
  // The dockerfile's lines, with `npm ci` (the lock files are committed) for `npm install`.
  // As written there, PUBLIC_URL applies to the install only, so the bundles are built for
  // "/" and load /static/js/...; Parley serves /static/ as the app does (wizard's first).
  // CI unset: react-scripts would turn lint warnings into errors.
  const env = { ...process.env };
  delete env.CI;
  for (const [dir, publicUrl] of [
    ['frontend-participant', '/static/p'],
    ['frontend-wizard', '/static/w'],
  ]) {
    const r = spawnSync(
      'bash',
      ['-c', `cd ${dir} && PUBLIC_URL="${publicUrl}" npm ci --no-audit --no-fund && npm run build`],
      { cwd: src, env, stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60 * 1000 },
    );
    assert.equal(r.status, 0, `building ${dir} failed`);
  }
  const tmp = `${out}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.cpSync(path.join(src, 'frontend-participant', 'build'), path.join(tmp, 'participant'), { recursive: true });
  fs.cpSync(path.join(src, 'frontend-wizard', 'build'), path.join(tmp, 'wizard'), { recursive: true });
  fs.cpSync(path.join(src, 'frontend-participant', 'build', 'static'), path.join(tmp, 'static', 'p'), { recursive: true });
  fs.cpSync(path.join(src, 'frontend-wizard', 'build', 'static'), path.join(tmp, 'static', 'w'), { recursive: true });
  fs.renameSync(tmp, out);
  return out;
}

const haveRepo = fs.existsSync(GIT_DIR);
if (!haveRepo) {
  console.error(`*** webwoz.test.mjs SKIPPED: no WoZChat repository at ${GIT_DIR} (set WOZCHAT_GIT_DIR) ***`);
}

// Chromium 156's scrollIntoView returns a Promise; the wizard hands it to React as an
// effect cleanup (see the top of this file).
const RESTORE_SCROLL_INTO_VIEW = () => {
  const original = Element.prototype.scrollIntoView;
  Element.prototype.scrollIntoView = function scrollIntoView(...args) {
    original.apply(this, args);
  };
};

describe('WebWOz front ends on Parley', { skip: !haveRepo }, () => {
  let server;
  let browser;
  let frontendDir;

  before(async () => {
    frontendDir = buildFrontends();
    server = await startServer({ env: { WEBWOZ_FRONTEND_DIR: frontendDir } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a wizard and a participant talk through Parley', async () => {
    const wizard = await newPage(browser);
    await wizard.context.addInitScript(RESTORE_SCROLL_INTO_VIEW);
    // The wizard page without a room asks POST /api/new_room and moves to /wizard/<room>.
    await wizard.page.goto(`${server.url}/wizard`);
    await wizard.page.waitForURL(/\/wizard\/[0-9a-f]{8}$/, { timeout: 20000 });
    const room = wizard.page.url().split('/').pop();
    // The app's default templates arrive with the join (the phase "General").
    await wizard.page.getByText('Hello! How can I help you today?').first().waitFor({ timeout: 20000 });

    const participant = await newPage(browser);
    await participant.context.addInitScript(RESTORE_SCROLL_INTO_VIEW);
    await participant.page.goto(`${server.url}/chat/${room}`);
    const input = participant.page.getByPlaceholder('Type your message…');
    await input.waitFor();

    // Typing shows live on the wizard's side (participant_is_typing).
    await input.pressSequentially('My car was hit', { delay: 10 });
    await wizard.page.locator('.typing-preview', { hasText: 'My car was hit' }).waitFor({ timeout: 10000 });
    await participant.page.getByRole('button', { name: 'Send' }).click();
    await wizard.page.locator('.message.participant', { hasText: 'My car was hit' }).waitFor({ timeout: 10000 });
    // The participant waits for the answer (its spinner).
    await participant.page.locator('.waiting-indicator').waitFor({ timeout: 5000 });

    const draft = wizard.page.getByPlaceholder('Type a custom response…');
    await draft.fill('Sorry to hear that. **When** did it happen?');
    await wizard.page.getByRole('button', { name: 'Send Response' }).click();
    await wizard.page.locator('.message.wizard', { hasText: 'When' }).waitFor({ timeout: 10000 });
    // Delivered to the participant (the app's back end at HEAD does not: see
    // tests/e2e/webwoz/README.md); markdown as the participant page renders it.
    const answer = participant.page.locator('.message.wizard');
    await answer.waitFor({ timeout: 10000 });
    assert.match(await answer.innerText(), /Sorry to hear that\. When did it happen\?/);
    assert.equal(await answer.locator('strong').innerText(), 'When');
    // The spinner stopped and the participant can send again.
    await participant.page.locator('.waiting-indicator').waitFor({ state: 'detached', timeout: 5000 });
    await input.fill('Yesterday');
    await participant.page.getByRole('button', { name: 'Send' }).click();
    await wizard.page.locator('.message.participant', { hasText: 'Yesterday' }).waitFor({ timeout: 10000 });

    // A reloaded wizard page gets the history from Parley.
    await wizard.page.reload();
    await wizard.page.locator('.message.participant', { hasText: 'Yesterday' }).waitFor({ timeout: 10000 });
    assert.equal(await wizard.page.locator('.message').count(), 3);

    // Stored in the app's shape.
    const stored = await rest(server.url, 'GET', `/api/conversations/${room}`);
    assert.equal(stored.status, 200);
    assert.deepEqual(
      stored.body.messages.map((m) => [m.sender, m.text]),
      [
        ['participant', 'My car was hit'],
        ['wizard', 'Sorry to hear that. **When** did it happen?'],
        ['participant', 'Yesterday'],
      ],
    );
    // The bundles' index.html link /manifest.json, /favicon.ico and /logo192.png, which the
    // app's back end does not serve either (404 there too): only other errors count.
    const real = (errors) => errors.filter((e) => !/Failed to load resource|Manifest/i.test(e));
    assert.deepEqual(real(wizard.page.errors), []);
    assert.deepEqual(real(participant.page.errors), []);
    await wizard.context.close();
    await participant.context.close();
  });

  test('/ goes to the wizard; Parley\'s own page is at /parley', async () => {
    const res = await fetch(`${server.url}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/wizard');
    const own = await fetch(`${server.url}/parley`);
    assert.equal(own.status, 200);
    assert.match(await own.text(), /<title>[^<]*Parley/i);
    const api = await rest(server.url, 'GET', '/api/v1/conversations');
    assert.equal(api.status, 200);
    assert.ok(Array.isArray(api.body.conversations));
  });

  test('paths out of WEBWOZ_FRONTEND_DIR are refused', async () => {
    fs.writeFileSync(path.join(path.dirname(frontendDir), 'secret.txt'), 'secret');
    const link = path.join(frontendDir, 'static', 'w', 'link.txt');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.join(path.dirname(frontendDir), 'secret.txt'), link);
    for (const p of [
      '/static/../../secret.txt',
      '/static/%2e%2e/%2e%2e/secret.txt',
      '/static/w/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/static/..%2f..%2fsecret.txt',
      '/static/w/link.txt',
      '/chat/..%2f..%2fsecret.txt',
    ]) {
      const res = await fetch(`${server.url}${p}`);
      const body = await res.text();
      assert.notEqual(res.status, 200, p);
      assert.ok(!body.includes('secret'), p);
    }
    fs.rmSync(link, { force: true });
    // What is inside is served, with the app's /static/ fallbacks (wizard's bundle first).
    const index = fs.readFileSync(path.join(frontendDir, 'wizard', 'index.html'), 'utf8');
    const script = index.match(/src="([^"]+\.js)"/)[1];
    const js = await fetch(`${server.url}${script}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /javascript/);
  });
});
