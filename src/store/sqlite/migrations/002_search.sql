-- Parley schema, version 2: full-text search over message content.
--
-- An external-content FTS5 table: the text lives only in `messages`, the index refers to
-- messages.rowid. Triggers keep it in step on insert, edit, soft-delete (content emptied)
-- and delete; every row is indexed with its current content, so a rebuild and the triggers
-- always agree. Searches also filter `deleted = 0`.

CREATE VIRTUAL TABLE messages_fts USING fts5 (
  content,
  content = 'messages',
  content_rowid = 'rowid',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;

-- Index the messages a version-1 database already holds.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
