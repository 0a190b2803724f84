#include "hub/session.hpp"

#include <utility>

namespace parley::hub {

std::atomic<std::uint64_t> Session::next_id_{1};
thread_local DeliveryScope* DeliveryScope::current_ = nullptr;

Session::Session() : id_(next_id_.fetch_add(1, std::memory_order_relaxed)) {}

const User& Session::nobody() noexcept {
  static const User none;
  return none;
}

bool Session::note_join(const ConversationId& conversation, protocol::WireFormat format,
                        std::size_t max, bool& fresh) {
  std::lock_guard lock(joined_mu_);
  fresh = !joined_.contains(conversation);
  if (fresh && joined_.size() >= max) return false;
  joined_[conversation] = format;
  return true;
}

void Session::forget_join(const ConversationId& conversation) {
  std::lock_guard lock(joined_mu_);
  joined_.erase(conversation);
}

bool Session::is_joined(const ConversationId& conversation) {
  std::lock_guard lock(joined_mu_);
  return joined_.contains(conversation);
}

std::unordered_map<ConversationId, protocol::WireFormat> Session::take_joined() {
  std::lock_guard lock(joined_mu_);
  return std::exchange(joined_, {});
}

}  // namespace parley::hub
