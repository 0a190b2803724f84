// Screenshots of the chat and admin pages at desktop (1280x800) and phone (390x844) widths,
// saved to docs/screenshots/. Also checks that nothing overflows sideways on a phone.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  SCREENSHOTS, ensureDir, launchBrowser, newPage, openChat, seedConversation, send, sleep,
  startServer, waitMessage,
} from './lib.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const OZ = { id: 'oz', name: 'The Wizard', role: 'wizard' };
const BOT = { id: 'helper-bot', name: 'Helper Bot', role: 'bot' };
const SAM = { id: 'sam', name: 'Sam Rivera', role: 'participant' };

describe('screenshots', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const base = server.url;
    await seedConversation(base, 'design-review', {
      title: 'Design review',
      messages: [
        { sender: SAM, content: 'Morning! Did everyone get a chance to look at the **new onboarding flow**?' },
        { sender: OZ, content: 'Yes. Three things I would change:\n1. Shorter welcome text\n2. Skip button on every step\n3. _Keep_ the progress bar' },
        { sender: BOT, content: 'Here is the config that drives it:\n```json\n{ "steps": 4, "skippable": true }\n```' },
        { sender: SAM, content: 'Agreed on all three. Filed as `UX-112`.' },
      ],
    });
    await seedConversation(base, 'lobby', {
      title: 'lobby',
      messages: [{ sender: BOT, content: 'Welcome to **Parley**! Say hi.' }],
    });
    await seedConversation(base, 'wizard-of-oz-7', {
      title: 'Wizard of Oz session 7',
      messages: [
        { sender: { id: 'p7', name: 'Participant 7', role: 'participant' }, content: 'Can you book me a table for two?' },
        { sender: OZ, content: 'Sure, for what time?' },
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function chatScene(viewport, line) {
    const alex = await newPage(browser, { viewport, colorScheme: 'light' });
    const sam = await newPage(browser, { viewport: DESKTOP });
    await openChat(alex.page, server.url, { name: 'Alex Kim', room: 'design-review' });
    await openChat(sam.page, server.url, { name: 'Sam Rivera', room: 'design-review' });
    // Alex is a member of the other rooms; one has unread messages.
    await alex.page.goto(`${server.url}/#/r/lobby`);
    await waitMessage(alex.page, 'Welcome to');
    await alex.page.goto(`${server.url}/#/r/wizard-of-oz-7`);
    await waitMessage(alex.page, 'for what time');
    await alex.page.goto(`${server.url}/#/r/design-review`);
    await waitMessage(alex.page, 'UX-112');
    await send(alex.page, line);
    await waitMessage(sam.page, line);
    await sam.page.locator('#composer-input').click();
    await sam.page.keyboard.type('Thanks');
    await alex.page.locator('#typing', { hasText: 'is typing' }).waitFor();
    await alex.page.locator('#messages .receipt', { hasText: 'Seen by' }).waitFor();
    await seedConversation(server.url, 'lobby', {
      messages: [{ sender: OZ, content: 'Standup in 5 minutes' }],
    });
    await alex.page.locator('#room-list .room-item[data-room="lobby"] .badge').waitFor();
    await sleep(300);
    return { alex, sam };
  }

  test('chat at desktop width', async () => {
    ensureDir(SCREENSHOTS);
    const { alex, sam } = await chatScene(DESKTOP, 'Looks great. I will update the copy today, see https://example.com/spec');
    await alex.page.screenshot({ path: path.join(SCREENSHOTS, 'chat-desktop.png') });
    await alex.context.close();
    await sam.context.close();
  });

  test('chat at phone width, with the room drawer', async () => {
    const { alex, sam } = await chatScene(PHONE, 'Copy updated, have a look when you can');
    const page = alex.page;
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'chat-phone.png') });
    await page.click('#rooms-toggle');
    await sleep(400);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'chat-phone-rooms.png') });
    await alex.context.close();
    await sam.context.close();
  });

  test('admin at desktop and phone widths', async () => {
    const desk = await newPage(browser, { viewport: DESKTOP, colorScheme: 'light' });
    await desk.page.goto(`${server.url}/admin#c=design-review`);
    await desk.page.locator('#transcript .line', { hasText: 'UX-112' }).waitFor();
    await desk.page.locator('#health-status[data-status="healthy"]').waitFor();
    await desk.page.fill('#search-input', 'progress');
    await desk.page.press('#search-input', 'Enter');
    await desk.page.locator('#hit-list .hit').first().waitFor();
    await sleep(200);
    await desk.page.screenshot({ path: path.join(SCREENSHOTS, 'admin-desktop.png') });

    const phone = await newPage(browser, { viewport: PHONE, colorScheme: 'light' });
    await phone.page.goto(`${server.url}/admin`);
    await phone.page.locator('#conversation-list .conv-item').first().waitFor();
    await phone.page.locator('#health-status[data-status="healthy"]').waitFor();
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`);
    await phone.page.screenshot({ path: path.join(SCREENSHOTS, 'admin-phone.png') });
    await phone.page.click('#conversation-list .conv-item[data-id="design-review"]');
    await phone.page.locator('#transcript .line', { hasText: 'UX-112' }).waitFor();
    await phone.page.screenshot({ path: path.join(SCREENSHOTS, 'admin-phone-detail.png') });
  });
});
