-- Parley schema, version 1: conversations, their messages, read state, members and users.
-- Times are INTEGER milliseconds since the Unix epoch (UTC). JSON columns hold compact text
-- that the server normalized with Boost.JSON; the CHECKs keep anything else out.

CREATE TABLE conversations (
  id            TEXT    NOT NULL PRIMARY KEY,
  title         TEXT    NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  message_count INTEGER NOT NULL DEFAULT 0,
  last_seq      INTEGER NOT NULL DEFAULT 0,
  is_active     INTEGER NOT NULL DEFAULT 1,
  participants  TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(participants) = 'array'),
  settings      TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(settings) = 'object'),
  meta          TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(meta) = 'object')
);

-- Lists: newest updated_at first, then id (both descending), resumed by keyset cursor.
CREATE INDEX conversations_by_updated ON conversations (updated_at, id);

-- `rowid` is the table's own integer key (the full-text index refers to it); `seq` is the
-- order within a conversation, 1, 2, 3... without gaps.
CREATE TABLE messages (
  rowid        INTEGER PRIMARY KEY,
  conversation TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,
  id           TEXT    NOT NULL UNIQUE,
  sender_id    TEXT    NOT NULL,
  sender_name  TEXT    NOT NULL DEFAULT '',
  sender_role  TEXT    NOT NULL DEFAULT '',
  kind         TEXT    NOT NULL DEFAULT 'text',
  content      TEXT    NOT NULL DEFAULT '',
  meta         TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(meta) = 'object'),
  created_at   INTEGER NOT NULL,
  edited_at    INTEGER,
  deleted      INTEGER NOT NULL DEFAULT 0,
  client_id    TEXT,
  UNIQUE (conversation, seq)
);

-- Idempotent sends: one message per (conversation, sender, client_id).
CREATE UNIQUE INDEX messages_by_client_id ON messages (conversation, sender_id, client_id)
  WHERE client_id IS NOT NULL;

-- Per (conversation, user): the highest seq read.
CREATE TABLE read_state (
  conversation TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id      TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  PRIMARY KEY (conversation, user_id)
) WITHOUT ROWID;

-- Who takes part in a conversation (joined, posted, or listed as a participant).
CREATE TABLE members (
  conversation TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id      TEXT    NOT NULL,
  joined_at    INTEGER NOT NULL,
  PRIMARY KEY (conversation, user_id)
) WITHOUT ROWID;

-- The inbox: a user's conversations.
CREATE INDEX members_by_user ON members (user_id, conversation);

CREATE TABLE users (
  id        TEXT NOT NULL PRIMARY KEY,
  name      TEXT NOT NULL DEFAULT '',
  avatar    TEXT NOT NULL DEFAULT '',
  role      TEXT NOT NULL DEFAULT '',
  last_seen INTEGER
) WITHOUT ROWID;
