// The chat page against a real server: two people in one room, live messages both ways,
// typing, read receipts, presence, edit/delete, history on reload and on scroll, unread
// counts, and an offline/online cycle that loses and duplicates nothing.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  eventually, launchBrowser, messageSeqs, messageTexts, newPage, openChat, rest,
  seedConversation, send, sleep, startServer, waitConnected, waitJoined, waitMessage,
} from './lib.mjs';

describe('chat page', () => {
  let server;
  let browser;
  let alice;
  let bob;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    alice = await newPage(browser);
    bob = await newPage(browser);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('two people chat live: presence, typing, messages both ways, read receipts', async () => {
    const base = server.url;
    // Alice creates the room through the sidebar form.
    await alice.page.goto(`${base}/`);
    await alice.page.fill('#identity-name', 'Alice');
    await alice.page.selectOption('#identity-role', 'participant');
    await alice.page.click('#identity-submit');
    await waitConnected(alice.page);
    await alice.page.fill('#new-room-input', 'general');
    await alice.page.press('#new-room-input', 'Enter');
    await waitJoined(alice.page, 'general');
    assert.match(alice.page.url(), /#\/r\/general$/);
    await alice.page.locator('#room-list .room-item[data-room="general"]').waitFor();

    // Bob arrives by link, as a wizard; Alice sees him come online.
    await openChat(bob.page, base, { name: 'Bob', role: 'wizard', room: 'general' });
    await alice.page.locator('#presence', { hasText: 'Bob' }).waitFor({ timeout: 10000 });

    // Typing indicator, shown to Bob only.
    await alice.page.locator('#composer-input').click();
    await alice.page.keyboard.type('hel');
    await bob.page.locator('#typing', { hasText: 'Alice is typing' }).waitFor({ timeout: 10000 });
    assert.equal(await alice.page.locator('#typing').textContent(), '');

    // Shift+Enter makes a newline; Enter sends. Markdown renders as elements.
    await alice.page.keyboard.type('lo **Bob**');
    await alice.page.keyboard.press('Shift+Enter');
    await alice.page.keyboard.type('- one');
    await alice.page.keyboard.press('Shift+Enter');
    await alice.page.keyboard.type('- `two`');
    await alice.page.keyboard.press('Enter');
    assert.equal(await alice.page.inputValue('#composer-input'), '');
    await waitMessage(bob.page, 'hello Bob');
    const bobView = bob.page.locator('#messages .msg', { hasText: 'hello Bob' });
    assert.equal(await bobView.locator('strong').textContent(), 'Bob');
    assert.equal(await bobView.locator('li').count(), 2);
    assert.equal(await bobView.locator('li code').textContent(), 'two');
    await bob.page.locator('#typing', { hasText: 'typing' }).waitFor({ state: 'detached', timeout: 10000 })
      .catch(async () => {
        assert.equal((await bob.page.locator('#typing').textContent()).trim(), '');
      });

    // Bob answers with a code block; Alice gets it live.
    await send(bob.page, 'hi Alice\n```\nconst x = 1 < 2;\n```');
    await waitMessage(alice.page, 'hi Alice');
    const aliceView = alice.page.locator('#messages .msg', { hasText: 'hi Alice' });
    assert.equal(await aliceView.locator('pre code').textContent(), 'const x = 1 < 2;');
    assert.equal(await aliceView.locator('.role-badge').textContent(), 'wizard');

    // Bob has read Alice's message: "Seen by Bob" under it on Alice's side.
    await alice.page.locator('#messages .receipt', { hasText: 'Seen by Bob' }).waitFor({ timeout: 10000 });
    // And Alice reading Bob's answer shows on Bob's side once Bob writes again.
    await send(bob.page, 'did you see this?');
    await waitMessage(alice.page, 'did you see this?');
    await bob.page.locator('#messages .receipt', { hasText: 'Seen by Alice' }).waitFor({ timeout: 10000 });

    // Both sides show the same messages in the same order, each once.
    const a = await messageTexts(alice.page);
    const b = await messageTexts(bob.page);
    assert.deepEqual(a, b);
    assert.equal(a.length, 3);
    const seqs = await messageSeqs(alice.page);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    assert.equal(new Set(seqs).size, seqs.length);

    assert.deepEqual(alice.page.errors, []);
    assert.deepEqual(bob.page.errors, []);
  });

  test('presence: someone joining shows online, leaving goes offline', async () => {
    const carol = await newPage(browser);
    await openChat(carol.page, server.url, { name: 'Carol', role: 'bot', room: 'general' });
    // Carol sees who was already there (the join reply's online list), the others see her.
    await carol.page.locator('#presence', { hasText: 'Alice' }).waitFor({ timeout: 10000 });
    await carol.page.locator('#presence', { hasText: 'Bob' }).waitFor({ timeout: 10000 });
    await alice.page.locator('#presence', { hasText: 'Carol' }).waitFor({ timeout: 10000 });
    await carol.context.close();
    await alice.page.locator('#presence', { hasText: 'Carol' }).waitFor({ state: 'detached', timeout: 15000 });
    assert.match(await alice.page.locator('#presence-count').textContent(), /^2 online$/);
  });

  test('edit and delete own messages (Esc cancels an edit)', async () => {
    const { page } = alice;
    await send(page, 'tpyo here');
    await waitMessage(page, 'tpyo here');
    await waitMessage(bob.page, 'tpyo here');

    // Bob cannot edit Alice's message: no actions on it.
    const bobMsg = bob.page.locator('#messages .msg', { hasText: 'tpyo here' });
    assert.equal(await bobMsg.locator('button[aria-label="Edit message"]').count(), 0);

    // ArrowUp in the empty composer edits the last own message; Esc cancels.
    await page.locator('#composer-input').click();
    await page.keyboard.press('ArrowUp');
    const editor = page.locator('#messages .edit-input');
    await editor.waitFor();
    assert.equal(await editor.inputValue(), 'tpyo here');
    await editor.press('Escape');
    await editor.waitFor({ state: 'detached' });

    // The edit button, then Enter saves.
    const mine = page.locator('#messages .msg.mine', { hasText: 'tpyo here' });
    await mine.hover();
    await mine.locator('button[aria-label="Edit message"]').click();
    await editor.fill('typo fixed');
    await editor.press('Enter');
    await waitMessage(bob.page, 'typo fixed');
    await bob.page.locator('#messages .msg', { hasText: 'typo fixed' }).locator('.edited').waitFor();

    // Delete asks first; cancelling keeps the message.
    const fixed = page.locator('#messages .msg.mine', { hasText: 'typo fixed' });
    await fixed.hover();
    await fixed.locator('button[aria-label="Delete message"]').click();
    await page.locator('dialog[open] button[value="cancel"]').click();
    await sleep(300);
    assert.equal(await page.locator('#messages .msg', { hasText: 'typo fixed' }).count(), 1);

    await fixed.hover();
    await fixed.locator('button[aria-label="Delete message"]').click();
    await page.locator('dialog[open] button[value="ok"]').click();
    await bob.page.locator('#messages .msg.deleted', { hasText: 'This message was deleted' }).waitFor();
    await bob.page.locator('#messages .msg', { hasText: 'typo fixed' }).waitFor({ state: 'detached' });
    await page.locator('#messages .msg.deleted').waitFor();
  });

  test('a reload keeps the history', async () => {
    const before = await messageTexts(bob.page);
    await bob.page.reload();
    await waitConnected(bob.page);
    await waitJoined(bob.page, 'general');
    await eventually(async () => (await messageTexts(bob.page)).length === before.length, {
      message: 'history after reload',
    });
    assert.deepEqual(await messageTexts(bob.page), before);
    // Identity survived the reload too.
    assert.equal(await bob.page.locator('#me-name').textContent(), 'Bob');
  });

  test('older messages load when scrolling up (history with before)', async () => {
    const base = server.url;
    const messages = [];
    for (let i = 1; i <= 130; i++) {
      messages.push({ sender: { id: 'carol', name: 'Carol', role: 'bot' }, content: `line ${i}` });
    }
    await seedConversation(base, 'long', { title: 'Long room', messages });
    const { page } = alice;
    await page.goto(`${base}/#/r/long`);
    await waitJoined(page, 'long');
    await waitMessage(page, 'line 130');
    const initial = await messageSeqs(page);
    assert.ok(initial.length < 130, `first page should not hold everything (${initial.length})`);
    assert.ok(!initial.includes(1));

    await eventually(async () => {
      await page.locator('#messages').evaluate((el) => {
        el.scrollTop = 0;
        el.dispatchEvent(new Event('scroll'));
      });
      return (await messageSeqs(page)).includes(1);
    }, { timeout: 20000, interval: 300, message: 'the first message after scrolling up' });
    const all = await messageSeqs(page);
    assert.equal(all.length, 130);
    assert.deepEqual(all, Array.from({ length: 130 }, (_, i) => i + 1));
    await page.locator('#messages .room-start').waitFor();
  });

  test('unread counts show per room in the room list', async () => {
    const base = server.url;
    // Bob is in "general"; he also visits "side" and goes back to "general".
    await seedConversation(base, 'side', { title: 'Side room' });
    await bob.page.goto(`${base}/#/r/side`);
    await waitJoined(bob.page, 'side');
    await bob.page.click('#room-list .room-item[data-room="general"]');
    await waitJoined(bob.page, 'general');

    // Two messages arrive in "side" while Bob looks at "general".
    for (const text of ['side one', 'side two']) {
      const res = await rest(base, 'POST', '/api/conversations/side/messages', {
        sender: { id: 'dave', name: 'Dave', role: 'participant' }, content: text,
      });
      assert.equal(res.status, 201, res.text);
    }
    const badge = bob.page.locator('#room-list .room-item[data-room="side"] .badge');
    await eventually(async () => (await badge.textContent().catch(() => '')) === '2', {
      message: 'live unread badge 2',
    });

    // The server's count (GET /api/conversations?user=bob) agrees after a reload.
    const list = await rest(base, 'GET', '/api/conversations?user=bob');
    assert.equal(list.status, 200, list.text);
    const side = list.body.conversations.find((c) => c.id === 'side');
    assert.ok(side, 'bob is a member of side');
    assert.equal(side.unread, 2);
    await bob.page.reload();
    await waitJoined(bob.page, 'general');
    await eventually(async () => (await badge.textContent().catch(() => '')) === '2', {
      message: 'unread badge 2 from REST after reload',
    });

    // Opening the room reads it: the badge goes away.
    await bob.page.click('#room-list .room-item[data-room="side"]');
    await waitMessage(bob.page, 'side two');
    await badge.waitFor({ state: 'detached' });
    await eventually(async () => {
      const again = await rest(base, 'GET', '/api/conversations?user=bob');
      return again.body.conversations.find((c) => c.id === 'side')?.unread === 0;
    }, { message: 'server unread 0 after reading' });
  });

  test('an offline/online cycle loses and duplicates nothing', async () => {
    const base = server.url;
    await seedConversation(base, 'flaky', { title: 'Flaky network' });
    await alice.page.goto(`${base}/#/r/flaky`);
    await bob.page.goto(`${base}/#/r/flaky`);
    await waitJoined(alice.page, 'flaky');
    await waitJoined(bob.page, 'flaky');
    await send(alice.page, 'before the drop');
    await waitMessage(bob.page, 'before the drop');

    await alice.context.setOffline(true);
    await alice.page.waitForSelector('#conn:not([data-state="online"])', { timeout: 15000 });

    // Bob keeps talking; Alice writes while offline (kept in her outbox).
    for (const text of ['bob while away 1', 'bob while away 2', 'bob while away 3']) {
      await send(bob.page, text);
      await waitMessage(bob.page, text);
    }
    await send(alice.page, 'alice offline 1');
    await send(alice.page, 'alice offline 2');
    await alice.page.locator('#messages .msg.pending', { hasText: 'alice offline 2' }).waitFor();

    await alice.context.setOffline(false);
    await waitConnected(alice.page, 30000);
    for (const text of ['bob while away 1', 'bob while away 2', 'bob while away 3', 'alice offline 1', 'alice offline 2']) {
      await waitMessage(alice.page, text, 20000);
      await waitMessage(bob.page, text, 20000);
    }
    await alice.page.locator('#messages .msg.pending').waitFor({ state: 'detached' });

    const expected = ['before the drop', 'bob while away 1', 'bob while away 2', 'bob while away 3',
      'alice offline 1', 'alice offline 2'];
    for (const page of [alice.page, bob.page]) {
      const texts = await messageTexts(page);
      assert.deepEqual([...texts].sort(), [...expected].sort(), 'each message exactly once');
      const seqs = await messageSeqs(page);
      assert.equal(new Set(seqs).size, seqs.length);
    }
    const stored = await rest(base, 'GET', '/api/conversations/flaky/messages?limit=100');
    assert.equal(stored.status, 200, stored.text);
    assert.equal(stored.body.messages.length, expected.length, 'stored once each');

    // Closing the socket from the page (a dropped connection) also recovers.
    await alice.page.evaluate(() => window.parley.state.ws.close());
    await send(bob.page, 'after the close');
    await waitConnected(alice.page, 20000);
    await waitMessage(alice.page, 'after the close', 20000);
    const texts = await messageTexts(alice.page);
    assert.equal(texts.filter((t) => t === 'after the close').length, 1);
    assert.equal(texts.length, expected.length + 1);
  });
});
