// The messages most recently accepted under a client id, by (conversation, sender,
// client_id): what lets the hub answer a resend with the message it already holds while the
// database cannot be asked (an outage), so a pending ack's id is the id the message is stored
// under and nothing is fanned out twice (issue 14: 156 acks under load carried ids that never
// became real). Bounded: the oldest entries go first; a resend usually follows its original
// within seconds (its ack was lost to a disconnect). Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/model.hpp"

namespace parley::hub {

class SentIndex {
 public:
  explicit SentIndex(std::size_t capacity = 16384) : capacity_(capacity) {}

  // The key of `msg`, or nullopt when it has no client id.
  static std::optional<std::string> key_of(const ConversationId& conversation,
                                           const UserId& sender,
                                           const std::optional<std::string>& client_id);

  // Remembers `m` (stored, or pending with seq 0) under `key`. A stored message replaces a
  // pending one with the same id; otherwise the first message under a key stays.
  void remember(const std::string& key, std::shared_ptr<const StoredMessage> m);
  std::shared_ptr<const StoredMessage> find(const std::string& key) const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;  // guards map_ and order_
  std::unordered_map<std::string, std::shared_ptr<const StoredMessage>> map_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

}  // namespace parley::hub
