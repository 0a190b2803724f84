// `parley migrate --from URL --to URL`: copies a whole store between backends, conversation by
// conversation, then verifies counts and a checksum per conversation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace parley::cli {

class Progress;

struct MigrateSummary {
  std::int64_t conversations = 0;
  std::int64_t copied = 0;   // conversations written
  std::int64_t skipped = 0;  // already identical in the destination (a resumed run)
  std::int64_t messages = 0;
  std::int64_t users = 0;
  std::vector<std::string> mismatches;  // after verification; empty when all match
  bool stopped = false;  // Ctrl-C between two conversations: not verified, run again to resume
};

// FNV-1a 64 of the conversation's jsonl export and its header (id, title, times, counts,
// participants, settings, meta), as hex. Equal on two stores when the copy is exact.
[[nodiscard]] Result<std::string> conversation_checksum(store::Connection& c,
                                                        const ConversationId& id);

// Copies every conversation of `from` into `to` (ids, seqs, timestamps, edits, deletes,
// client_ids, members with joined_at, read state), then every user (with last_seen), and
// verifies all of it. A conversation whose checksum already matches in `to` is not copied
// again (its members and read state are), so an interrupted run resumes.
// With `progress`, the messages of each conversation done count there, and a stop request
// (progress.hpp) ends the copy between two conversations (summary.stopped).
[[nodiscard]] Result<MigrateSummary> migrate(store::Connection& from, store::Connection& to,
                                             bool verbose, Progress* progress = nullptr);

}  // namespace parley::cli
