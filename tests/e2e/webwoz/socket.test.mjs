// WebWOz's Socket.IO events, as its two React front ends use them, against Parley (default)
// or the app's own Flask back end (WEBWOZ_TARGET=flask). Every assertion holds for both,
// except the one known bug of the app that Parley does not copy (see "wizard_response").

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  APP_TIMESTAMP,
  DEFAULT_TEMPLATES,
  TARGET,
  bystander,
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

const isMsg = (sender, text) => (m) => m.sender === sender && m.text === text;

describe(`WebWOz events on ${TARGET}`, () => {
  test('a wizard joining a new room gets the templates, then the bot status, and no messages', async () => {
    const room = await newRoom(target.url);
    const wizard = track(await wizardClient(target.url, room));
    const status = await wizard.rec.next('bot_status_changed');
    assert.deepEqual(status, {
      room,
      active: false,
      available: false,
      progress: 'Bot service unavailable',
    });
    const names = wizard.rec.events.map((e) => e.name);
    assert.deepEqual(names, ['templates', 'bot_status_changed']);
    assert.deepEqual(wizard.rec.of('templates')[0], DEFAULT_TEMPLATES);
  });

  test('a participant joining gets neither templates nor bot status', async () => {
    const room = await newRoom(target.url);
    const p = track(await participantClient(target.url, room));
    await sleep(kQuietMs);
    assert.deepEqual(p.rec.events, []);
  });

  test('participant_message is stored as "participant" and sent to the whole room, sender included', async () => {
    const room = await newRoom(target.url);
    const wizard = track(await wizardClient(target.url, room));
    await wizard.rec.next('bot_status_changed');
    const p = track(await participantClient(target.url, room));
    const text = 'Hello **wizard**\n- "quotes" é 日本 🎉';
    p.send(text);
    const atWizard = await wizard.rec.next('new_message', isMsg('participant', text));
    const atParticipant = await p.rec.next('new_message', isMsg('participant', text));
    assert.deepEqual(Object.keys(atWizard).sort(), ['room', 'sender', 'text', 'timestamp']);
    assert.equal(atWizard.room, room);
    assert.match(atWizard.timestamp, APP_TIMESTAMP);
    assert.deepEqual(atParticipant, atWizard);
  });

  test('participant_typing reaches the others as participant_is_typing {text, room}, not the typist', async () => {
    const room = await newRoom(target.url);
    const wizard = track(await wizardClient(target.url, room));
    await wizard.rec.next('bot_status_changed');
    const p = track(await participantClient(target.url, room));
    p.type('Hel');
    p.type('Hello');
    assert.deepEqual(await wizard.rec.next('participant_is_typing', (t) => t.text === 'Hello'), {
      text: 'Hello',
      room,
    });
    assert.deepEqual(
      wizard.rec.of('participant_is_typing').map((t) => t.text),
      ['Hel', 'Hello'],
    );
    await sleep(kQuietMs);
    assert.equal(p.rec.of('participant_is_typing').length, 0);
  });

  test('wizard_response is stored as "wizard": the wizard sees it, and the participant too on Parley', async () => {
    const room = await newRoom(target.url);
    const wizard = track(await wizardClient(target.url, room));
    await wizard.rec.next('bot_status_changed');
    const p = track(await participantClient(target.url, room));
    p.send('Where do I sign?');
    await wizard.rec.next('new_message', isMsg('participant', 'Where do I sign?'));
    wizard.send('At the **bottom**.');
    const atWizard = await wizard.rec.next('new_message', isMsg('wizard', 'At the **bottom**.'));
    assert.equal(atWizard.room, room);
    assert.match(atWizard.timestamp, APP_TIMESTAMP);
    if (TARGET === 'flask') {
      // The app's bug at HEAD: commit 2e71537 dropped on_wizard_response's last step,
      // emit("new_message", msg, to=room, include_self=False) (its comment "2) send final
      // full msg to participant" is still there), so the participant never gets the answer
      // and its spinner never stops. Recorded here so a fix upstream shows up as a failure.
      await sleep(kQuietMs);
      assert.equal(p.rec.of('new_message').filter((m) => m.sender === 'wizard').length, 0);
    } else {
      // Parley delivers it: the participant front end is written for it (its new_message
      // handler for sender "wizard" stops the waiting animation and re-enables sending).
      const atParticipant = await p.rec.next('new_message', isMsg('wizard', 'At the **bottom**.'));
      assert.deepEqual(atParticipant, atWizard);
    }
    // Exactly one copy to the wizard.
    await sleep(kQuietMs);
    assert.equal(wizard.rec.of('new_message').filter((m) => m.sender === 'wizard').length, 1);
  });

  test('joining a room with history gets one new_message per stored message, in order, then the wizard extras', async () => {
    const room = await newRoom(target.url);
    const wizard = track(await wizardClient(target.url, room));
    await wizard.rec.next('bot_status_changed');
    const p = track(await participantClient(target.url, room));
    const sent = [];
    for (let i = 0; i < 3; i++) {
      p.send(`question ${i}`);
      sent.push(['participant', `question ${i}`]);
      await wizard.rec.next('new_message', isMsg('participant', `question ${i}`));
      wizard.send(`answer ${i}`);
      sent.push(['wizard', `answer ${i}`]);
      await wizard.rec.next('new_message', isMsg('wizard', `answer ${i}`));
    }
    const wizard2 = track(await wizardClient(target.url, room));
    await wizard2.rec.next('bot_status_changed');
    const names = wizard2.rec.events.map((e) => e.name);
    assert.deepEqual(names, [...sent.map(() => 'new_message'), 'templates', 'bot_status_changed']);
    const history = wizard2.rec.of('new_message');
    assert.deepEqual(history.map((m) => [m.sender, m.text]), sent);
    for (const m of history) {
      assert.deepEqual(Object.keys(m).sort(), ['room', 'sender', 'text', 'timestamp']);
      assert.equal(m.room, room);
      assert.match(m.timestamp, APP_TIMESTAMP);
    }
    // The same history to a (re)joining participant, without the wizard's extras.
    const p2 = track(await participantClient(target.url, room));
    await p2.rec.next('new_message', isMsg('wizard', 'answer 2'));
    await sleep(kQuietMs);
    assert.deepEqual(p2.rec.of('new_message').map((m) => [m.sender, m.text]), sent);
    assert.deepEqual([...new Set(p2.rec.events.map((e) => e.name))], ['new_message']);
  });

  test('rooms are separate, and a socket that left hears nothing more', async () => {
    const roomA = await newRoom(target.url);
    const roomB = await newRoom(target.url);
    const wizardA = track(await wizardClient(target.url, roomA));
    const pB = track(await participantClient(target.url, roomB));
    const pA = track(await participantClient(target.url, roomA));
    await wizardA.rec.next('bot_status_changed');
    pA.send('in A');
    await wizardA.rec.next('new_message', isMsg('participant', 'in A'));
    pA.leave();
    await sleep(100);
    pB.send('in B');
    await pB.rec.next('new_message', isMsg('participant', 'in B'));
    pB.type('typing in B');
    wizardA.send('to A after the participant left');
    await wizardA.rec.next('new_message', isMsg('wizard', 'to A after the participant left'));
    await sleep(kQuietMs);
    assert.equal(wizardA.rec.of('new_message').some((m) => m.room === roomB), false);
    // (participant A's own send emitted participant_typing {text: ""} in room A.)
    assert.equal(wizardA.rec.of('participant_is_typing').some((t) => t.room === roomB), false);
    assert.equal(pB.rec.of('new_message').some((m) => m.room === roomA), false);
    assert.equal(pA.rec.of('new_message').some((m) => m.sender === 'wizard'), false);
  });

  test('a join without type or room is accepted as the app does (room "default_room")', async () => {
    const w = track(await bystander(target.url));
    w.socket.emit('join', {});
    w.socket.emit('participant_message', { text: 'to the default room' });
    const m = await w.rec.next('new_message', isMsg('participant', 'to the default room'));
    assert.equal(m.room, 'default_room');
  });
});
