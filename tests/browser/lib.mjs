// Shared helpers for the browser tests: start a Parley server on a free loopback port with a
// fresh data dir, launch Debian's Chromium headless through playwright-core, drive the pages.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts `PARLEY_BIN serve` (default build/parley) on a free port with a fresh data dir and
 * waits for GET /health to answer 200. Returns {url, dataDir, log, stop()}.
 */
export async function startServer({ env = {} } = {}) {
  const bin = path.resolve(ROOT, process.env.PARLEY_BIN || 'build/parley');
  if (!fs.existsSync(bin)) {
    throw new Error(`Parley binary not found at ${bin}; build it or set PARLEY_BIN`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-browser-'));
  const logPath = path.join(dataDir, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const port = await freePort();
  const child = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    cwd: dataDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (exited) {
      throw new Error(`parley exited early (${JSON.stringify(exited)}):\n${tail(logPath)}`);
    }
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`parley did not become healthy within 30 s:\n${tail(logPath)}`);
    }
    await sleep(100);
  }
  return {
    url,
    dataDir,
    logPath,
    log: () => tail(logPath),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        if (!exited) await once(child, 'exit').catch(() => {});
        clearTimeout(timer);
      }
      fs.closeSync(log);
      if (!process.env.PARLEY_KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function tail(file, lines = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Launches headless Chromium (Debian's, never a downloaded one). `chromium.launch` gives the
 * browser a fresh temporary --user-data-dir of its own, and each newContext() is isolated
 * (its own storage and cookies), so two contexts are two independent users.
 */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install -y chromium`);
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A new isolated browser context + page. Console errors and page errors are collected in
 * page.errors so tests can assert the page ran clean.
 */
export async function newPage(browser, { viewport = { width: 1280, height: 800 }, ...options } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.errors.push(msg.text());
  });
  return { context, page };
}

/** Calls the REST API; resolves {status, body, headers}. */
export async function rest(base, method, pathname, body) {
  const res = await fetch(base + pathname, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, body: json, text, headers: res.headers };
}

/** Creates a conversation (ignoring 409) and posts `messages` [{sender, content}] into it. */
export async function seedConversation(base, id, { title, messages = [] } = {}) {
  const created = await rest(base, 'POST', '/api/conversations', { id, title: title || id });
  if (created.status !== 201 && created.status !== 200 && created.status !== 409) {
    throw new Error(`create ${id}: ${created.status} ${created.text}`);
  }
  for (const m of messages) {
    const res = await rest(base, 'POST', `/api/conversations/${encodeURIComponent(id)}/messages`, m);
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`post to ${id}: ${res.status} ${res.text}`);
    }
  }
}

/**
 * Opens the chat page at `room` (a hash route) and signs in through the identity dialog.
 * Waits until the socket is connected.
 */
export async function openChat(page, base, { name, role = 'participant', room } = {}) {
  await page.goto(room ? `${base}/#/r/${encodeURIComponent(room)}` : `${base}/`);
  const dialog = page.locator('#identity-dialog');
  await dialog.waitFor({ state: 'visible' });
  await page.fill('#identity-name', name);
  await page.selectOption('#identity-role', role);
  await page.click('#identity-submit');
  await waitConnected(page);
  if (room) await waitJoined(page, room);
}

export async function waitConnected(page, timeout = 20000) {
  await page.waitForSelector('#conn[data-state="online"]', { timeout });
}

/** Waits until the page has joined `room` on its current connection. */
export async function waitJoined(page, room, timeout = 20000) {
  await page.waitForFunction(
    (id) => window.parley?.state.rooms.get(id)?.joined === true,
    room,
    { timeout },
  );
}

/** Types and sends a message through the composer (Enter). */
export async function send(page, text) {
  const input = page.locator('#composer-input');
  await input.click();
  await input.fill(text);
  await input.press('Enter');
}

/** Texts of the rendered messages in the open room, in order. */
export function messageTexts(page) {
  return page.$$eval('#messages .msg:not(.pending) .content', (els) => els.map((e) => e.textContent));
}

/** Seqs of the rendered messages in the open room, in order. */
export function messageSeqs(page) {
  return page.$$eval('#messages .msg[data-seq]', (els) => els.map((e) => Number(e.dataset.seq)));
}

/** Waits for a message whose text contains `text` to be rendered (not pending). */
export async function waitMessage(page, text, timeout = 15000) {
  await page
    .locator('#messages .msg:not(.pending)', { hasText: text })
    .first()
    .waitFor({ state: 'visible', timeout });
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually(fn, { timeout = 15000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

export function ensureDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
