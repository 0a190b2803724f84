// The data model of PROTOCOL.md as plain value types: conversations, messages, users, read
// state. These cross every boundary (store, hub, protocol, api); no driver or wire type does.
// JSON-valued fields (`meta`, `settings`) are carried as serialized JSON text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.hpp"
#include "core/time.hpp"

namespace parley {

struct Sender {
  UserId id;
  std::string name;  // display name; may be empty
  std::string role;  // free text: participant, wizard, bot, user, assistant, system...

  friend bool operator==(const Sender&, const Sender&) = default;
};

// A message as a client submits it; the store assigns seq (and id/created_at when empty).
struct NewMessage {
  ConversationId conversation;
  Sender sender;
  std::string kind = "text";  // text | image | file | system
  std::string content;
  std::string meta = "{}";  // a JSON object, serialized
  std::optional<std::string> client_id;
  MessageId id;           // empty: the store makes one
  TimeMs created_at = 0;  // 0: the store stamps the commit time
};

struct StoredMessage {
  MessageId id;
  ConversationId conversation;
  Seq seq = 0;
  Sender sender;
  std::string kind = "text";
  std::string content;
  std::string meta = "{}";
  TimeMs created_at = 0;
  std::optional<TimeMs> edited_at;
  bool deleted = false;
  std::optional<std::string> client_id;

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

// The outcome of one append: the stored message, and whether it was already there (a
// repeated client_id), in which case it must not be broadcast again.
struct Appended {
  StoredMessage message;
  bool duplicate = false;
};

struct Conversation {
  ConversationId id;
  std::string title;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::int64_t message_count = 0;  // messages stored (deleted ones included)
  Seq last_seq = 0;
  bool is_active = true;
  std::vector<UserId> participants;  // empty: an open room
  std::string settings = "{}";       // JSON object
  std::string meta = "{}";           // JSON object

  friend bool operator==(const Conversation&, const Conversation&) = default;
};

struct User {
  UserId id;
  std::string name;
  std::string avatar;
  std::string role;
  std::optional<TimeMs> last_seen;

  friend bool operator==(const User&, const User&) = default;
};

// One of WebWOz's canned wizard replies (docs/socketio.md, "WebWOz"): `value` under `key`
// in `category`. An empty `key` is a top-level entry of the app's older flat style: the
// string `value` directly under the name `category`.
struct Template {
  std::string category;
  std::string key;
  std::string value;

  friend bool operator==(const Template&, const Template&) = default;
};

}  // namespace parley
