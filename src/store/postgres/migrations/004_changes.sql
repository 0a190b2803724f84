-- Parley schema, version 4: the change log (store.hpp, ConversationStore::changes_after).
--
-- A server caches the recent messages of its live rooms and follows appends itself; what it
-- cannot follow is another process replacing, deleting or pruning a conversation (`parley
-- import`, `parley cleanup`, another server's REST PUT or retention). Those write here, in
-- their own transaction, and every server polls for numbers above the last it saw
-- (hub/change_follower.hpp). One row per conversation (its latest change), so the table is
-- as big as the number of conversations ever changed. No foreign key: a deleted
-- conversation's row is what tells the servers it went.
--
-- Numbers come from the one row of change_clock, incremented by the changing transaction:
-- its row lock is held to the commit, so numbers rise in commit order and a poller that has
-- seen N never finds a smaller number committed later (a sequence would not promise that).
-- The lock is taken after the conversation's own row, as the last statement before COMMIT.
CREATE TABLE change_clock (
  one    BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
  number BIGINT NOT NULL
);
INSERT INTO change_clock (one, number) VALUES (true, 0);

CREATE TABLE conversation_changes (
  conversation TEXT PRIMARY KEY,
  number       BIGINT NOT NULL
);
CREATE INDEX conversation_changes_by_number ON conversation_changes (number);
