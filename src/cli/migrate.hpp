// `parley migrate --from URL --to URL`: copies a whole store between backends, conversation by
// conversation, then verifies counts and a checksum per conversation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace parley::cli {

struct MigrateSummary {
  std::int64_t conversations = 0;
  std::int64_t copied = 0;   // conversations written
  std::int64_t skipped = 0;  // already identical in the destination (a resumed run)
  std::int64_t messages = 0;
  std::int64_t users = 0;
  std::vector<std::string> mismatches;  // after verification; empty when all match
};

// FNV-1a 64 of the conversation's jsonl export and its header (id, title, times, counts,
// participants, settings, meta), as hex. Equal on two stores when the copy is exact.
[[nodiscard]] Result<std::string> conversation_checksum(store::Connection& c,
                                                        const ConversationId& id);

// Copies every conversation of `from` into `to` (ids, seqs, timestamps, edits, deletes,
// client_ids, read state and users of the people who posted or take part). A conversation
// whose checksum already matches in `to` is skipped, so an interrupted run resumes.
[[nodiscard]] Result<MigrateSummary> migrate(store::Connection& from, store::Connection& to,
                                             bool verbose);

}  // namespace parley::cli
