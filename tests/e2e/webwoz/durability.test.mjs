// A message sent through WebWOz's events survives kill -9 of the back end and comes back in
// the app's history (one new_message per stored message on join) after a restart, and in
// GET /api/conversations/<room>. Templates changed over HTTP survive too.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { TARGET, http, newRoom, participantClient, startTarget, wizardClient } from './lib.mjs';

let target;
const clients = [];
const track = (c) => (clients.push(c), c);

before(async () => {
  target = await startTarget();
});
after(async () => {
  for (const c of clients) c.close();
  await target?.stop();
});

test(`messages and templates survive kill -9 of ${TARGET} and restart`, async () => {
  const room = await newRoom(target.url);
  const wizard = track(await wizardClient(target.url, room));
  await wizard.rec.next('bot_status_changed');
  const p = track(await participantClient(target.url, room));
  p.send('my car was hit');
  await wizard.rec.next('new_message', (m) => m.text === 'my car was hit');
  wizard.send('Sorry to hear that. When?');
  // Seen by the wizard = committed: the back end stores before it emits.
  await wizard.rec.next('new_message', (m) => m.text === 'Sorry to hear that. When?');
  const tpl = await http(target.url, 'POST', '/api/templates/item', {
    category: 'Durable',
    key: 'k',
    value: 'kept',
  });
  assert.equal(tpl.status, 201);
  wizard.close();
  p.close();

  const info = await target.kill('SIGKILL');
  assert.equal(info.signal, 'SIGKILL');
  await target.restart();

  const wizard2 = track(await wizardClient(target.url, room));
  const tpls = await wizard2.rec.next('templates');
  assert.deepEqual(
    wizard2.rec.of('new_message').map((m) => [m.sender, m.text, m.room]),
    [
      ['participant', 'my car was hit', room],
      ['wizard', 'Sorry to hear that. When?', room],
    ],
  );
  assert.deepEqual(tpls.Durable, { k: 'kept' });
  const got = await http(target.url, 'GET', `/api/conversations/${room}`);
  assert.equal(got.status, 200);
  assert.equal(got.json.message_count, 2);
});
