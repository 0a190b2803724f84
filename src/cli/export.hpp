// `parley export`: one conversation or the whole store, streamed through api/export.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/export.hpp"
#include "core/error.hpp"
#include "store/store.hpp"

namespace parley::cli {

struct ExportStats {
  std::int64_t conversations = 0;
};

// Every conversation id of the store, sorted (ids only: memory stays small).
[[nodiscard]] Result<std::vector<ConversationId>> all_conversation_ids(store::Connection& c);

// Writes `conversation` (or every conversation, by id) to `sink` in `format`. All
// conversations: jsonl and markdown are the per-conversation exports one after another, csv
// has one header row, json is an array of the per-conversation objects.
[[nodiscard]] Result<ExportStats> export_store(store::Connection& c,
                                               const std::optional<ConversationId>& conversation,
                                               api::ExportFormat format, const api::Sink& sink);

}  // namespace parley::cli
