// `parley export`: one conversation or the whole store, streamed through api/export.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/export.hpp"
#include "core/error.hpp"
#include "store/store.hpp"

namespace parley::cli {

class Progress;

struct ExportStats {
  std::int64_t conversations = 0;
  bool stopped = false;           // Ctrl-C (stop_requested) between two conversations
  ConversationId stopped_before;  // the first conversation not written
};

struct ConversationCount {
  ConversationId id;
  std::int64_t messages = 0;  // message_count when listed
};
// Every conversation of the store with its message count, sorted by id.
[[nodiscard]] Result<std::vector<ConversationCount>> all_conversations(store::Connection& c);
// The same, ids only.
[[nodiscard]] Result<std::vector<ConversationId>> all_conversation_ids(store::Connection& c);

// Writes `conversation` (or every conversation, by id) to `sink` in `format`. All
// conversations: jsonl and markdown are the per-conversation exports one after another, csv
// has one header row, json is an array of the per-conversation objects.
// With `progress`, every conversation written counts its messages there, and a stop request
// (progress.hpp) ends the export between two conversations (stats.stopped).
[[nodiscard]] Result<ExportStats> export_store(store::Connection& c,
                                               const std::optional<ConversationId>& conversation,
                                               api::ExportFormat format, const api::Sink& sink,
                                               Progress* progress = nullptr);

}  // namespace parley::cli
