-- Parley schema, version 1: conversations, their messages, read state, members and users.
-- The same logical schema as the SQLite backend. Times are BIGINT milliseconds since the Unix
-- epoch (UTC). JSON columns use `json`, which keeps the compact text the server normalized
-- with Boost.JSON byte for byte (jsonb would reorder keys). Ids compare bytewise
-- (COLLATE "C"), as the other backends order them.

CREATE TABLE conversations (
  id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  title         TEXT    NOT NULL DEFAULT '',
  created_at    BIGINT  NOT NULL,
  updated_at    BIGINT  NOT NULL,
  message_count BIGINT  NOT NULL DEFAULT 0,
  last_seq      BIGINT  NOT NULL DEFAULT 0,
  is_active     BOOLEAN NOT NULL DEFAULT TRUE,
  participants  json    NOT NULL DEFAULT '[]',
  settings      json    NOT NULL DEFAULT '{}',
  meta          json    NOT NULL DEFAULT '{}'
);

-- Lists: newest updated_at first, then id (both descending), resumed by keyset cursor.
CREATE INDEX conversations_by_updated ON conversations (updated_at DESC, id DESC);

-- `seq` is the order within a conversation, 1, 2, 3... without gaps; the writer that holds
-- the conversation row (SELECT ... FOR UPDATE) assigns it, so several servers writing one
-- conversation still produce one sequence. No foreign key to conversations: every writer
-- already holds that row, and delete_conversation removes the messages itself; a per-row
-- key check would only slow the hot insert down.
CREATE TABLE messages (
  conversation TEXT COLLATE "C" NOT NULL,
  seq          BIGINT  NOT NULL,
  id           TEXT COLLATE "C" NOT NULL,
  sender_id    TEXT COLLATE "C" NOT NULL,
  sender_name  TEXT    NOT NULL DEFAULT '',
  sender_role  TEXT    NOT NULL DEFAULT '',
  kind         TEXT    NOT NULL DEFAULT 'text',
  content      TEXT    NOT NULL DEFAULT '',
  meta         json    NOT NULL DEFAULT '{}',
  created_at   BIGINT  NOT NULL,
  edited_at    BIGINT,
  deleted      BOOLEAN NOT NULL DEFAULT FALSE,
  client_id    TEXT COLLATE "C",
  PRIMARY KEY (conversation, seq),
  UNIQUE (id)
);

-- Idempotent sends: one message per (conversation, sender, client_id).
CREATE UNIQUE INDEX messages_by_client_id ON messages (conversation, sender_id, client_id)
  WHERE client_id IS NOT NULL;

-- Per (conversation, user): the highest seq read.
CREATE TABLE read_state (
  conversation TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id      TEXT COLLATE "C" NOT NULL,
  seq          BIGINT NOT NULL,
  PRIMARY KEY (conversation, user_id)
);

-- Who takes part in a conversation (joined, posted, or listed as a participant).
CREATE TABLE members (
  conversation TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id      TEXT COLLATE "C" NOT NULL,
  joined_at    BIGINT NOT NULL,
  PRIMARY KEY (conversation, user_id)
);

-- The inbox: a user's conversations.
CREATE INDEX members_by_user ON members (user_id, conversation);

CREATE TABLE users (
  id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  name      TEXT NOT NULL DEFAULT '',
  avatar    TEXT NOT NULL DEFAULT '',
  role      TEXT NOT NULL DEFAULT '',
  last_seen BIGINT
);
