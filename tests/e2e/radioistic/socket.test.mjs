// radio-istic's real-time chat (backend-api/websocket-server.js at b5e67e5) served by Parley,
// driven by the client of lib/websocket-context.tsx (helpers.mjs RadioClient). Each assertion
// names the lines of websocket-server.js it comes from.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  chatAPI, connect, generateToken, io, ISO_MS, makeUser, RadioClient, useServer,
} from './helpers.mjs';

const ctx = useServer();

// Two users with a one-to-one conversation, made as app/chat/page.tsx:149 makes it.
async function pair(firstA, firstB) {
  const a = await makeUser(ctx.server, firstA, 'Test');
  const b = await makeUser(ctx.server, firstB, 'Test');
  const conv = (await chatAPI(ctx.server, a.token).createConversation([a.id, b.id], false)).json.conversation;
  return { a, b, conv };
}

function connectError(server, token) {
  const socket = io(server.url, { auth: { token }, transports: ['websocket', 'polling'], reconnection: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connect_error')), 5000);
    socket.on('connect', () => {
      clearTimeout(timer);
      socket.disconnect();
      reject(new Error('connected'));
    });
    socket.on('connect_error', (err) => {
      clearTimeout(timer);
      socket.disconnect();
      resolve(err);
    });
  });
}

describe('handshake (websocket-server.js:29-63)', () => {
  test('auth.token as routes/auth.js makes it is the user; a bad one is refused', async () => {
    const u = await makeUser(ctx.server, 'Anis', 'Handshake');
    const c = await connect(ctx.server, u);
    c.close();
    // lines 58-62: any verification failure -> next(new Error('Authentication failed'))
    const bad = await connectError(ctx.server, generateToken(u.id, 'not-the-secret-not-the-secret-xx'));
    assert.equal(bad.message, 'Authentication failed');
    const garbage = await connectError(ctx.server, 'not.a.token');
    assert.equal(garbage.message, 'Authentication failed');
  });

  test('Authorization: Bearer on the handshake works too (line 31)', async () => {
    const u = await makeUser(ctx.server, 'Bechir', 'Bearer');
    const socket = io(ctx.server.url, {
      transports: ['polling'],
      extraHeaders: { Authorization: `Bearer ${u.token}` },
      reconnection: false,
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connect')), 5000);
      socket.on('connect', () => { clearTimeout(timer); resolve(); });
      socket.on('connect_error', (e) => { clearTimeout(timer); reject(e); });
    });
    socket.disconnect();
  });
});

describe('presence (lines 65-86, 316-319, 322-345)', () => {
  test('online-users to everyone and user-status-change to the others, on connect and disconnect', async () => {
    const a = await makeUser(ctx.server, 'Salma', 'Presence', '/uploads/avatars/salma.jpg');
    const b = await makeUser(ctx.server, 'Youssef', 'Presence');
    const ca = await connect(ctx.server, a);
    await ca.next('online-users', (list) => list.some((u) => u.id === a.id));
    const mark = ca.mark();
    const cb = await connect(ctx.server, b);
    // line 80 broadcastOnlineUsers: io.emit('online-users', [userInfo...]) to all, the new one too
    const listB = await cb.next('online-users', (list) => list.some((u) => u.id === b.id));
    const infoA = listB.find((u) => u.id === a.id);
    // lines 49-56 userInfo
    assert.deepEqual(
      { id: infoA.id, name: infoA.name, firstName: infoA.firstName, lastName: infoA.lastName, avatar: infoA.avatar },
      { id: a.id, name: 'Salma Presence', firstName: 'Salma', lastName: 'Presence', avatar: '/uploads/avatars/salma.jpg' },
    );
    await ca.next('online-users', (list) => list.some((u) => u.id === b.id), { from: mark });
    // lines 82-86: socket.broadcast.emit -> the others only
    const change = await ca.next('user-status-change', (d) => d.userId === b.id && d.status === 'online', { from: mark });
    assert.equal(change.userInfo.id, b.id);
    assert.equal(change.userInfo.name, 'Youssef Presence');
    await cb.none('user-status-change', (d) => d.userId === b.id);
    // lines 316-319 get-online-users -> online-users to the asker
    const m2 = cb.mark();
    cb.getOnlineUsers();
    const asked = await cb.next('online-users', () => true, { from: m2 });
    assert.ok(asked.some((u) => u.id === a.id) && asked.some((u) => u.id === b.id));
    // lines 322-345 disconnect: online-users without them, user-status-change offline + lastSeen
    const m3 = ca.mark();
    cb.close();
    const off = await ca.next('user-status-change', (d) => d.userId === b.id && d.status === 'offline', { from: m3 });
    assert.match(off.lastSeen, ISO_MS);
    await ca.next('online-users', (list) => !list.some((u) => u.id === b.id), { from: m3 });
    ca.close();
  });
});

describe('conversations (lines 89-160)', () => {
  test('join-conversation: history in the app\'s format; outsiders get `error`', async () => {
    const { a, b, conv } = await pair('Rim', 'Zied');
    await chatAPI(ctx.server, a.token).sendMessage(conv._id, 'before anyone joined');
    const cb = await connect(ctx.server, b);
    cb.join(conv._id);
    // lines 113-136: {conversationId, messages: [{id, conversationId, content, senderId,
    // senderName, senderAvatar, timestamp, status, type}]}
    const h = await cb.next('conversation-history', (d) => d.conversationId === conv._id);
    assert.equal(h.messages.length, 1);
    const m = h.messages[0];
    assert.equal(m.content, 'before anyone joined');
    assert.equal(m.conversationId, conv._id);
    assert.equal(m.senderId, a.id);
    assert.equal(m.senderName, 'Rim Test');
    assert.equal(m.senderAvatar, a.avatar);
    assert.match(m.timestamp, ISO_MS);
    assert.equal(m.type, 'text');
    // line 127: 'read' when the joiner is in readBy, else 'delivered'; lines 138-148 then mark
    // everything read, so the next join says 'read'.
    assert.equal(m.status, 'delivered');
    await new Promise((r) => setTimeout(r, 200));  // the join's read mark is a write of its own
    const mark = cb.mark();
    cb.join(conv._id);
    const h2 = await cb.next('conversation-history', (d) => d.conversationId === conv._id, { from: mark });
    assert.equal(h2.messages[0].status, 'read');

    const outsider = await makeUser(ctx.server, 'Nadia', 'Outsider');
    const co = await connect(ctx.server, outsider);
    co.join(conv._id);
    // lines 101-104
    const err = await co.next('error');
    assert.deepEqual(err, { message: 'You are not part of this conversation' });
    await co.none('conversation-history');
    co.close();
    cb.close();
  });

  test('send-message: message-sent to the sender, receive-message to the room, a notification to the recipient', async () => {
    const { a, b, conv } = await pair('Mehdi', 'Olfa');
    const ca = await connect(ctx.server, a);
    const cb = await connect(ctx.server, b);
    ca.join(conv._id);
    await ca.next('conversation-history', (d) => d.conversationId === conv._id);
    // b is online but not in the room: only the notification (lines 212-223)
    const tempId = ca.sendMessage(b.id, 'on se voit au studio ?', conv._id);
    // lines 195-209: message-sent with tempId, status 'sent'
    const sent = await ca.next('message-sent', (d) => d.tempId === tempId);
    assert.equal(sent.content, 'on se voit au studio ?');
    assert.equal(sent.conversationId, conv._id);
    assert.equal(sent.senderId, a.id);
    assert.equal(sent.senderName, 'Mehdi Test');
    assert.equal(sent.senderAvatar, a.avatar);
    assert.equal(sent.status, 'sent');
    assert.equal(sent.type, 'text');
    assert.match(sent.timestamp, ISO_MS);
    assert.ok(sent.id);
    // line 212: io.to(conversationId) -> the sender too ("for other devices")
    const echo = await ca.next('receive-message', (d) => d.id === sent.id);
    assert.deepEqual(echo, sent);
    const note = await cb.next('new-message-notification', (d) => d.message.id === sent.id);
    assert.equal(note.conversationId, conv._id);
    assert.equal(note.sender.id, a.id);
    assert.equal(note.sender.name, 'Mehdi Test');
    await cb.none('receive-message', (d) => d.id === sent.id, 200);

    // Once b joined, b gets receive-message too.
    cb.join(conv._id);
    await cb.next('conversation-history', (d) => d.conversationId === conv._id);
    const t2 = cb.sendMessage(a.id, 'oui, 18h', conv._id);
    const s2 = await cb.next('message-sent', (d) => d.tempId === t2);
    const got = await ca.next('receive-message', (d) => d.id === s2.id);
    assert.equal(got.content, 'oui, 18h');
    assert.equal(got.senderId, b.id);
    // The REST history has both, in order (same store, lines 183-189 / routes/chat.js:71-77).
    const hist = (await chatAPI(ctx.server, a.token).getConversation(conv._id)).json.messages.map((m) => m.content);
    assert.deepEqual(hist, ['on se voit au studio ?', 'oui, 18h']);
    ca.close();
    cb.close();
  });

  test('send-message from an outsider: `error`; an invalid message: `message-error` with its tempId', async () => {
    const { a, b, conv } = await pair('Hamza', 'Sirine');
    const outsider = await makeUser(ctx.server, 'Tarek', 'Outsider');
    const co = await connect(ctx.server, outsider);
    co.sendMessage(a.id, 'let me in', conv._id);
    // lines 168-176
    assert.deepEqual(await co.next('error'), { message: 'You are not part of this conversation' });
    await co.none('message-sent');
    co.close();
    const ca = await connect(ctx.server, a);
    // models/Message.js content trim + required -> Message.create throws -> lines 227-233
    const tempId = ca.sendMessage(b.id, '   ', conv._id);
    const e = await ca.next('message-error', (d) => d.tempId === tempId);
    assert.equal(e.message, 'Failed to send message');
    assert.match(e.error, /Message content is required/);
    ca.close();
  });

  test('leave-conversation stops receive-message for that room (lines 153-158)', async () => {
    const { a, b, conv } = await pair('Aymen', 'Wafa');
    const ca = await connect(ctx.server, a);
    const cb = await connect(ctx.server, b);
    cb.join(conv._id);
    await cb.next('conversation-history', (d) => d.conversationId === conv._id);
    cb.leave(conv._id);
    await new Promise((r) => setTimeout(r, 100));
    const t = ca.sendMessage(undefined, 'anyone?', conv._id);
    const s = await ca.next('message-sent', (d) => d.tempId === t);
    await cb.none('receive-message', (d) => d.id === s.id, 300);
    ca.close();
    cb.close();
  });
});

describe('typing and reads (lines 236-314)', () => {
  test('typing with recipientId goes to the recipient; without, to the room but not the typist', async () => {
    const { a, b, conv } = await pair('Ghada', 'Bilel');
    const ca = await connect(ctx.server, a);
    const cb = await connect(ctx.server, b);
    // lines 241-250: to the recipient's socket, joined or not
    ca.typing(conv._id, true, b.id);
    assert.deepEqual(await cb.next('user-typing'), {
      conversationId: conv._id, userId: a.id, userName: 'Ghada Test', isTyping: true,
    });
    // lines 270-278: typing-stop has no userName
    let m = cb.mark();
    ca.typing(conv._id, false, b.id);
    assert.deepEqual(await cb.next('user-typing', () => true, { from: m }), {
      conversationId: conv._id, userId: a.id, isTyping: false,
    });
    // lines 251-258: without a recipient (components/chat/chat-conversation.tsx:283 sends ""
    // when it finds none), to the room except the typist.
    ca.join(conv._id);
    cb.join(conv._id);
    await ca.next('conversation-history', (d) => d.conversationId === conv._id);
    await cb.next('conversation-history', (d) => d.conversationId === conv._id);
    m = cb.mark();
    ca.typing(conv._id, true, '');
    const t = await cb.next('user-typing', (d) => d.isTyping, { from: m });
    assert.equal(t.userId, a.id);
    await ca.none('user-typing', () => true, 200);
    ca.close();
    cb.close();
  });

  test('mark-as-read {messageIds} -> messages-read to the others in the room; the read state is stored', async () => {
    const { a, b, conv } = await pair('Emna', 'Skander');
    const ca = await connect(ctx.server, a);
    const cb = await connect(ctx.server, b);
    ca.join(conv._id);
    cb.join(conv._id);
    await ca.next('conversation-history', (d) => d.conversationId === conv._id);
    await cb.next('conversation-history', (d) => d.conversationId === conv._id);
    const ids = [];
    for (const text of ['un', 'deux', 'trois']) {
      const t = ca.sendMessage(b.id, text, conv._id);
      ids.push((await ca.next('message-sent', (d) => d.tempId === t)).id);
    }
    for (const id of ids) await cb.next('receive-message', (d) => d.id === id);
    assert.equal((await chatAPI(ctx.server, b.token).getUnreadCount()).json.unreadCount, 3);
    cb.markAsRead(conv._id, ids.slice(0, 2));
    // lines 298-303: socket.to(conversationId) -> the others
    const read = await ca.next('messages-read', (d) => d.conversationId === conv._id);
    assert.equal(read.conversationId, conv._id);
    assert.deepEqual(read.messageIds, ids.slice(0, 2));
    assert.equal(read.readBy, b.id);
    await cb.none('messages-read', () => true, 200);
    // Stored as the highest seq among the ids: one message left unread.
    assert.equal((await chatAPI(ctx.server, b.token).getUnreadCount()).json.unreadCount, 1);
    ca.close();
    cb.close();
  });
});

test('the context\'s own reconnect options survive a reconnect (RadioClient is the context)', async () => {
  const u = await makeUser(ctx.server, 'Reconnect', 'Test');
  const c = new RadioClient(ctx.server, u);
  await c.connected();
  assert.equal(c.isConnected, true);
  c.close();
});
