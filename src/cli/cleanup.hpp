// `parley cleanup`: retention. Removes the oldest messages of conversations (Connection::prune).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/retention.hpp"
#include "store/store.hpp"

namespace parley::cli {

using store::parse_duration;  // store/retention.hpp

class Progress;

struct CleanupOptions {
  std::optional<std::int64_t> keep_last;
  std::optional<TimeMs> older_than;  // a duration: messages created before now - older_than
  std::optional<ConversationId> conversation;
  bool from_settings = false;  // also apply each conversation's settings.keep_last/max_age
  bool dry_run = false;
  // Counts the conversations done; with it, a stop request (progress.hpp) ends the cleanup
  // between two conversations (CleanupSummary::stopped).
  Progress* progress = nullptr;
};

struct CleanupSummary {
  std::int64_t conversations = 0;  // visited
  std::int64_t pruned_conversations = 0;
  std::int64_t messages = 0;  // removed (or that would be)
  bool stopped = false;
};

// The rules of one conversation: the options, tightened by its settings when asked.
void apply_settings_policy(const std::string& settings_json, std::optional<std::int64_t>& keep_last,
                           std::optional<TimeMs>& max_age);

[[nodiscard]] Result<CleanupSummary> cleanup(store::Connection& c, const CleanupOptions& options,
                                             TimeMs now);

}  // namespace parley::cli
