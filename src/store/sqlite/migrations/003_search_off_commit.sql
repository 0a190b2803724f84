-- Parley schema, version 3: the full-text index is brought up to date after the commit,
-- not inside it.
--
-- Appends no longer touch messages_fts. The index covers exactly the rows whose rowid is at
-- most search_index.indexed_rowid (the watermark): every such row is indexed with its
-- current content, no row above it is in the index at all. Every change keeps that true:
--  * catching up (SqliteConnection::index_pending) indexes rows above the watermark in rowid
--    order and raises the watermark in the same transaction;
--  * an edit or delete of a row at or below the watermark updates the index (the triggers
--    below); one above it leaves the index alone, since the row is not in it — an FTS5
--    'delete' of a row that was never indexed would corrupt the index;
--  * after any delete the watermark is lowered to the highest rowid left when it is above
--    it, so the watermark never exceeds max(rowid) and a new row, which SQLite numbers
--    max(rowid) + 1, always lands above it.
-- Writes are serialized by SQLite's write lock, so each transaction starts from that state.

CREATE TABLE search_index (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_rowid INTEGER NOT NULL
);

-- Version 2 indexed every row in its triggers: the whole table is indexed already.
INSERT INTO search_index (id, indexed_rowid)
  VALUES (1, (SELECT coalesce(max(rowid), 0) FROM messages));

DROP TRIGGER messages_fts_after_insert;
DROP TRIGGER messages_fts_after_delete;
DROP TRIGGER messages_fts_after_update;

-- One trigger, so the index 'delete' runs before the watermark is lowered (the order of
-- separate triggers is not specified). The watermark is lowered after any delete, indexed
-- row or not, and never below a row that still exists, so later rows of the same DELETE
-- statement are still seen as indexed when they are.
CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content)
    SELECT 'delete', old.rowid, old.content
    WHERE old.rowid <= (SELECT indexed_rowid FROM search_index WHERE id = 1);
  UPDATE search_index SET indexed_rowid = (SELECT coalesce(max(rowid), 0) FROM messages)
  WHERE id = 1 AND indexed_rowid > (SELECT coalesce(max(rowid), 0) FROM messages);
END;

CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages
WHEN old.rowid <= (SELECT indexed_rowid FROM search_index WHERE id = 1) BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
  INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
END;
