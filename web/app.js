// Parley chat page: one WebSocket (native protocol at /ws) plus a few REST calls.
//
// State per room: messages keyed by seq (so replays after a reconnect never duplicate),
// the highest seq seen (the `since` of the next join), an outbox of sends not yet
// acknowledged (re-sent with the same client_id after a reconnect, which the server makes
// idempotent), who is online, who is typing, and how far others have read.
//
// All user text reaches the DOM as text nodes (see markdown.js and ui.js h()).

import { api, ApiError, getToken, requestToken, seg, setToken } from './api.js';
import { renderMarkdown } from './markdown.js';
import {
  confirmDialog, formatDateTime, formatDay, formatTime, h, hueFor, initials, toast,
} from './ui.js';

const IDENTITY_KEY = 'parley.identity';
const OUTBOX_KEY = 'parley.outbox';
const PAGE_SIZE = 50;
const REQUEST_TIMEOUT_MS = 15000;
const PING_INTERVAL_MS = 20000;
const TYPING_RESEND_MS = 3000;
const TYPING_IDLE_MS = 4000;
const TYPING_EXPIRE_MS = 7000;
const GROUP_GAP_MS = 5 * 60 * 1000;
const ROOMS_REFRESH_MS = 30000;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// State

class Room {
  constructor(id) {
    this.id = id;
    this.title = '';
    this.messages = new Map();  // seq -> message
    this.maxSeq = 0;            // highest seq seen: `since` when rejoining
    this.minSeq = Infinity;     // lowest seq loaded: `before` when paging back
    this.hasOlder = false;
    this.loadingOlder = false;
    this.joined = false;        // joined on the current connection
    this.joining = null;
    this.lastSeq = 0;
    this.readSeq = 0;           // my read position as the server knows it
    this.sentReadSeq = 0;
    this.unread = 0;
    this.unreadMarker = null;   // seq after which the "new" divider shows
    this.updatedAt = '';
    this.online = new Set();
    this.typing = new Map();    // user id -> expiry timer
    this.readers = new Map();   // user id -> read seq
    this.participants = [];
  }
}

const state = {
  me: null,
  ws: null,
  connected: false,
  authed: false,
  reconnectAttempt: 0,
  reconnectTimer: null,
  pingTimer: null,
  nextRef: 1,
  pending: new Map(),     // ref -> {resolve, reject, timer}
  rooms: new Map(),       // id -> Room
  activeId: null,
  users: new Map(),       // id -> {id, name, role, status}
  userFetches: new Map(), // id -> Promise
  outbox: [],             // [{clientId, conversation, content, createdAt, state, error}]
  editing: null,          // {conversation, seq}
  typingSentAt: 0,
  typingOn: false,
  typingIdleTimer: null,
  elements: new Map(),    // `${room}:${key}` -> {el, version}
};

// Exposed for tests and debugging (read-only use).
window.parley = { state };

// ---------------------------------------------------------------------------------------------
// Identity

function slugify(name) {
  return String(name)
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_.-]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
}

function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function loadIdentity() {
  try {
    const data = JSON.parse(localStorage.getItem(IDENTITY_KEY) || 'null');
    if (data && data.id && data.name) return data;
  } catch {
    // Corrupt entry: ask again.
  }
  return null;
}

function askIdentity(current) {
  const dialog = $('identity-dialog');
  const nameInput = $('identity-name');
  const roleSelect = $('identity-role');
  nameInput.value = current ? current.name : '';
  roleSelect.value = current ? current.role : 'participant';
  return new Promise((resolve) => {
    const onCancel = (e) => {
      if (!current) e.preventDefault();  // a first-time visitor must pick a name
    };
    dialog.addEventListener('cancel', onCancel);
    dialog.addEventListener('close', () => {
      dialog.removeEventListener('cancel', onCancel);
      const name = nameInput.value.trim();
      if (dialog.returnValue !== 'ok' || !name) {
        resolve(current);
        return;
      }
      const role = roleSelect.value || 'participant';
      resolve({ id: slugify(name) || `user-${randomId().slice(0, 8)}`, name, role });
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    nameInput.focus();
  });
}

function showMe() {
  const me = state.me;
  $('me').hidden = !me;
  if (!me) return;
  $('me-name').textContent = me.name;
  $('me-role').textContent = me.role;
  const avatar = $('me-avatar');
  avatar.textContent = initials(me.name);
  avatar.style.setProperty('--hue', hueFor(me.id));
}

// ---------------------------------------------------------------------------------------------
// Users

function rememberUser(user) {
  if (!user) return null;
  if (typeof user === 'string') return user;
  const id = user.id ?? user.user_id ?? user.userId;
  if (!id) return null;
  const known = state.users.get(id) || { id };
  state.users.set(id, { ...known, ...user, id: String(id) });
  return String(id);
}

function userName(id) {
  const user = state.users.get(id);
  if (user && user.name) return user.name;
  fetchUser(id);
  return id;
}

function fetchUser(id) {
  if (!id || state.userFetches.has(id)) return state.userFetches.get(id);
  const p = api(`/api/v1/users/${seg(id)}`)
    .then((user) => {
      if (user) {
        rememberUser({ ...user, id });
        scheduleRender();
      }
      return user;
    })
    .catch(() => null);
  state.userFetches.set(id, p);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Connection

function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function setConn(kind, text) {
  const el = $('conn');
  el.dataset.state = kind;
  el.querySelector('.conn-text').textContent = text;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  if (state.ws) return;
  setConn('connecting', state.reconnectAttempt ? 'Reconnecting…' : 'Connecting…');
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.addEventListener('open', () => {
    if (state.ws !== ws) return;
    state.connected = true;
    onConnected(ws).catch((err) => {
      console.warn('session setup failed', err);
      if (state.ws === ws) ws.close(4000, 'setup failed');
    });
  });
  ws.addEventListener('message', (event) => {
    if (state.ws !== ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onFrame(frame);
  });
  ws.addEventListener('close', () => onDisconnected(ws));
  ws.addEventListener('error', () => {
    // 'close' follows and handles it.
  });
}

function dropConnection(reason) {
  const ws = state.ws;
  if (!ws) return;
  try {
    ws.close(4000, reason);
  } catch {
    // Already closing.
  }
  onDisconnected(ws);
}

function onDisconnected(ws) {
  if (state.ws !== ws) return;
  state.ws = null;
  state.connected = false;
  state.authed = false;
  clearInterval(state.pingTimer);
  for (const [, p] of state.pending) {
    clearTimeout(p.timer);
    p.reject(Object.assign(new Error('connection lost'), { code: 'disconnected' }));
  }
  state.pending.clear();
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.joining = null;
    room.online.clear();
    for (const timer of room.typing.values()) clearTimeout(timer);
    room.typing.clear();
  }
  state.typingOn = false;
  setConn('offline', navigator.onLine === false ? 'Offline' : 'Reconnecting…');
  scheduleRender();
  scheduleReconnect();
}

function scheduleReconnect() {
  if (state.reconnectTimer || state.ws) return;
  const delay = Math.min(10000, 500 * 2 ** state.reconnectAttempt) * (0.75 + Math.random() / 2);
  state.reconnectAttempt++;
  state.reconnectTimer = setTimeout(() => {
    state.reconnectTimer = null;
    connect();
  }, navigator.onLine === false ? Math.max(delay, 2000) : delay);
}

function request(payload, { timeout = REQUEST_TIMEOUT_MS } = {}) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    return Promise.reject(Object.assign(new Error('not connected'), { code: 'disconnected' }));
  }
  const ref = state.nextRef++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      state.pending.delete(ref);
      reject(Object.assign(new Error('request timed out'), { code: 'timeout' }));
      // No answer in time: the connection is probably dead (half-open); start over.
      if (state.ws === ws) dropConnection('timeout');
    }, timeout);
    state.pending.set(ref, { resolve, reject, timer });
    ws.send(JSON.stringify({ ...payload, ref }));
  });
}

function sendFrame(payload) {
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN && state.authed) ws.send(JSON.stringify(payload));
}

async function authenticate() {
  const me = state.me;
  let token = getToken();
  let reply;
  try {
    reply = token
      ? await request({ op: 'auth', token })
      : await request({ op: 'auth', user: me.id, name: me.name, role: me.role });
  } catch (err) {
    if (err.code !== 'unauthorized') throw err;
    // Token mode: ask the user until a token is accepted or they give up.
    let reason = token ? 'The token was not accepted.' : 'This server requires an access token.';
    for (;;) {
      setToken(null);
      token = await requestToken(reason);
      if (!token) {
        setConn('offline', 'Not signed in');
        throw Object.assign(new Error('no token'), { code: 'no_token' });
      }
      try {
        reply = await request({ op: 'auth', token });
        break;
      } catch (retryErr) {
        if (retryErr.code !== 'unauthorized') throw retryErr;
        reason = 'The token was not accepted.';
      }
    }
  }
  if (reply && reply.user) {
    rememberUser(reply.user);
    if (reply.user.id && reply.user.id !== me.id) {
      state.me = { ...me, ...reply.user };
      showMe();
    }
  }
  state.authed = true;
}

async function onConnected(ws) {
  setConn('connecting', 'Signing in…');
  await authenticate();
  if (state.ws !== ws) return;
  state.reconnectAttempt = 0;
  setConn('online', 'Connected');
  clearInterval(state.pingTimer);
  state.pingTimer = setInterval(() => {
    if (state.ws === ws) request({ op: 'ping' }).catch(() => {});
  }, PING_INTERVAL_MS);
  // Rejoin the open rooms (active first), then flush sends made while offline.
  const rooms = [...state.rooms.values()].filter((r) => r.wanted);
  rooms.sort((a, b) => (a.id === state.activeId ? -1 : b.id === state.activeId ? 1 : 0));
  for (const room of rooms) {
    try {
      await joinOrCreate(room);
    } catch (err) {
      if (err.code === 'disconnected' || err.code === 'timeout') return;
      toast(`Could not join ${room.title || room.id}: ${err.message}`, { error: true });
    }
  }
  flushOutbox();
  refreshRooms();
}

function onFrame(frame) {
  if (frame.ref !== undefined && frame.ref !== null && state.pending.has(frame.ref)) {
    const p = state.pending.get(frame.ref);
    state.pending.delete(frame.ref);
    clearTimeout(p.timer);
    if (frame.type === 'error') {
      p.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code }));
    } else {
      p.resolve(frame);
    }
    return;
  }
  switch (frame.type) {
    case 'message':
      onMessageEvent(frame.message);
      break;
    case 'edited':
      if (frame.message) ingest(roomFor(frame.message.conversation), frame.message);
      scheduleRender();
      break;
    case 'deleted':
      onDeletedEvent(frame.conversation, frame.seq);
      break;
    case 'typing':
      onTypingEvent(frame);
      break;
    case 'presence':
      onPresenceEvent(frame);
      break;
    case 'read':
      onReadEvent(frame);
      break;
    case 'error':
      if (frame.code !== 'rate_limited') console.warn('server error', frame);
      else toast('Slow down a little: too many messages.', { error: true });
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Rooms and messages

function roomFor(id) {
  let room = state.rooms.get(id);
  if (!room) {
    room = new Room(id);
    state.rooms.set(id, room);
  }
  return room;
}

function senderId(msg) {
  return msg && msg.sender ? String(msg.sender.id ?? '') : '';
}

// Stores `msg` (a newer version replaces an older one with the same seq). Returns true if
// the seq was not known before.
function ingest(room, msg) {
  if (!msg || typeof msg.seq !== 'number') return false;
  if (msg.sender) rememberUser(msg.sender);
  const isNew = !room.messages.has(msg.seq);
  room.messages.set(msg.seq, msg);
  if (msg.seq > room.maxSeq) room.maxSeq = msg.seq;
  if (msg.seq < room.minSeq) room.minSeq = msg.seq;
  if (msg.seq > room.lastSeq) room.lastSeq = msg.seq;
  if (msg.created_at && msg.created_at > room.updatedAt) room.updatedAt = msg.created_at;
  if (msg.client_id) settleOutbox(msg.client_id);
  return isNew;
}

async function joinRoom(room) {
  if (room.joining) return room.joining;
  const since = room.maxSeq > 0 ? room.maxSeq : undefined;
  room.joining = (async () => {
    const payload = { op: 'join', conversation: room.id };
    if (since !== undefined) payload.since = since;
    else payload.limit = PAGE_SIZE;
    const reply = await request(payload);
    const fresh = since === undefined;
    for (const msg of reply.messages || []) ingest(room, msg);
    if (typeof reply.last_seq === 'number') room.lastSeq = Math.max(room.lastSeq, reply.last_seq);
    if (typeof reply.read_seq === 'number') {
      room.readSeq = Math.max(room.readSeq, reply.read_seq);
      room.sentReadSeq = Math.max(room.sentReadSeq, reply.read_seq);
    }
    if (fresh) {
      room.hasOlder = !!reply.has_more;
      if (room.unreadMarker === null && room.readSeq < room.lastSeq) room.unreadMarker = room.readSeq;
    } else {
      // A reconnect: page forward until caught up, then refresh the recent window so edits
      // and deletes made while we were away show too.
      let more = !!reply.has_more;
      while (more) {
        const page = await request({
          op: 'history', conversation: room.id, after: room.maxSeq, limit: 200,
        });
        for (const msg of page.messages || []) ingest(room, msg);
        more = !!page.has_more && (page.messages || []).length > 0;
      }
      const recent = await request({
        op: 'history', conversation: room.id, before: room.maxSeq + 1, limit: PAGE_SIZE,
      });
      for (const msg of recent.messages || []) ingest(room, msg);
    }
    let listed = false;
    for (const key of ['online', 'members', 'presence']) {
      const list = reply[key];
      if (!Array.isArray(list)) continue;
      listed = true;
      for (const entry of list) {
        if (entry && typeof entry === 'object' && entry.status && entry.status !== 'online') continue;
        const id = rememberUser(entry);
        if (id) room.online.add(id);
      }
    }
    if (state.me) room.online.add(state.me.id);
    room.joined = true;
    room.listed = true;
    if (!listed) probePresence(room);
    if (fresh && !room.title) refreshRoomsSoon();
    if (room.id !== state.activeId) {
      room.unread = Math.max(room.unread, room.lastSeq - room.readSeq);
      scheduleRender();
      return;
    }
    const atBottom = fresh || isAtBottom();
    renderNow();
    if (atBottom) scrollToBottom();
    maybeMarkRead(0);
    if (fresh) fillViewport(room);
  })();
  try {
    await room.joining;
  } finally {
    room.joining = null;
  }
}

// Joins `room`; a room that does not exist yet (say, from a link) is created first, as
// opening a room by name does.
async function joinOrCreate(room) {
  try {
    await joinRoom(room);
  } catch (err) {
    if (err.code !== 'not_found') throw err;
    await api('/api/v1/conversations', {
      method: 'POST', body: { id: room.id, title: room.title || room.id }, accept: [409],
    });
    await joinRoom(room);
  }
}

// A fallback for servers whose join reply has no `online` list: ask for the status of the
// people seen in the room (recent senders and participants).
function probePresence(room) {
  const ids = new Set(room.participants);
  const recent = [...room.messages.values()].slice(-PAGE_SIZE);
  for (const msg of recent) {
    const id = senderId(msg);
    if (id) ids.add(id);
  }
  if (state.me) ids.delete(state.me.id);
  for (const id of [...ids].slice(0, 30)) {
    api(`/api/v1/users/${seg(id)}`)
      .then((user) => {
        if (!user) return;
        rememberUser({ ...user, id });
        if (user.status === 'online' && room.joined) room.online.add(id);
        scheduleRender();
      })
      .catch(() => {});
  }
}

async function loadOlder(room) {
  if (room.loadingOlder || !room.hasOlder || !room.joined || room.minSeq === Infinity) return;
  room.loadingOlder = true;
  scheduleRender();
  try {
    const reply = await request({
      op: 'history', conversation: room.id, before: room.minSeq, limit: PAGE_SIZE,
    });
    const list = $('messages');
    const prevHeight = list.scrollHeight;
    const prevTop = list.scrollTop;
    for (const msg of reply.messages || []) ingest(room, msg);
    room.hasOlder = !!reply.has_more && (reply.messages || []).length > 0;
    room.loadingOlder = false;
    if (room.id === state.activeId) {
      renderNow();
      list.scrollTop = prevTop + (list.scrollHeight - prevHeight);
    }
  } catch (err) {
    if (err.code !== 'disconnected') toast(`Could not load older messages: ${err.message}`, { error: true });
  } finally {
    room.loadingOlder = false;
    scheduleRender();
  }
}

function onMessageEvent(msg) {
  if (!msg || !msg.conversation) return;
  const room = roomFor(msg.conversation);
  room.listed = true;
  const wasAtBottom = isAtBottom();
  const isNew = ingest(room, msg);
  const from = senderId(msg);
  if (from) clearTyping(room, from);
  if (isNew && from !== state.me?.id) {
    const visible = room.id === state.activeId && document.visibilityState === 'visible' && wasAtBottom;
    if (!visible) {
      room.unread++;
      if (room.id === state.activeId && room.unreadMarker === null) room.unreadMarker = msg.seq - 1;
    }
  }
  if (room.id === state.activeId) {
    renderNow();
    if (wasAtBottom || from === state.me?.id) scrollToBottom();
    else $('jump').hidden = false;
    maybeMarkRead();
  } else {
    scheduleRender();
  }
}

function onDeletedEvent(conversation, seq) {
  const room = state.rooms.get(conversation);
  if (!room) return;
  const msg = room.messages.get(seq);
  if (msg) room.messages.set(seq, { ...msg, deleted: true, content: '' });
  if (state.editing && state.editing.conversation === conversation && state.editing.seq === seq) {
    state.editing = null;
  }
  scheduleRender();
}

// Events name the user by id (`user`), possibly with `name` beside it, or as an object.
function eventUser(frame) {
  const user = frame.user ?? frame.user_id ?? frame.userId;
  if (typeof user === 'string' && frame.name) return rememberUser({ id: user, name: frame.name });
  return rememberUser(user);
}

function clearTyping(room, userId) {
  const timer = room.typing.get(userId);
  if (timer !== undefined) {
    clearTimeout(timer);
    room.typing.delete(userId);
    scheduleRender();
  }
}

function onTypingEvent(frame) {
  const room = state.rooms.get(frame.conversation);
  const userId = eventUser(frame);
  if (!room || !userId || userId === state.me?.id) return;
  clearTyping(room, userId);
  if (frame.on) {
    room.typing.set(userId, setTimeout(() => clearTyping(room, userId), TYPING_EXPIRE_MS));
    room.online.add(userId);
  }
  scheduleRender();
}

function onPresenceEvent(frame) {
  const userId = eventUser(frame);
  if (!userId) return;
  const rooms = frame.conversation ? [state.rooms.get(frame.conversation)] : [...state.rooms.values()];
  for (const room of rooms) {
    if (!room) continue;
    if (frame.status === 'online') room.online.add(userId);
    else if (userId !== state.me?.id) {
      room.online.delete(userId);
      clearTyping(room, userId);
    }
  }
  const known = state.users.get(userId);
  if (known) known.status = frame.status;
  scheduleRender();
}

function onReadEvent(frame) {
  const room = state.rooms.get(frame.conversation);
  const userId = eventUser(frame);
  if (!room || !userId || typeof frame.seq !== 'number') return;
  if (userId === state.me?.id) {
    room.readSeq = Math.max(room.readSeq, frame.seq);
    if (room.id !== state.activeId) room.unread = Math.max(0, room.lastSeq - room.readSeq);
  } else {
    room.readers.set(userId, Math.max(room.readers.get(userId) || 0, frame.seq));
  }
  scheduleRender();
}

let readTimer = null;
let readDue = 0;
function maybeMarkRead(delay = 150) {
  // Keep an earlier pending check rather than pushing it back.
  if (readTimer && readDue <= Date.now() + delay) return;
  clearTimeout(readTimer);
  readDue = Date.now() + delay;
  readTimer = setTimeout(() => {
    readTimer = null;
    const room = state.rooms.get(state.activeId);
    if (!room || !room.joined || document.visibilityState !== 'visible' || !isAtBottom()) return;
    room.unread = 0;
    $('jump').hidden = true;
    const seq = room.maxSeq;
    if (seq > room.sentReadSeq) {
      room.sentReadSeq = seq;
      request({ op: 'read', conversation: room.id, seq })
        .then(() => {
          room.readSeq = Math.max(room.readSeq, seq);
        })
        .catch(() => {
          room.sentReadSeq = Math.min(room.sentReadSeq, room.readSeq);
        });
    }
    scheduleRender();
  }, delay);
}

// ---------------------------------------------------------------------------------------------
// Sending, editing, deleting

function loadOutbox() {
  try {
    const saved = JSON.parse(localStorage.getItem(OUTBOX_KEY) || '[]');
    if (Array.isArray(saved)) {
      state.outbox = saved.filter((m) => m && m.clientId && m.conversation && m.owner === state.me.id);
      for (const m of state.outbox) if (m.state === 'sending') m.state = 'queued';
    }
  } catch {
    state.outbox = [];
  }
}

function saveOutbox() {
  try {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify(state.outbox));
  } catch {
    // Storage full or disabled: the outbox still lives in memory.
  }
}

function settleOutbox(clientId) {
  const before = state.outbox.length;
  state.outbox = state.outbox.filter((m) => m.clientId !== clientId);
  if (state.outbox.length !== before) saveOutbox();
}

function queueSend(room, content) {
  const item = {
    clientId: randomId(),
    conversation: room.id,
    content,
    createdAt: new Date().toISOString(),
    state: 'queued',
    owner: state.me.id,
  };
  state.outbox.push(item);
  saveOutbox();
  trySend(item);
  renderNow();
  scrollToBottom();
}

async function trySend(item) {
  const room = state.rooms.get(item.conversation);
  if (!room || !room.joined || item.state === 'sending') return;
  item.state = 'sending';
  item.error = null;
  try {
    const ack = await request({
      op: 'send', conversation: item.conversation, content: item.content, client_id: item.clientId,
    });
    if (ack.pending && typeof ack.seq !== 'number') {
      // Stored in the outage spool; the message event with the final seq settles it.
      item.state = 'spooled';
      scheduleRender();
      return;
    }
    if (typeof ack.seq === 'number' && !room.messages.has(ack.seq)) {
      ingest(room, {
        id: ack.id,
        conversation: room.id,
        seq: ack.seq,
        sender: { id: state.me.id, name: state.me.name, role: state.me.role },
        kind: 'text',
        content: item.content,
        meta: {},
        created_at: ack.created_at || item.createdAt,
        edited_at: null,
        deleted: false,
        client_id: item.clientId,
      });
    }
    settleOutbox(item.clientId);
    if (room.id === state.activeId) {
      renderNow();
      scrollToBottom();
      maybeMarkRead();
    }
  } catch (err) {
    if (err.code === 'disconnected' || err.code === 'timeout') {
      item.state = 'queued';  // re-sent with the same client_id after reconnecting
    } else {
      item.state = 'failed';
      item.error = err.message;
      saveOutbox();
    }
    scheduleRender();
  }
}

function flushOutbox() {
  for (const item of state.outbox) {
    if (item.state === 'queued') trySend(item);
  }
}

function retrySend(clientId) {
  const item = state.outbox.find((m) => m.clientId === clientId);
  if (!item) return;
  item.state = 'queued';
  trySend(item);
  scheduleRender();
}

function discardSend(clientId) {
  settleOutbox(clientId);
  scheduleRender();
}

function setTyping(on) {
  const room = state.rooms.get(state.activeId);
  if (!room || !room.joined) return;
  const now = Date.now();
  if (on) {
    if (!state.typingOn || now - state.typingSentAt > TYPING_RESEND_MS) {
      sendFrame({ op: 'typing', conversation: room.id, on: true });
      state.typingOn = true;
      state.typingSentAt = now;
    }
    clearTimeout(state.typingIdleTimer);
    state.typingIdleTimer = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
  } else if (state.typingOn) {
    clearTimeout(state.typingIdleTimer);
    sendFrame({ op: 'typing', conversation: room.id, on: false });
    state.typingOn = false;
  }
}

function startEdit(room, seq) {
  const msg = room.messages.get(seq);
  if (!msg || msg.deleted || senderId(msg) !== state.me?.id) return;
  state.editing = { conversation: room.id, seq };
  renderNow();
  const input = document.querySelector(`.msg[data-seq="${seq}"] .edit-input`);
  if (input) {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    autoGrow(input);
  }
}

function cancelEdit() {
  state.editing = null;
  renderNow();
  $('composer-input').focus();
}

async function saveEdit(room, seq, content) {
  const msg = room.messages.get(seq);
  const text = content.trim();
  if (!msg) return cancelEdit();
  if (!text) {
    state.editing = null;
    return deleteMessage(room, seq);
  }
  if (text === msg.content) return cancelEdit();
  try {
    await request({ op: 'edit', conversation: room.id, seq, content: text });
    const current = room.messages.get(seq);
    if (current && current.content !== text) {
      room.messages.set(seq, { ...current, content: text, edited_at: new Date().toISOString() });
    }
    state.editing = null;
    renderNow();
    $('composer-input').focus();
  } catch (err) {
    toast(`Could not edit: ${err.message}`, { error: true });
  }
}

async function deleteMessage(room, seq) {
  const ok = await confirmDialog({
    title: 'Delete message?',
    message: 'Everyone in the room will see that it was deleted. This cannot be undone.',
    confirmLabel: 'Delete',
    danger: true,
  });
  if (!ok) {
    renderNow();
    return;
  }
  try {
    await request({ op: 'delete', conversation: room.id, seq });
    onDeletedEvent(room.id, seq);
  } catch (err) {
    toast(`Could not delete: ${err.message}`, { error: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Room list

let refreshTimer = null;
function refreshRoomsSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshRooms, 300);
}

async function refreshRooms() {
  if (!state.me) return;
  try {
    const data = await api(`/api/v1/conversations?user=${seg(state.me.id)}&limit=100`);
    for (const conv of (data && data.conversations) || []) {
      const room = roomFor(conv.id);
      room.title = conv.title || room.title;
      room.updatedAt = conv.updated_at || room.updatedAt;
      room.participants = Array.isArray(conv.participants) ? conv.participants : [];
      if (typeof conv.last_seq === 'number') room.lastSeq = Math.max(room.lastSeq, conv.last_seq);
      room.listed = true;
      if (typeof conv.unread === 'number' && room.id !== state.activeId) {
        room.unread = room.joined ? Math.max(room.unread, conv.unread) : conv.unread;
        if (room.joined && conv.unread === 0) room.unread = 0;
      }
    }
    scheduleRender();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    console.warn('room list failed', err);
  }
}

async function openRoom(id, { create = false, title } = {}) {
  if (!id) return;
  if (create) {
    try {
      await api('/api/v1/conversations', { method: 'POST', body: { id, title: title || id }, accept: [409] });
    } catch (err) {
      // The join below reports anything that really matters.
      console.warn('create failed', err);
    }
  }
  const room = roomFor(id);
  if (title && !room.title) room.title = title;
  room.wanted = true;
  room.listed = true;
  if (state.activeId !== id) {
    setTyping(false);
    state.editing = null;
    state.activeId = id;
    room.unreadMarker = room.unread > 0 ? room.lastSeq - room.unread : null;
    const hash = `#/r/${encodeURIComponent(id)}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }
  closeSidebar();
  renderNow();
  scrollToBottom();
  $('composer-input').focus();
  if (!room.joined && state.authed) {
    try {
      await joinOrCreate(room);
    } catch (err) {
      if (err.code !== 'disconnected' && err.code !== 'timeout') {
        toast(`Could not open ${id}: ${err.message}`, { error: true });
      }
      return;
    }
  }
  maybeMarkRead();
}

// Loads older pages while the history does not fill the viewport (no scrollbar to scroll).
async function fillViewport(room) {
  const list = $('messages');
  while (room.hasOlder && room.id === state.activeId && list.scrollHeight <= list.clientHeight + 10) {
    const before = room.minSeq;
    await loadOlder(room);
    if (room.minSeq === before) break;
  }
}

function roomFromHash() {
  const m = /^#\/r\/(.+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderNow();
  });
}

function renderNow() {
  renderRoomList();
  const room = state.rooms.get(state.activeId);
  $('empty-state').hidden = !!room;
  $('room').hidden = !room;
  if (!room) return;
  renderHeader(room);
  // Stay pinned to the newest message when something below changes (receipts, typing).
  const list = $('messages');
  const pinned = !room.loadingOlder && list.scrollHeight > 0 && isAtBottom();
  renderMessages(room);
  renderTyping(room);
  if (pinned) list.scrollTop = list.scrollHeight;
  document.title = totalUnread() > 0 ? `(${totalUnread()}) Parley` : 'Parley';
}

function totalUnread() {
  let n = 0;
  for (const room of state.rooms.values()) if (room.id !== state.activeId) n += room.unread;
  return n;
}

function renderRoomList() {
  const list = $('room-list');
  const rooms = [...state.rooms.values()].filter((r) => r.listed || r.wanted);
  rooms.sort((a, b) => (b.updatedAt || '').localeCompare(a.updatedAt || '') || a.id.localeCompare(b.id));
  $('rooms-empty').hidden = rooms.length > 0;
  const items = rooms.map((room) => {
    const active = room.id === state.activeId;
    const unread = active ? 0 : room.unread;
    const label = room.title || room.id;
    const button = h('button', {
      type: 'button',
      className: 'room-item',
      'aria-current': active ? 'page' : undefined,
      'data-room': room.id,
      onclick: () => openRoom(room.id),
    },
      h('span', { className: 'room-hash', 'aria-hidden': 'true' }, '#'),
      h('span', { className: 'room-name' }, label),
      unread > 0
        ? h('span', { className: 'badge', 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : String(unread))
        : null);
    return h('li', {}, button);
  });
  list.replaceChildren(...items);
}

function renderHeader(room) {
  $('room-title').textContent = room.title || room.id;
  const count = room.lastSeq;
  $('room-sub').textContent = room.title && room.title !== room.id
    ? `#${room.id} · ${count} message${count === 1 ? '' : 's'}`
    : `${count} message${count === 1 ? '' : 's'}`;
  const online = [...room.online];
  online.sort((a, b) => (a === state.me?.id ? -1 : b === state.me?.id ? 1 : userName(a).localeCompare(userName(b))));
  $('presence-count').textContent = room.joined ? `${online.length} online` : 'offline';
  $('presence').replaceChildren(...online.map((id) => {
    const user = state.users.get(id) || {};
    const name = userName(id);
    return h('li', { className: 'presence-item', title: `${name}${user.role ? ` (${user.role})` : ''} is online` },
      h('span', { className: 'avatar avatar-xs', 'aria-hidden': 'true', style: `--hue:${hueFor(id)}` }, initials(name)),
      h('span', { className: 'presence-name' }, id === state.me?.id ? `${name} (you)` : name));
  }));
}

function renderTyping(room) {
  const names = [...room.typing.keys()].map(userName);
  const el = $('typing');
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = `${names.length} people are typing…`;
  if (el.dataset.text !== text) {
    el.dataset.text = text;
    el.replaceChildren(...(text ? [h('span', { className: 'typing-dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), text] : []));
  }
}

function isAtBottom() {
  const list = $('messages');
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function scrollToBottom() {
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
  $('jump').hidden = true;
}

function sameGroup(prev, msg) {
  if (!prev || prev.kind === 'system' || msg.kind === 'system') return false;
  if (senderId(prev) !== senderId(msg)) return false;
  const gap = new Date(msg.created_at) - new Date(prev.created_at);
  return gap >= 0 && gap < GROUP_GAP_MS && formatDay(prev.created_at) === formatDay(msg.created_at);
}

function cached(key, version, build) {
  const hit = state.elements.get(key);
  if (hit && hit.version === version) return hit.el;
  const el = build();
  state.elements.set(key, { el, version });
  return el;
}

function renderMessages(room) {
  const list = $('messages');
  const me = state.me?.id;
  const seqs = [...room.messages.keys()].sort((a, b) => a - b);
  const outbox = state.outbox.filter((m) => m.conversation === room.id);

  // "Seen by": on my latest message, the others whose read position reached it.
  let lastMine = null;
  for (let i = seqs.length - 1; i >= 0; i--) {
    const msg = room.messages.get(seqs[i]);
    if (senderId(msg) === me && !msg.deleted) {
      lastMine = msg.seq;
      break;
    }
  }
  const seenBy = lastMine === null ? [] : [...room.readers.entries()]
    .filter(([id, seq]) => id !== me && seq >= lastMine)
    .map(([id]) => userName(id))
    .sort();

  const nodes = [];
  if (room.hasOlder || room.loadingOlder) {
    nodes.push(cached(`${room.id}:older`, `${room.loadingOlder}`, () => h('div', { className: 'older' },
      h('button', {
        type: 'button', className: 'btn btn-ghost', onclick: () => loadOlder(room),
        disabled: room.loadingOlder,
      }, room.loadingOlder ? 'Loading older messages…' : 'Load older messages'))));
  } else if (seqs.length > 0 && room.minSeq <= 1) {
    nodes.push(cached(`${room.id}:start`, room.title, () => h('div', { className: 'room-start' },
      h('strong', {}, `This is the start of #${room.title || room.id}`))));
  }

  let prev = null;
  let lastDay = '';
  for (const seq of seqs) {
    const msg = room.messages.get(seq);
    const day = formatDay(msg.created_at);
    if (day && day !== lastDay) {
      nodes.push(cached(`${room.id}:day:${day}`, day, () => h('div', { className: 'day', role: 'separator' }, h('span', {}, day))));
      lastDay = day;
      prev = null;
    }
    if (room.unreadMarker !== null && seq === room.unreadMarker + 1 && senderId(msg) !== me) {
      nodes.push(cached(`${room.id}:unread`, '', () => h('div', { className: 'unread-marker', role: 'separator' }, h('span', {}, 'New'))));
    }
    const grouped = sameGroup(prev, msg);
    const editing = state.editing && state.editing.conversation === room.id && state.editing.seq === seq;
    const seen = seq === lastMine ? seenBy.join(', ') : '';
    const name = userName(senderId(msg));
    const version = [msg.content, msg.deleted, msg.edited_at, grouped, editing, seen, name,
      msg.sender?.role].join('\u0000');
    nodes.push(cached(`${room.id}:m:${seq}`, version, () => buildMessage(room, msg, { grouped, editing, seen, name })));
    prev = msg;
  }
  for (const item of outbox) {
    const version = [item.state, item.error, item.content].join('\u0000');
    nodes.push(cached(`${room.id}:o:${item.clientId}`, version, () => buildPending(item)));
  }
  if (seqs.length === 0 && outbox.length === 0) {
    nodes.push(cached(`${room.id}:empty`, `${room.joined}`, () => h('div', { className: 'room-start' },
      room.joined ? 'No messages yet. Say hello!' : 'Loading…')));
  }

  // Move nodes into place only where the order changed.
  let cursor = list.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      list.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

function buildAvatar(id, name) {
  return h('div', { className: 'avatar', 'aria-hidden': 'true', style: `--hue:${hueFor(id)}` }, initials(name));
}

function buildMessage(room, msg, { grouped, editing, seen, name }) {
  const from = senderId(msg);
  const mine = from === state.me?.id;
  const role = msg.sender?.role || '';
  if (msg.kind === 'system') {
    return h('div', { className: 'msg-system', 'data-seq': msg.seq, role: 'note' },
      msg.deleted ? 'System message deleted' : msg.content);
  }
  const classes = ['msg'];
  if (mine) classes.push('mine');
  if (grouped) classes.push('grouped');
  if (msg.deleted) classes.push('deleted');
  if (editing) classes.push('editing');

  const time = h('time', { dateTime: msg.created_at, title: formatDateTime(msg.created_at) }, formatTime(msg.created_at));
  const meta = h('div', { className: 'meta' },
    h('span', { className: 'name' }, name),
    role && role !== 'participant' && role !== 'user' ? h('span', { className: `role-badge role-${role.replace(/[^a-z0-9-]/gi, '')}` }, role) : null,
    time,
    msg.edited_at && !msg.deleted ? h('span', { className: 'edited', title: `Edited ${formatDateTime(msg.edited_at)}` }, '(edited)') : null);

  let body;
  if (editing) {
    const input = h('textarea', {
      className: 'edit-input', value: msg.content, rows: 1, 'aria-label': 'Edit message',
      oninput: (e) => autoGrow(e.target),
      onkeydown: (e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          cancelEdit();
        } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          saveEdit(room, msg.seq, input.value);
        }
      },
    });
    body = h('div', { className: 'bubble' }, input,
      h('div', { className: 'edit-actions' },
        h('span', { className: 'edit-hint' }, 'Esc to cancel · Enter to save'),
        h('button', { type: 'button', className: 'btn btn-small', onclick: cancelEdit }, 'Cancel'),
        h('button', { type: 'button', className: 'btn btn-small btn-primary', onclick: () => saveEdit(room, msg.seq, input.value) }, 'Save')));
  } else if (msg.deleted) {
    body = h('div', { className: 'bubble' }, h('p', { className: 'deleted-text' }, 'This message was deleted.'));
  } else {
    body = h('div', { className: 'bubble' }, h('div', { className: 'content' }, renderContent(msg)));
  }

  const actions = mine && !msg.deleted && !editing
    ? h('div', { className: 'actions' },
      h('button', { type: 'button', className: 'icon-btn', 'aria-label': 'Edit message', title: 'Edit', onclick: () => startEdit(room, msg.seq) },
        svgIcon('M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4')),
      h('button', { type: 'button', className: 'icon-btn', 'aria-label': 'Delete message', title: 'Delete', onclick: () => deleteMessage(room, msg.seq) },
        svgIcon('M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13')))
    : null;

  return h('article', {
    className: classes.join(' '),
    'data-seq': msg.seq,
    'data-sender': from,
    'aria-label': `${name}, ${formatTime(msg.created_at)}`,
  },
    grouped ? h('div', { className: 'avatar-spacer' }) : buildAvatar(from, name),
    h('div', { className: 'msg-body' },
      grouped ? null : meta,
      h('div', { className: 'bubble-row' }, body, actions),
      seen ? h('div', { className: 'receipt', 'aria-label': `Seen by ${seen}` }, `Seen by ${seen}`) : null));
}

function renderContent(msg) {
  if (msg.kind === 'image' || msg.kind === 'file') {
    const text = String(msg.content || '');
    const href = /^(https?:\/\/|\/)[^\s]*$/i.test(text) && !text.startsWith('//') ? text : null;
    const label = msg.meta?.name || msg.meta?.filename || text || msg.kind;
    return h('p', { className: 'attachment' }, h('span', { 'aria-hidden': 'true' }, msg.kind === 'image' ? '🖼 ' : '📎 '),
      href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, label) : label);
  }
  return renderMarkdown(msg.content || '');
}

function buildPending(item) {
  const me = state.me;
  const status = item.state === 'failed'
    ? h('div', { className: 'receipt receipt-error' }, `Not sent: ${item.error || 'error'} `,
      h('button', { type: 'button', className: 'link-btn', onclick: () => retrySend(item.clientId) }, 'Retry'), ' · ',
      h('button', { type: 'button', className: 'link-btn', onclick: () => discardSend(item.clientId) }, 'Discard'))
    : h('div', { className: 'receipt' }, item.state === 'spooled' ? 'Saved, waiting for the server…' : 'Sending…');
  return h('article', { className: 'msg mine pending', 'data-client-id': item.clientId, 'aria-label': 'Your message, sending' },
    buildAvatar(me.id, me.name),
    h('div', { className: 'msg-body' },
      h('div', { className: 'bubble-row' }, h('div', { className: 'bubble' }, h('div', { className: 'content' }, renderMarkdown(item.content)))),
      status));
}

function svgIcon(d) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

function autoGrow(textarea) {
  textarea.style.height = 'auto';
  textarea.style.height = `${Math.min(textarea.scrollHeight, Math.round(window.innerHeight * 0.4))}px`;
}

// ---------------------------------------------------------------------------------------------
// Sidebar (phones)

function openSidebar() {
  document.body.classList.add('sidebar-open');
  $('rooms-toggle').setAttribute('aria-expanded', 'true');
  $('scrim').hidden = false;
  $('new-room-input').focus();
}

function closeSidebar() {
  document.body.classList.remove('sidebar-open');
  $('rooms-toggle').setAttribute('aria-expanded', 'false');
  $('scrim').hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  const input = $('composer-input');
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = state.rooms.get(state.activeId);
    const text = input.value.trim();
    if (!room || !text) return;
    input.value = '';
    autoGrow(input);
    setTyping(false);
    queueSend(room, text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    } else if (e.key === 'ArrowUp' && input.value === '') {
      const room = state.rooms.get(state.activeId);
      if (!room) return;
      const mine = [...room.messages.values()]
        .filter((m) => senderId(m) === state.me?.id && !m.deleted && m.kind !== 'system')
        .sort((a, b) => b.seq - a.seq)[0];
      if (mine) {
        e.preventDefault();
        startEdit(room, mine.seq);
      }
    } else if (e.key === 'Escape' && state.editing) {
      cancelEdit();
    }
  });
  input.addEventListener('input', () => {
    autoGrow(input);
    setTyping(input.value.trim().length > 0);
  });
  input.addEventListener('blur', () => setTyping(false));

  const list = $('messages');
  list.addEventListener('scroll', () => {
    const room = state.rooms.get(state.activeId);
    if (!room) return;
    if (list.scrollTop < 150) loadOlder(room);
    if (isAtBottom()) {
      $('jump').hidden = true;
      maybeMarkRead();
    }
  }, { passive: true });
  $('jump').addEventListener('click', () => {
    scrollToBottom();
    maybeMarkRead();
  });

  $('new-room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const field = $('new-room-input');
    const name = field.value.trim();
    if (!name) return;
    field.value = '';
    const existing = [...state.rooms.values()].find(
      (r) => r.id === name || (r.title && r.title.toLowerCase() === name.toLowerCase()));
    if (existing) {
      openRoom(existing.id);
      return;
    }
    const id = /^[A-Za-z0-9_.:-]{1,64}$/.test(name) ? name : slugify(name) || randomId().slice(0, 8);
    openRoom(id, { create: true, title: name });
  });
  $('open-lobby').addEventListener('click', () => openRoom('lobby', { create: true, title: 'lobby' }));
  $('rooms-toggle').addEventListener('click', () => {
    if (document.body.classList.contains('sidebar-open')) closeSidebar();
    else openSidebar();
  });
  $('scrim').addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('sidebar-open')) closeSidebar();
  });
  $('me').addEventListener('click', async () => {
    const next = await askIdentity(state.me);
    if (!next || (next.id === state.me.id && next.name === state.me.name && next.role === state.me.role)) return;
    localStorage.setItem(IDENTITY_KEY, JSON.stringify(next));
    location.reload();
  });

  window.addEventListener('hashchange', () => {
    const id = roomFromHash();
    if (id && id !== state.activeId) openRoom(id);
  });
  window.addEventListener('offline', () => {
    // The socket may linger half-open; start over so nothing waits on a dead connection.
    setConn('offline', 'Offline');
    dropConnection('offline');
  });
  window.addEventListener('online', () => {
    state.reconnectAttempt = 0;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    connect();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      maybeMarkRead();
      if (!state.ws) connect();
    }
  });
  window.addEventListener('focus', () => refreshRooms());
  setInterval(refreshRooms, ROOMS_REFRESH_MS);
  setInterval(() => scheduleRender(), 60000);  // relative labels, day separators
}

async function main() {
  wire();
  let me = loadIdentity();
  if (!me) {
    me = await askIdentity(null);
    localStorage.setItem(IDENTITY_KEY, JSON.stringify(me));
  }
  state.me = me;
  rememberUser({ id: me.id, name: me.name, role: me.role });
  showMe();
  loadOutbox();
  for (const item of state.outbox) roomFor(item.conversation).wanted = true;
  const initial = roomFromHash();
  renderNow();
  connect();
  refreshRooms();
  if (initial) openRoom(initial);
}

main();
