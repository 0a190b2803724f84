// The admin page: list with counts and cursor paging, search, open, export in every format,
// delete with confirmation, health; and the 401 token hook (mocked, token mode comes later).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  eventually, launchBrowser, newPage, rest, seedConversation, startServer,
} from './lib.mjs';

describe('admin page', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const base = server.url;
    await seedConversation(base, 'support-42', {
      title: 'Support ticket 42',
      messages: [
        { sender: { id: 'u1', name: 'Una', role: 'participant' }, content: 'My **printer** is on fire' },
        { sender: { id: 'oz', name: 'Oz', role: 'wizard' }, content: 'Have you tried a bucket of water?' },
        { sender: { id: 'u1', name: 'Una', role: 'participant' }, content: 'Ah, "quotes", commas\nand a newline' },
      ],
    });
    await seedConversation(base, 'smalltalk', {
      title: 'Small talk',
      messages: [{ sender: { id: 'b1', name: 'Bot', role: 'bot' }, content: 'Lovely weather, zanzibar!' }],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('lists conversations with counts and shows health', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${server.url}/admin`);
    const item = page.locator('#conversation-list .conv-item[data-id="support-42"]');
    await item.waitFor();
    assert.match(await item.textContent(), /Support ticket 42/);
    assert.match(await item.locator('.conv-count').textContent(), /^3 msg$/);
    assert.match(await item.locator('.conv-time').textContent(), /just now|min ago/);
    await page.locator('#health-status[data-status="healthy"]').waitFor();
    assert.match(await page.locator('#health-stats').textContent(), /Storage/);
    assert.deepEqual(page.errors, []);
  });

  test('pages through the list with the cursor', async () => {
    const base = server.url;
    for (let i = 0; i < 52; i++) {
      await seedConversation(base, `bulk-${String(i).padStart(2, '0')}`, { title: `Bulk ${i}` });
    }
    const { page } = await newPage(browser);
    await page.goto(`${base}/admin`);
    await page.locator('#conversation-list .conv-item').first().waitFor();
    await page.locator('#list-more').waitFor();
    assert.equal(await page.locator('#conversation-list .conv-item').count(), 50);
    await page.click('#list-more');
    await eventually(async () => (await page.locator('#conversation-list .conv-item').count()) === 54, {
      message: 'all 54 conversations listed',
    });
    const ids = await page.$$eval('#conversation-list .conv-item', (els) => els.map((e) => e.dataset.id));
    assert.equal(new Set(ids).size, ids.length, 'no conversation listed twice');
    assert.equal(await page.locator('#list-more').isHidden(), true);
  });

  test('searches messages and opens the hit', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${server.url}/admin`);
    await page.fill('#search-input', 'zanzibar');
    await page.press('#search-input', 'Enter');
    const hit = page.locator('#hit-list .hit').first();
    await hit.waitFor();
    assert.match(await hit.textContent(), /zanzibar/i);
    assert.equal(await hit.locator('mark').first().textContent(), 'zanzibar');
    await hit.click();
    await page.locator('#detail-title', { hasText: 'Small talk' }).waitFor();
    await page.locator('#transcript .line.highlight', { hasText: 'Lovely weather' }).waitFor();
  });

  test('exports a conversation in every format', async () => {
    const { page } = await newPage(browser);
    await page.goto(`${server.url}/admin#c=support-42`);
    await page.locator('#transcript .line', { hasText: 'bucket of water' }).waitFor();
    // Markdown in messages renders; the raw export keeps it.
    assert.equal(await page.locator('#transcript .line strong').first().textContent(), 'printer');

    const contents = {};
    for (const format of ['json', 'jsonl', 'markdown', 'csv']) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click(`#exports a[data-format="${format}"]`),
      ]);
      const file = await download.path();
      contents[format] = fs.readFileSync(file, 'utf8');
      assert.ok(download.suggestedFilename().length > 0, `${format} has a file name`);
    }
    const json = JSON.parse(contents.json);
    const jsonMessages = json.messages ?? json.conversation?.messages;
    assert.ok(Array.isArray(jsonMessages), 'json export holds messages');
    assert.equal(jsonMessages.length, 3);
    const lines = contents.jsonl.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => JSON.stringify(l).includes('bucket of water')));
    assert.match(contents.markdown, /bucket of water/);
    assert.match(contents.markdown, /Oz/);
    assert.match(contents.csv, /bucket of water/);
    assert.match(contents.csv, /"Ah, ""quotes"", commas/);
  });

  test('deletes a conversation only after confirmation', async () => {
    const base = server.url;
    await seedConversation(base, 'doomed', {
      title: 'Doomed',
      messages: [{ sender: { id: 'x', name: 'X', role: 'participant' }, content: 'bye' }],
    });
    const { page } = await newPage(browser);
    await page.goto(`${base}/admin`);
    await page.click('#conversation-list .conv-item[data-id="doomed"]');
    await page.locator('#transcript .line', { hasText: 'bye' }).waitFor();

    await page.click('#delete-btn');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /Delete “Doomed”\?/);
    await dialog.locator('button[value="cancel"]').click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await rest(base, 'GET', '/api/conversations/doomed')).status, 200);

    await page.click('#delete-btn');
    await page.locator('dialog[open] button[value="ok"]').click();
    await page.locator('#conversation-list .conv-item[data-id="doomed"]').waitFor({ state: 'detached' });
    await eventually(async () => (await rest(base, 'GET', '/api/conversations/doomed')).status === 404, {
      message: 'doomed is gone',
    });
    assert.equal(await page.locator('#detail').isHidden(), true);
  });

  test('asks for a token on 401 and then sends it (mocked token mode)', async () => {
    const { page } = await newPage(browser);
    const seen = [];
    // Emulate a token-mode server: REST answers 401 unless the bearer token is right.
    await page.route(/\/api\//, async (route) => {
      const auth = route.request().headers().authorization || '';
      seen.push(auth);
      if (auth !== 'Bearer s3cret') {
        await route.fulfill({
          status: 401,
          contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'unauthorized', message: 'token required' } }),
        });
        return;
      }
      await route.continue();
    });
    await page.goto(`${server.url}/admin`);
    const dialog = page.locator('dialog.token-dialog[open]');
    await dialog.waitFor();
    await dialog.locator('input').fill('wrong');
    await dialog.locator('button[value="ok"]').click();
    // A rejected token asks again.
    await page.locator('dialog.token-dialog[open]', { hasText: 'not accepted' }).waitFor();
    await page.locator('dialog.token-dialog[open] input').fill('s3cret');
    await page.locator('dialog.token-dialog[open] button[value="ok"]').click();
    await page.locator('#conversation-list .conv-item').first().waitFor();
    assert.ok(seen.includes('Bearer s3cret'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('parley.token')), 's3cret');
  });

  test('the chat page sends {op:"auth", token} after an unauthorized reply (mocked)', async () => {
    const { page } = await newPage(browser);
    const frames = [];
    // A stand-in socket server in token mode.
    await page.routeWebSocket(/\/ws$/, (ws) => {
      ws.onMessage((data) => {
        const msg = JSON.parse(String(data));
        frames.push(msg);
        if (msg.op === 'auth' && msg.token === 's3cret') {
          ws.send(JSON.stringify({ type: 'ok', ref: msg.ref, user: { id: 'tok-user', name: 'Token User', role: 'participant' } }));
        } else if (msg.op === 'auth') {
          ws.send(JSON.stringify({ type: 'error', ref: msg.ref, code: 'unauthorized', message: 'token required' }));
        } else if (msg.op === 'ping') {
          ws.send(JSON.stringify({ type: 'pong', ref: msg.ref }));
        }
      });
    });
    await page.goto(`${server.url}/`);
    await page.fill('#identity-name', 'Tess');
    await page.click('#identity-submit');
    const dialog = page.locator('dialog.token-dialog[open]');
    await dialog.waitFor();
    await dialog.locator('input').fill('s3cret');
    await dialog.locator('button[value="ok"]').click();
    await page.waitForSelector('#conn[data-state="online"]');
    assert.deepEqual(frames.filter((f) => f.op === 'auth').map((f) => (f.token ? 'token' : 'open')), ['open', 'token']);
    assert.equal(frames.find((f) => f.token).token, 's3cret');
  });
});
