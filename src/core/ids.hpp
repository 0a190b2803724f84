// Identifiers and the per-conversation sequence number. Ids are strings on the wire and in
// storage; `Seq` orders a conversation's messages, starting at 1, gapless among commits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley {

using ConversationId = std::string;
using UserId = std::string;
using MessageId = std::string;
using Seq = std::int64_t;

// A new globally unique message id: 48 bits of milliseconds then 80 random bits, in
// lowercase hex (32 chars), so ids sort roughly by creation time across servers.
MessageId new_message_id();

// A new random id for sessions and conversations created without one (16 hex chars).
std::string new_short_id();

// Conversation and user ids: 1..128 bytes of letters, digits and `-_.:@`, so they are safe
// in URLs, file names and logs. Seed apps use UUIDs, Mongo ids and short room codes.
bool is_valid_id(std::string_view id) noexcept;

}  // namespace parley
