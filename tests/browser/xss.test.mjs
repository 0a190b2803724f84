// Hostile message text renders as text on the chat and admin pages and runs nothing.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  launchBrowser, newPage, openChat, rest, send, startServer, waitMessage,
} from './lib.mjs';

const PAYLOADS = [
  '<img src=x onerror="window.__xss=1;alert(1)">',
  '<script>window.__xss=2;alert(2)</script>',
  '**<svg onload="window.__xss=3">**',
  '[click me](javascript:window.__xss=4)',
  '`<b>code</b>` and <iframe src="javascript:window.__xss=5"></iframe>',
  '```\n</code></pre><img src=x onerror="window.__xss=6">\n```',
];

describe('XSS', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('messages with markup render as text and run nothing', async () => {
    const base = server.url;
    const sender = await newPage(browser);
    const reader = await newPage(browser);
    const dialogs = [];
    for (const { page } of [sender, reader]) {
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        d.dismiss().catch(() => {});
      });
    }
    await openChat(sender.page, base, { name: 'Mallory', room: 'xss' });
    await openChat(reader.page, base, { name: 'Victim', room: 'xss' });

    // Also a hostile sender name and role posted through REST.
    const res = await rest(base, 'POST', '/api/conversations/xss/messages', {
      sender: { id: 'evil', name: '<img src=x onerror="window.__xss=7">', role: '<b>bot</b>' },
      content: 'rest <script>window.__xss=8</script>',
    });
    assert.equal(res.status, 201, res.text);

    for (const payload of PAYLOADS) await send(sender.page, payload);
    for (const { page } of [sender, reader]) {
      await waitMessage(page, 'window.__xss=6');
      await waitMessage(page, 'rest <script>');
    }

    for (const { page } of [sender, reader]) {
      const list = page.locator('#messages');
      assert.equal(await list.locator('img, script, iframe, svg:not([aria-hidden])').count(), 0,
        'no element came from message text');
      assert.equal(await list.locator('a[href^="javascript"]').count(), 0);
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      // The raw text is visible as typed.
      await waitMessage(page, '<img src=x onerror="window.__xss=1;alert(1)">');
      await waitMessage(page, '<script>window.__xss=2;alert(2)</script>');
      const bold = list.locator('.msg', { hasText: 'svg onload' }).locator('strong');
      assert.equal(await bold.textContent(), '<svg onload="window.__xss=3">');
      const code = list.locator('.msg', { hasText: 'and <iframe' }).locator('code');
      assert.equal(await code.textContent(), '<b>code</b>');
      const name = list.locator('.msg[data-sender="evil"] .name');
      assert.equal(await name.textContent(), '<img src=x onerror="window.__xss=7">');
    }

    // The admin page shows the same conversation safely.
    const admin = await newPage(browser);
    admin.page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    await admin.page.goto(`${base}/admin#c=xss`);
    await admin.page.locator('#transcript .line', { hasText: 'window.__xss=6' }).waitFor();
    assert.equal(await admin.page.locator('#transcript').locator('img, script, iframe, svg').count(), 0);
    await admin.page.fill('#search-input', 'onerror');
    await admin.page.press('#search-input', 'Enter');
    await admin.page.locator('#hits-title', { hasText: 'result' }).waitFor();
    assert.equal(await admin.page.locator('#hit-list').locator('img, script, iframe, svg').count(), 0);
    assert.equal(await admin.page.evaluate(() => window.__xss), undefined);

    assert.deepEqual(dialogs, [], 'no alert() ran');
    for (const { page } of [sender, reader, admin]) assert.deepEqual(page.errors, []);
  });
});
