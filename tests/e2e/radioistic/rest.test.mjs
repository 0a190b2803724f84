// radio-istic's chat REST routes (backend-api/routes/chat.js at b5e67e5) served by Parley,
// called as lib/api.ts calls them. Each assertion names the lines of the app it comes from.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  chatApi, chatAPI, generateToken, ISO_MS, makeUser, OBJECT_ID, objectId, useServer,
} from './helpers.mjs';

const ctx = useServer();

describe('middleware/auth.js protect', () => {
  test('no token: 401 "Please login"', async () => {
    // middleware/auth.js:14-19
    const r = await chatApi(ctx.server, null, '/chat/conversations');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { success: false, message: 'Not authorized to access this route. Please login.' });
  });

  test('a token signed with another secret: 401 "Invalid token"', async () => {
    // middleware/auth.js:43-47 (jwt.verify throws)
    const r = await chatApi(ctx.server, generateToken(objectId(), 'another-secret-another-secret-xx'), '/chat/unread-count');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { success: false, message: 'Not authorized to access this route. Invalid token.' });
  });

  test('a valid token for a user nobody knows: 401 "User not found"', async () => {
    // middleware/auth.js:26-33
    const r = await chatApi(ctx.server, generateToken(objectId()), '/chat/unread-count');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { success: false, message: 'User not found' });
  });

  test('an unknown path under /api/chat: server.js 404 handler', async () => {
    const u = await makeUser(ctx.server, 'Nour', 'Haddad');
    // server.js:101-106
    const r = await chatApi(ctx.server, u.token, '/chat/nothing-here');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { success: false, message: 'API endpoint not found' });
  });
});

describe('conversations', () => {
  test('POST create-or-get: one-to-one is found again, from either side', async () => {
    const a = await makeUser(ctx.server, 'Dhia', 'Eddine Ben Salah');
    const b = await makeUser(ctx.server, 'Yasmine', 'Trabelsi', '/avatars/yasmine.png');
    // app/chat/page.tsx:149 — api.chat.createConversation([user.id, memberId], false)
    const r1 = await chatAPI(ctx.server, a.token).createConversation([a.id, b.id], false);
    // routes/chat.js:144-147: 201 {success, conversation} with populated participants (142)
    assert.equal(r1.status, 201, r1.text);
    assert.equal(r1.json.success, true);
    const conv = r1.json.conversation;
    assert.match(conv._id, OBJECT_ID);
    assert.equal(conv.isGroup, false);
    const byId = Object.fromEntries(conv.participants.map((p) => [p._id, p]));
    assert.deepEqual(Object.keys(byId).sort(), [a.id, b.id].sort());
    // populate('participants', 'firstName lastName avatar status'): the app's pages join
    // `${firstName} ${lastName}` (app/chat/page.tsx:39), which gives the stored name back.
    assert.equal(`${byId[b.id].firstName} ${byId[b.id].lastName}`, 'Yasmine Trabelsi');
    assert.equal(`${byId[a.id].firstName} ${byId[a.id].lastName}`, 'Dhia Eddine Ben Salah');
    assert.equal(byId[b.id].avatar, '/avatars/yasmine.png');
    assert.ok(['online', 'offline'].includes(byId[b.id].status));
    assert.match(conv.createdAt, ISO_MS);

    // models/Conversation.js:51-69 findOrCreate: same participants -> the same conversation,
    // whoever asks and in whatever order; participantIds without oneself works too (117).
    const r2 = await chatAPI(ctx.server, b.token).createConversation([a.id]);
    assert.equal(r2.status, 201);
    assert.equal(r2.json.conversation._id, conv._id);
  });

  test('POST validation: no participants, only oneself', async () => {
    const a = await makeUser(ctx.server, 'Sami', 'Jlassi');
    // routes/chat.js:110 + middleware/validate.js (express-validator 7: no `param`)
    const r1 = await chatAPI(ctx.server, a.token).createConversation([]);
    assert.equal(r1.status, 400);
    assert.deepEqual(r1.json, {
      success: false,
      message: 'Validation failed',
      errors: [{ message: 'At least one participant is required' }],
    });
    // routes/chat.js:119-124
    const r2 = await chatAPI(ctx.server, a.token).createConversation([a.id]);
    assert.equal(r2.status, 400);
    assert.deepEqual(r2.json, { success: false, message: 'A conversation must have at least 2 participants' });
  });

  test('POST isGroup: a new group each time, with its name', async () => {
    const a = await makeUser(ctx.server, 'Amira', 'Khelifi');
    const b = await makeUser(ctx.server, 'Omar', 'Gharbi');
    const c = await makeUser(ctx.server, 'Lina', 'Mansour');
    // routes/chat.js:128-134
    const g1 = await chatAPI(ctx.server, a.token).createConversation([b.id, c.id], true, 'Bureau');
    const g2 = await chatAPI(ctx.server, a.token).createConversation([b.id, c.id], true, 'Bureau');
    assert.equal(g1.status, 201);
    assert.notEqual(g1.json.conversation._id, g2.json.conversation._id);
    assert.equal(g1.json.conversation.isGroup, true);
    assert.equal(g1.json.conversation.groupName, 'Bureau');
    assert.equal(g1.json.conversation.participants.length, 3);
    // A one-to-one conversation between two of them is not the group.
    const o = await chatAPI(ctx.server, a.token).createConversation([b.id]);
    assert.notEqual(o.json.conversation._id, g1.json.conversation._id);
    assert.equal(o.json.conversation.isGroup, false);
  });
});

describe('messages, unread counts, read and delete', () => {
  test('the whole round: send, list with unread, get one (marks read), mark one, delete', async () => {
    const a = await makeUser(ctx.server, 'Aziz', 'Ben Ali');
    const b = await makeUser(ctx.server, 'Meriem', 'Saidi');
    const apiA = chatAPI(ctx.server, a.token);
    const apiB = chatAPI(ctx.server, b.token);
    const conv = (await apiA.createConversation([a.id, b.id])).json.conversation;

    // lib/api.ts:321-328 sendMessage(conversationId, content, type) -> routes/chat.js:161-210
    const sent = [];
    for (const text of ['  salut Meriem  ', 'réunion à 18h 🎙️', 'tu viens ?']) {
      const r = await apiA.sendMessage(conv._id, text);
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.success, true);
      sent.push(r.json.message);
    }
    const m0 = sent[0];
    // models/Message.js:15-20 content trim: true
    assert.equal(m0.content, 'salut Meriem');
    assert.match(m0._id, /^[0-9a-z]+$/);
    assert.equal(m0.conversation, conv._id);
    assert.equal(m0.type, 'text');
    assert.equal(m0.isDeleted, false);
    assert.match(m0.createdAt, ISO_MS);
    // routes/chat.js:197 populate('sender', 'firstName lastName avatar')
    assert.equal(m0.sender._id, a.id);
    assert.equal(`${m0.sender.firstName} ${m0.sender.lastName}`, 'Aziz Ben Ali');
    assert.equal(m0.sender.avatar, a.avatar);
    // routes/chat.js:15-40: {success, count, conversations[...unreadCount]}
    // Message.getUnreadCount (models/Message.js:76-83): others' messages, not deleted, unread.
    const before = await apiB.getConversations();
    assert.equal(before.status, 200);
    assert.equal(before.json.success, true);
    assert.equal(before.json.count, before.json.conversations.length);
    assert.equal(before.json.conversations.find((c) => c._id === conv._id).unreadCount, 3);

    // routes/chat.js:282-299
    assert.deepEqual((await apiB.getUnreadCount()).json, { success: true, unreadCount: 3 });

    // PUT /messages/:id/read (lib/api.ts:333-337, routes/chat.js:216-242). Parley's read
    // state is the highest seq read, so the messages before it are read too.
    const mr = await apiB.markAsRead(sent[1]._id);
    assert.equal(mr.status, 200);
    assert.deepEqual(mr.json, { success: true, message: 'Message marked as read' });
    assert.deepEqual((await apiB.getUnreadCount()).json, { success: true, unreadCount: 1 });
    assert.equal((await apiB.markAsRead(objectId())).status, 404);

    // B answers. In Parley a send reads the conversation up to the sent message for its
    // sender, on every endpoint (issue 13); the app would leave A's last one unread for B.
    const b1 = await apiB.sendMessage(conv._id, 'oui, à tout à l\'heure');
    assert.equal(b1.status, 201);
    assert.deepEqual((await apiB.getUnreadCount()).json, { success: true, unreadCount: 0 });
    const listB = await apiB.getConversations();
    const inB = listB.json.conversations.find((c) => c._id === conv._id);
    assert.ok(inB, 'the conversation is in the participant\'s list');
    assert.equal(inB.unreadCount, 0);
    // populate('lastMessage'): the whole message, its sender as an id.
    assert.equal(inB.lastMessage.content, 'oui, à tout à l\'heure');
    assert.equal(inB.lastMessage.sender, b.id);
    assert.match(inB.lastMessageTimestamp, ISO_MS);
    assert.equal(inB.participants.length, 2);
    const inA = (await apiA.getConversations()).json.conversations.find((c) => c._id === conv._id);
    assert.equal(inA.unreadCount, 1);

    // GET /conversations/:id (routes/chat.js:54-95): messages oldest first, senders populated;
    // then everything is read (79-89).
    const one = await apiB.getConversation(conv._id);
    assert.equal(one.status, 200);
    assert.equal(one.json.success, true);
    assert.equal(one.json.conversation._id, conv._id);
    assert.deepEqual(one.json.messages.map((m) => m.content),
      ['salut Meriem', 'réunion à 18h 🎙️', 'tu viens ?', 'oui, à tout à l\'heure']);
    assert.equal(one.json.messages[3].sender._id, b.id);
    assert.equal(one.json.messages[3].sender.firstName, 'Meriem');
    assert.deepEqual((await apiB.getUnreadCount()).json, { success: true, unreadCount: 0 });

    // DELETE /messages/:id (routes/chat.js:247-277): only the sender; soft, so it leaves the
    // conversation's messages and the unread counts.
    const notMine = await apiB.deleteMessage(sent[2]._id);
    assert.equal(notMine.status, 404);
    assert.deepEqual(notMine.json, { success: false, message: 'Message not found or you are not the sender' });
    const del = await apiA.deleteMessage(sent[2]._id);
    assert.equal(del.status, 200);
    assert.deepEqual(del.json, { success: true, message: 'Message deleted successfully' });
    const after = await apiA.getConversation(conv._id);
    assert.deepEqual(after.json.messages.map((m) => m.content),
      ['salut Meriem', 'réunion à 18h 🎙️', 'oui, à tout à l\'heure']);
  });

  test('POST /messages validation, outsiders and the schema\'s rules', async () => {
    const a = await makeUser(ctx.server, 'Ines', 'Ayari');
    const b = await makeUser(ctx.server, 'Karim', 'Dridi');
    const outsider = await makeUser(ctx.server, 'Walid', 'Ferchichi');
    const conv = (await chatAPI(ctx.server, a.token).createConversation([b.id])).json.conversation;
    // routes/chat.js:161-165: both validators, in order
    const v = await chatApi(ctx.server, a.token, '/chat/messages', { method: 'POST', body: '{}' });
    assert.equal(v.status, 400);
    assert.deepEqual(v.json, {
      success: false,
      message: 'Validation failed',
      errors: [{ message: 'Conversation ID is required' }, { message: 'Message content is required' }],
    });
    // routes/chat.js:169-180
    const o = await chatAPI(ctx.server, outsider.token).sendMessage(conv._id, 'hello?');
    assert.equal(o.status, 404);
    assert.deepEqual(o.json, { success: false, message: 'Conversation not found or you are not a participant' });
    // routes/chat.js:63-68: an outsider does not see it either
    const g = await chatAPI(ctx.server, outsider.token).getConversation(conv._id);
    assert.equal(g.status, 404);
    assert.deepEqual(g.json, { success: false, message: 'Conversation not found' });
    assert.equal((await chatAPI(ctx.server, outsider.token).getConversations()).json.count, 0);
    // models/Message.js:15-25: maxlength 2000, type enum -> Mongoose ValidationError, which
    // routes/chat.js:203-209 answers 500 'Error sending message'.
    const long = await chatAPI(ctx.server, a.token).sendMessage(conv._id, 'x'.repeat(2001));
    assert.equal(long.status, 500);
    assert.equal(long.json.message, 'Error sending message');
    assert.match(long.json.error, /Message cannot exceed 2000 characters/);
    const bad = await chatAPI(ctx.server, a.token).sendMessage(conv._id, 'hi', 'video');
    assert.equal(bad.status, 500);
    assert.match(bad.json.error, /not a valid enum value/);
    const ok = await chatAPI(ctx.server, a.token).sendMessage(conv._id, 'x'.repeat(2000));
    assert.equal(ok.status, 201);
  });

  test('lists are ordered by last message, newest first', async () => {
    const a = await makeUser(ctx.server, 'Hela', 'Brahmi');
    const b = await makeUser(ctx.server, 'Firas', 'Hamdi');
    const c = await makeUser(ctx.server, 'Rania', 'Zouari');
    const apiA = chatAPI(ctx.server, a.token);
    const ab = (await apiA.createConversation([b.id])).json.conversation;
    const ac = (await apiA.createConversation([c.id])).json.conversation;
    await apiA.sendMessage(ac._id, 'first');
    await apiA.sendMessage(ab._id, 'second');
    // routes/chat.js:22 sort('-lastMessageTimestamp')
    let ids = (await apiA.getConversations()).json.conversations.map((x) => x._id);
    assert.deepEqual(ids, [ab._id, ac._id]);
    await apiA.sendMessage(ac._id, 'third');
    ids = (await apiA.getConversations()).json.conversations.map((x) => x._id);
    assert.deepEqual(ids, [ac._id, ab._id]);
  });
});
