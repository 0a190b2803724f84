-- Parley schema, version 5: the change log (store.hpp, ConversationStore::changes_after).
--
-- A server caches the recent messages of its live rooms and follows appends itself; what it
-- cannot follow is another process replacing, deleting or pruning a conversation (`parley
-- import`, `parley cleanup`). Those write here, in their own transaction, and the server
-- polls for numbers above the last it saw (hub/change_follower.hpp). One row per
-- conversation (its latest change), so the table is as big as the number of conversations
-- ever changed, not the number of changes. No foreign key: a deleted conversation's row
-- is what tells the servers it went.
--
-- Numbers are max + 1 in the writing transaction: SQLite has one writer at a time, so they
-- rise in commit order.
CREATE TABLE conversation_changes (
  conversation TEXT PRIMARY KEY,
  number       INTEGER NOT NULL
);
CREATE INDEX conversation_changes_by_number ON conversation_changes (number);
