-- Parley schema, version 3: WebWOz's canned wizard replies (docs/socketio.md, "WebWOz").
--
-- The app keeps them as one JSON object {category: {key: value}} (and, in its older flat
-- style, top-level {key: value} strings); a row is one entry, `key` '' for a top-level one.
-- `position` keeps the order the app's object had, which is the order the wizard's phases
-- are shown in. Every change rewrites the set in one transaction (Connection::
-- replace_templates): sets are tens of rows, changed by hand.
CREATE TABLE templates (
  position BIGINT PRIMARY KEY,
  category TEXT NOT NULL,
  key      TEXT NOT NULL,
  value    TEXT NOT NULL,
  UNIQUE (category, key)
);

-- The app's defaults (backend/app.py _load_templates), which it writes on its first start;
-- deleting them all later leaves the set empty, as the app's file storage does.
INSERT INTO templates (position, category, key, value) VALUES
  (1, 'General', 'greeting', 'Hello! How can I help you today?'),
  (2, 'General', 'understanding', 'I understand. Let me look into that for you.'),
  (3, 'General', 'no_info', 'I''m sorry, I don''t have information about that.'),
  (4, 'General', 'goodbye', 'Thank you for chatting with me. Goodbye!');
