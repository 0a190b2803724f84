#include "hub/sent_index.hpp"

namespace parley::hub {

std::optional<std::string> SentIndex::key_of(const ConversationId& conversation,
                                             const UserId& sender,
                                             const std::optional<std::string>& client_id) {
  if (!client_id) return std::nullopt;
  std::string key;
  key.reserve(conversation.size() + sender.size() + client_id->size() + 2);
  // Conversation and user ids never contain '\n' (core/ids.hpp) and the client id comes
  // last, so the key is unambiguous.
  key.append(conversation).push_back('\n');
  key.append(sender).push_back('\n');
  key.append(*client_id);
  return key;
}

void SentIndex::remember(const std::string& key, std::shared_ptr<const StoredMessage> m) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = map_.try_emplace(key, m);
  if (!fresh) {
    if (it->second->seq == 0 && it->second->id == m->id) it->second = std::move(m);
    return;
  }
  order_.push_back(key);
  while (order_.size() > capacity_) {
    map_.erase(order_.front());
    order_.pop_front();
  }
}

std::shared_ptr<const StoredMessage> SentIndex::find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

}  // namespace parley::hub
