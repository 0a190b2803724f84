// WebWOz's HTTP routes (backend/app.py), as the wizard front end and a researcher's scripts
// call them, against Parley (COMPAT=webwoz) or the app's own back end (WEBWOZ_TARGET=flask).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  APP_TIMESTAMP,
  DEFAULT_TEMPLATES,
  ROOM_ID,
  TARGET,
  bystander,
  http,
  kQuietMs,
  newRoom,
  participantClient,
  sleep,
  startTarget,
  wizardClient,
} from './lib.mjs';

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

async function roomWithMessages(texts) {
  const room = await newRoom(target.url);
  const wizard = track(await wizardClient(target.url, room));
  await wizard.rec.next('bot_status_changed');
  const p = track(await participantClient(target.url, room));
  for (const [sender, text] of texts) {
    if (sender === 'participant') p.send(text);
    else wizard.send(text);
    await wizard.rec.next('new_message', (m) => m.sender === sender && m.text === text);
  }
  return room;
}

describe(`WebWOz HTTP on ${TARGET}`, () => {
  test('POST /api/new_room answers a fresh 8-hex room id', async () => {
    const ids = new Set();
    for (let i = 0; i < 5; i++) {
      const r = await http(target.url, 'POST', '/api/new_room');
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json), ['room']);
      assert.match(r.json.room, ROOM_ID);
      ids.add(r.json.room);
    }
    assert.equal(ids.size, 5);
  });

  test('conversations: list, get, export, stats and delete in the app\'s shapes', async () => {
    const room = await roomWithMessages([
      ['participant', 'first'],
      ['wizard', 'second'],
    ]);
    const list = await http(target.url, 'GET', '/api/conversations');
    assert.equal(list.status, 200);
    assert.equal(list.json.total_count, list.json.conversations.length);
    const entry = list.json.conversations.find((c) => c.room_id === room);
    assert.ok(entry, JSON.stringify(list.json));
    assert.equal(entry.message_count, 2);
    assert.match(entry.created_at, APP_TIMESTAMP);
    assert.match(entry.last_updated, APP_TIMESTAMP);
    // Newest last_updated first.
    const updated = list.json.conversations.map((c) => c.last_updated);
    assert.deepEqual(updated, [...updated].sort().reverse());

    const got = await http(target.url, 'GET', `/api/conversations/${room}`);
    assert.equal(got.status, 200);
    assert.deepEqual(Object.keys(got.json).sort(), ['message_count', 'messages', 'room_id']);
    assert.equal(got.json.room_id, room);
    assert.equal(got.json.message_count, 2);
    assert.deepEqual(got.json.messages.map((m) => [m.sender, m.text]), [
      ['participant', 'first'],
      ['wizard', 'second'],
    ]);
    for (const m of got.json.messages) {
      assert.deepEqual(Object.keys(m).sort(), ['sender', 'text', 'timestamp']);
      assert.match(m.timestamp, APP_TIMESTAMP);
    }

    const exp = await http(target.url, 'GET', `/api/conversations/${room}/export`);
    assert.equal(exp.status, 200);
    assert.match(exp.headers.get('content-type'), /^application\/json/);
    assert.equal(
      exp.headers.get('content-disposition'),
      `attachment; filename=conversation_${room}.json`,
    );
    assert.deepEqual(Object.keys(exp.json).sort(), ['exported_at', 'message_count', 'messages', 'room_id']);
    assert.match(exp.json.exported_at, APP_TIMESTAMP);
    assert.deepEqual(exp.json.messages, got.json.messages);
    assert.ok(exp.text.includes('\n  "room_id"'), 'indented as json.dumps(indent=2)');

    const stats = await http(target.url, 'GET', '/api/conversations/stats');
    assert.equal(stats.status, 200);
    for (const k of [
      'total_conversations',
      'total_messages',
      'average_messages_per_conversation',
      'data_directory',
      'conversations_directory',
      'storage_available',
    ]) {
      assert.ok(k in stats.json, k);
    }
    assert.equal(stats.json.total_conversations, list.json.total_count);
    assert.ok(stats.json.total_messages >= 2);
    assert.equal(stats.json.storage_available, true);

    const del = await http(target.url, 'DELETE', `/api/conversations/${room}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.json, { status: 'deleted', room_id: room });
    assert.equal((await http(target.url, 'GET', `/api/conversations/${room}`)).status, 404);
    const again = await http(target.url, 'DELETE', `/api/conversations/${room}`);
    assert.equal(again.status, 404);
    assert.deepEqual(again.json, { error: 'Conversation not found' });
  });

  test('a room without messages is "not found" to get and export', async () => {
    const room = await newRoom(target.url);
    for (const p of [`/api/conversations/${room}`, `/api/conversations/${room}/export`]) {
      const r = await http(target.url, 'GET', p);
      assert.equal(r.status, 404, p);
      assert.deepEqual(r.json, { error: 'Conversation not found' });
    }
    const list = await http(target.url, 'GET', '/api/conversations');
    assert.equal(list.json.conversations.some((c) => c.room_id === room), false);
  });

  test('bot routes answer as the app does when no bot is available', async () => {
    const room = await newRoom(target.url);
    const status = await http(target.url, 'GET', `/api/bot/${room}/status`);
    assert.equal(status.status, 200);
    assert.deepEqual(status.json, { active: false, available: false, progress: 'Bot not available' });
    const start = await http(target.url, 'POST', `/api/bot/${room}/start`);
    assert.equal(start.status, 200);
    assert.deepEqual(start.json, {
      status: 'error',
      message: 'Bot service is not available. Please check the server configuration.',
    });
    const stop = await http(target.url, 'POST', `/api/bot/${room}/stop`);
    assert.equal(stop.status, 200);
    assert.deepEqual(stop.json, { status: 'error', message: 'Bot service is not available.' });
    const types = await http(target.url, 'GET', '/api/bot/types');
    assert.equal(types.status, 200);
    assert.deepEqual(types.json, { rule: false, ai: false, message: 'Bot service is not available.' });
  });

  test('/health has the app\'s fields', async () => {
    const r = await http(target.url, 'GET', '/health');
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'healthy');
    assert.match(r.json.timestamp, APP_TIMESTAMP);
    assert.equal(r.json.bot_available, false);
    for (const k of [
      'static_dir_exists',
      'participant_dir_exists',
      'wizard_dir_exists',
      'assets_dir_exists',
      'data_dir_exists',
      'conversations_dir_exists',
      'persistent_storage',
    ]) {
      assert.equal(typeof r.json[k], 'boolean', k);
    }
    assert.equal(typeof r.json.data_dir, 'string');
    assert.equal(typeof r.json.active_conversations, 'number');
    assert.equal(typeof r.json.saved_conversations, 'number');
    assert.deepEqual(Object.keys(r.json.database).sort(), [
      'available',
      'database_url_configured',
      'using_postgres',
    ]);
  });

  describe('templates', () => {
    // Serialised: every change is broadcast to every socket, and the tests read the
    // broadcasts in order.
    test('start as the app\'s defaults', async () => {
      const r = await http(target.url, 'GET', '/api/templates');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, DEFAULT_TEMPLATES);
    });

    test('category style (the wizard front end\'s): create, conflict, update, delete; each change broadcast to every socket', async () => {
      const room = await newRoom(target.url);
      const listener = track(await bystander(target.url));
      const participant = track(await participantClient(target.url, room));
      const created = await http(target.url, 'POST', '/api/templates/item', {
        category: 'Phase 1',
        key: 'ask_name',
        value: 'What is your **name**?',
      });
      assert.equal(created.status, 201);
      assert.deepEqual(created.json, { status: 'created' });
      let b = await listener.rec.next('templates', (d) => d['Phase 1']);
      assert.deepEqual(b['Phase 1'], { ask_name: 'What is your **name**?' });
      assert.deepEqual(b.General, DEFAULT_TEMPLATES.General);
      await participant.rec.next('templates', (d) => d['Phase 1']);

      const dup = await http(target.url, 'POST', '/api/templates/item', {
        category: 'Phase 1',
        key: 'ask_name',
        value: 'x',
      });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.json, { error: 'Template already exists' });
      const bad = await http(target.url, 'POST', '/api/templates/item', { key: 'k' });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.json, { error: "'key' and 'value' required" });

      // No category: "General".
      const general = await http(target.url, 'POST', '/api/templates/item', { key: 'thanks', value: 'Thanks!' });
      assert.equal(general.status, 201);
      b = await listener.rec.next('templates', (d) => d.General.thanks);
      assert.equal(b.General.thanks, 'Thanks!');

      const upd = await http(target.url, 'PUT', `/api/templates/${encodeURIComponent('Phase 1')}/ask_name`, {
        value: 'Your name, please?',
      });
      assert.equal(upd.status, 200);
      assert.deepEqual(upd.json, { status: 'updated' });
      b = await listener.rec.next('templates', (d) => d['Phase 1']?.ask_name === 'Your name, please?');
      const noValue = await http(target.url, 'PUT', '/api/templates/General/x', {});
      assert.equal(noValue.status, 400);
      assert.deepEqual(noValue.json, { error: "'value' required" });
      // PUT creates (setdefault), in a new category too.
      const upsert = await http(target.url, 'PUT', '/api/templates/Pinned/p1', { value: 'pinned one' });
      assert.equal(upsert.status, 200);
      await listener.rec.next('templates', (d) => d.Pinned?.p1 === 'pinned one');

      const del = await http(target.url, 'DELETE', `/api/templates/${encodeURIComponent('Phase 1')}/ask_name`);
      assert.equal(del.status, 200);
      assert.deepEqual(del.json, { status: 'deleted' });
      // The category emptied is removed.
      b = await listener.rec.next('templates', (d) => !d['Phase 1'] && d.Pinned);
      assert.equal('Phase 1' in b, false);
      const gone = await http(target.url, 'DELETE', `/api/templates/${encodeURIComponent('Phase 1')}/ask_name`);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.json, { error: 'Not found' });

      const all = await http(target.url, 'GET', '/api/templates');
      assert.deepEqual(all.json, {
        General: { ...DEFAULT_TEMPLATES.General, thanks: 'Thanks!' },
        Pinned: { p1: 'pinned one' },
      });
      // A wizard joining now gets the same.
      const wizard = track(await wizardClient(target.url, room));
      assert.deepEqual(await wizard.rec.next('templates'), all.json);

      // Clean up for the next test.
      await http(target.url, 'DELETE', '/api/templates/General/thanks');
      await http(target.url, 'DELETE', '/api/templates/Pinned/p1');
    });

    test('flat style (the older routes): top-level keys, as the app keeps them', async () => {
      const listener = track(await bystander(target.url));
      const noKey = await http(target.url, 'POST', '/api/templates', { value: 'v' });
      assert.equal(noKey.status, 400);
      assert.deepEqual(noKey.json, { error: "Both 'key' and 'value' are required." });
      // A key that names a category exists already.
      const dup = await http(target.url, 'POST', '/api/templates', { key: 'General', value: 'v' });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.json, { error: 'Template already exists.' });

      const created = await http(target.url, 'POST', '/api/templates', { key: 'hello', value: 'Hi there' });
      assert.equal(created.status, 201);
      assert.deepEqual(created.json, { status: 'created' });
      let b = await listener.rec.next('templates', (d) => d.hello === 'Hi there');
      assert.deepEqual(b.General, DEFAULT_TEMPLATES.General);

      const upd = await http(target.url, 'PUT', '/api/templates/hello', { value: 'Hi again' });
      assert.equal(upd.status, 200);
      assert.deepEqual(upd.json, { status: 'updated' });
      b = await listener.rec.next('templates', (d) => d.hello === 'Hi again');
      const noValue = await http(target.url, 'PUT', '/api/templates/hello', {});
      assert.equal(noValue.status, 400);
      assert.deepEqual(noValue.json, { error: "'value' is required." });

      const del = await http(target.url, 'DELETE', '/api/templates/hello');
      assert.equal(del.status, 200);
      assert.deepEqual(del.json, { status: 'deleted' });
      await listener.rec.next('templates', (d) => !('hello' in d));
      const gone = await http(target.url, 'DELETE', '/api/templates/hello');
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.json, { error: 'Template not found.' });
      assert.deepEqual((await http(target.url, 'GET', '/api/templates')).json, DEFAULT_TEMPLATES);
      // A refused change broadcasts nothing.
      const before = listener.rec.of('templates').length;
      await http(target.url, 'POST', '/api/templates', { key: 'General', value: 'v' });
      await sleep(kQuietMs);
      assert.equal(listener.rec.of('templates').length, before);
    });
  });
});
