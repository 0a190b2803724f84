// radio-istic's data moved into Parley with `parley import`, from where it lives: the MongoDB
// collections as `mongodump` writes them (BSON, written here with MongoDB's own `bson`
// package) and as `mongoexport` writes them (Extended JSON, canonical and relaxed, with the
// same package's EJSON), with the mongoose models' field names and types
// (backend-api/models/: ObjectIds, dates, nested readBy, isDeleted). After each import the
// app's own client (lib/websocket-context.tsx, lib/api.ts: helpers.mjs) joins each
// conversation and gets its history in order, as the app showed it; outsiders get nothing.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { BSON, EJSON, ObjectId } from 'bson';

import { parleyBin, startServer } from '../lib/server.mjs';
import { ADMIN_TOKEN, JWT_SECRET, chatAPI, connect, generateToken } from './helpers.mjs';

const T0 = Date.parse('2024-06-01T10:00:00Z');
const oid = (n) => new ObjectId(n.toString(16).padStart(24, '0'));
const amira = { id: oid(1).toHexString(), firstName: 'Amira', lastName: 'Ben Salah', avatar: '/uploads/avatars/amira.jpg', role: 'president' };
const bilel = { id: oid(2).toHexString(), firstName: 'Bilel', lastName: 'Trabelsi', avatar: '/uploads/avatars/default-avatar.jpg', role: 'member' };
const chams = { id: oid(3).toHexString(), firstName: 'Chams', lastName: 'Gharbi', avatar: '/uploads/avatars/chams.png', role: 'secretary' };
const nadia = { id: oid(4).toHexString(), firstName: 'Nadia', lastName: 'Outsider', avatar: '', role: 'member' };
const direct = oid(0xc1);
const group = oid(0xc2);

// The collections: a direct conversation and a group, read receipts, an image, a
// soft-deleted message; messages inserted out of conversation order, as the app does.
function collections() {
  const user = (u, i) => ({
    _id: oid(i), firstName: u.firstName, lastName: u.lastName, email: `${u.firstName.toLowerCase()}@istic.tn`,
    password: '$2a$10$hash', avatar: u.avatar, role: u.role, field: 'GLSI', year: 2,
    createdAt: new Date(T0 - 86400000), __v: 0,
  });
  const users = [user(amira, 1), user(bilel, 2), user(chams, 3), user(nadia, 4)];
  const conversations = [
    { _id: direct, participants: [oid(1), oid(2)], isGroup: false, unreadCounts: { [bilel.id]: 0 },
      createdAt: new Date(T0), updatedAt: new Date(T0 + 9000), __v: 0 },
    { _id: group, participants: [oid(1), oid(2), oid(3)], isGroup: true, groupName: 'Bureau 2024',
      unreadCounts: {}, createdAt: new Date(T0), updatedAt: new Date(T0 + 9000), __v: 0 },
  ];
  let n = 0;
  const message = (conv, sender, content, at, readers, extra = {}) => ({
    _id: oid(0xa00 + ++n), conversation: conv, sender: oid(sender), content, type: 'text',
    readBy: readers.map((r) => ({ user: oid(r), readAt: new Date(at + 1000) })),
    isDeleted: false, createdAt: new Date(at), updatedAt: new Date(at), __v: 0, ...extra,
  });
  const messages = [
    message(direct, 1, 'Salut Bilel', T0 + 1000, [1, 2]),
    message(group, 3, 'Réunion à 18h 🎙️', T0 + 1500, [3, 1, 2]),
    message(direct, 2, 'Salut! Ça va?', T0 + 2000, [2, 1]),
    message(group, 1, 'affiche.png', T0 + 2500, [1, 3], { type: 'image', mediaUrl: '/uploads/affiche.png', mediaType: 'image/png' }),
    message(direct, 1, 'oops', T0 + 3000, [1], { isDeleted: true, deletedAt: new Date(T0 + 3500) }),
    message(group, 2, 'Présent', T0 + 3500, [2]),
    message(direct, 2, 'À demain', T0 + 4000, [2]),
  ];
  return { users, conversations, messages };
}

function writeMongodump(dir) {
  const db = join(dir, 'radio-istic');  // mongodump --out dir: one folder per database
  mkdirSync(db, { recursive: true });
  for (const [name, docs] of Object.entries(collections())) {
    writeFileSync(join(db, `${name}.bson`), Buffer.concat(docs.map((d) => BSON.serialize(d))));
  }
}

function writeMongoexport(dir, relaxed) {
  mkdirSync(dir, { recursive: true });
  for (const [name, docs] of Object.entries(collections())) {
    writeFileSync(join(dir, `${name}.json`), docs.map((d) => EJSON.stringify(d, { relaxed })).join('\n') + '\n');
  }
}

const sources = [
  { name: 'mongodump (BSON)', write: writeMongodump, detected: /a mongodump of radio-istic/ },
  { name: 'mongoexport (relaxed Extended JSON)', write: (d) => writeMongoexport(d, true), detected: /a mongoexport of radio-istic/ },
  { name: 'mongoexport (canonical Extended JSON)', write: (d) => writeMongoexport(d, false), detected: /a mongoexport of radio-istic/ },
];

for (const source of sources) {
  test(`${source.name}: imported, then radio-istic's client gets each conversation's history in order`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-radio-import-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const src = join(dir, 'source');
    source.write(src);
    const data = join(dir, 'data');
    const r = spawnSync(parleyBin(), ['import', src, '--data-dir', data], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, source.detected);
    assert.match(r.stdout, /imported 2 conversation\(s\), 7 message\(s\)/);
    assert.match(r.stdout, /verified 2 conversation\(s\): 2 match the source/);

    const server = await startServer({ dataDir: data, env: { AUTH_MODE: 'token', JWT_SECRET, ADMIN_TOKEN } });
    t.after(() => server.stop());
    const as = (u) => ({ ...u, name: `${u.firstName} ${u.lastName}`, token: generateToken(u.id) });

    // Bilel opens the direct conversation: the app's history (websocket-server.js:113-136)
    // leaves out the deleted message and says `read` for what he read.
    const cb = await connect(server, as(bilel));
    cb.join(direct.toHexString());
    let h = await cb.next('conversation-history', (d) => d.conversationId === direct.toHexString());
    assert.deepEqual(h.messages.map((m) => m.content), ['Salut Bilel', 'Salut! Ça va?', 'À demain']);
    assert.deepEqual(h.messages.map((m) => m.id), [oid(0xa01), oid(0xa03), oid(0xa07)].map((o) => o.toHexString()));
    assert.deepEqual(h.messages.map((m) => m.senderName), ['Amira Ben Salah', 'Bilel Trabelsi', 'Bilel Trabelsi']);
    assert.deepEqual(h.messages.map((m) => m.senderId), [amira.id, bilel.id, bilel.id]);
    assert.deepEqual(h.messages.map((m) => Date.parse(m.timestamp)), [T0 + 1000, T0 + 2000, T0 + 4000]);
    assert.deepEqual(h.messages.map((m) => m.status), ['read', 'read', 'read']);
    cb.close();

    // Chams, in the group: in order, the image as the app stored it.
    const cc = await connect(server, as(chams));
    cc.join(group.toHexString());
    h = await cc.next('conversation-history', (d) => d.conversationId === group.toHexString());
    assert.deepEqual(h.messages.map((m) => m.content), ['Réunion à 18h 🎙️', 'affiche.png', 'Présent']);
    assert.deepEqual(h.messages.map((m) => m.type), ['text', 'image', 'text']);
    // The next message goes on from the imported history.
    const tempId = cc.sendMessage(amira.id, 'ok pour 18h', group.toHexString());
    const sent = await cc.next('message-sent', (d) => d.tempId === tempId);
    assert.equal(sent.seq, 4);
    cc.close();

    // lib/api.ts getConversation (routes/chat.js:54-95): oldest first, senders populated.
    const rest = await chatAPI(server, generateToken(amira.id)).getConversation(group.toHexString());
    assert.equal(rest.status, 200, rest.text);
    assert.deepEqual(rest.json.messages.map((m) => m.content), ['Réunion à 18h 🎙️', 'affiche.png', 'Présent', 'ok pour 18h']);
    assert.equal(rest.json.messages[0].sender.firstName, 'Chams');
    assert.equal(rest.json.messages[0].sender.avatar, chams.avatar);

    // Nadia is no participant: the imported participants keep her out (lines 101-104).
    const cn = await connect(server, as(nadia));
    cn.join(direct.toHexString());
    await cn.none('conversation-history');
    cn.close();
  });
}
