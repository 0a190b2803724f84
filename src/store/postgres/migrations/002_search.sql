-- Parley schema, version 2: full-text search over message content.
--
-- `search` holds each message's words as a tsvector (with positions) and a GIN index serves
-- queries. The server computes the vector when it writes a message (pg_store.cpp,
-- search_vector): words are runs of ASCII letters and digits and of non-ASCII characters,
-- ASCII-lowercased, exactly as the memory and SQLite backends cut them. Building it there is
-- several times cheaper than to_tsvector's parser on the hot insert path. Queries are
-- prefix matches of every word typed ('word':* & ...), ranked by how often they occur.
ALTER TABLE messages ADD COLUMN search tsvector NOT NULL DEFAULT '';

-- Messages a version-1 database already holds: the built-in parser, with ASCII punctuation
-- turned into spaces first, comes close to the server's rules (it also folds non-ASCII case).
UPDATE messages
   SET search = to_tsvector('simple'::regconfig,
                            translate(content, E'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
                                      '                                '))
 WHERE content <> '' AND NOT deleted;

CREATE INDEX messages_search ON messages USING GIN (search);
