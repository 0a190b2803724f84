#include "hub/presence.hpp"

#include <algorithm>
#include <map>

namespace parley::hub {

bool Presence::connected(const SessionPtr& session, std::shared_ptr<const User> user) {
  std::lock_guard lock(mu_);
  if (auto it = local_.find(user->id); it != local_.end()) {
    it->second.others.push_back(session);
    return false;
  }
  const std::string_view key = user->id;  // lives as long as the entry's user
  local_.emplace(key, Local{std::move(user), session, {}});
  return true;
}

bool Presence::disconnected(const SessionPtr& session, const UserId& user) {
  std::lock_guard lock(mu_);
  auto it = local_.find(user);
  if (it == local_.end()) return false;
  auto& local = it->second;
  const auto gone = [&](const std::weak_ptr<Session>& w) {
    auto s = w.lock();
    return !s || s == session;
  };
  std::erase_if(local.others, gone);
  if (gone(local.first)) {
    local.first.reset();
    if (!local.others.empty()) {
      local.first = std::move(local.others.back());
      local.others.pop_back();
    }
  }
  if (!local.first.expired()) return false;
  local_.erase(it);
  return true;
}

void Presence::subscribe(const SessionPtr& session, protocol::WireFormat format) {
  std::lock_guard lock(mu_);
  subscribers_[session->id()] = Subscriber{session, format};
}

void Presence::unsubscribe(std::uint64_t session) {
  std::lock_guard lock(mu_);
  subscribers_.erase(session);
}

std::vector<std::pair<SessionPtr, protocol::WireFormat>> Presence::subscribers() {
  std::vector<std::pair<SessionPtr, protocol::WireFormat>> out;
  std::lock_guard lock(mu_);
  out.reserve(subscribers_.size());
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (auto s = it->second.session.lock()) {
      out.emplace_back(std::move(s), it->second.format);
      ++it;
    } else {
      it = subscribers_.erase(it);
    }
  }
  return out;
}

std::vector<SessionPtr> Presence::sessions_of(const UserId& user) const {
  std::vector<SessionPtr> out;
  std::lock_guard lock(mu_);
  if (auto it = local_.find(user); it != local_.end()) {
    if (auto s = it->second.first.lock()) out.push_back(std::move(s));
    for (const auto& w : it->second.others) {
      if (auto s = w.lock()) out.push_back(std::move(s));
    }
  }
  return out;
}

bool Presence::is_online(const UserId& user) const {
  std::lock_guard lock(mu_);
  return local_.contains(user) || remote_.contains(user);
}

bool Presence::online_here(const UserId& user) const {
  std::lock_guard lock(mu_);
  return local_.contains(user);
}

bool Presence::online_elsewhere(const UserId& user) const {
  std::lock_guard lock(mu_);
  return remote_.contains(user);
}

std::size_t Presence::online_users() const {
  std::lock_guard lock(mu_);
  return local_.size();
}

std::vector<User> Presence::online_list() const {
  std::map<UserId, User> users;  // sorted by id: a stable order for clients and tests
  std::lock_guard lock(mu_);
  for (const auto& [id, remote] : remote_) users[id] = remote.user;
  for (const auto& [id, local] : local_) users[local.user->id] = *local.user;  // this server knows best
  std::vector<User> out;
  out.reserve(users.size());
  for (auto& [id, user] : users) out.push_back(std::move(user));
  return out;
}

bool Presence::remote_status(const User& user, bool online) {
  std::lock_guard lock(mu_);
  auto it = remote_.find(user.id);
  if (online) {
    if (it == remote_.end()) {
      remote_.emplace(user.id, Remote{user, 1});
      return true;
    }
    ++it->second.servers;
    return false;
  }
  if (it == remote_.end()) return false;
  if (--it->second.servers > 0) return false;
  remote_.erase(it);
  return true;
}

bool Presence::remote_room(const ConversationId& conversation, const UserId& user, bool online) {
  std::lock_guard lock(mu_);
  auto& users = remote_rooms_[conversation];
  int& n = users[user];
  n += online ? 1 : -1;
  const bool changed = online ? n == 1 : n <= 0;
  if (n <= 0) users.erase(user);
  if (users.empty()) remote_rooms_.erase(conversation);
  return changed;
}

std::vector<UserId> Presence::remote_room_users(const ConversationId& conversation) const {
  std::vector<UserId> users;
  std::lock_guard lock(mu_);
  if (auto it = remote_rooms_.find(conversation); it != remote_rooms_.end()) {
    for (const auto& [user, n] : it->second) users.push_back(user);
  }
  return users;
}

bool Presence::remote_in_room(const ConversationId& conversation, const UserId& user) const {
  std::lock_guard lock(mu_);
  auto it = remote_rooms_.find(conversation);
  return it != remote_rooms_.end() && it->second.contains(user);
}

}  // namespace parley::hub
