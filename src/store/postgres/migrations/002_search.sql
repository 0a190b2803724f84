-- Parley schema, version 2: full-text search over message content.
--
-- A stored generated tsvector with a GIN index. The 'simple' configuration lowercases and
-- neither stems nor drops stop words; ASCII punctuation is turned into spaces first, so words
-- are cut where the other backends cut them (runs of ASCII letters and digits and of
-- non-ASCII characters) and an e-mail address or a path is several words, not one token.
-- Queries are prefix matches of every word the user typed (to_tsquery 'word':* & ...).

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
  to_tsvector('simple'::regconfig,
              translate(content, E'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
                        '                                '))
) STORED;

CREATE INDEX messages_search ON messages USING GIN (search);
