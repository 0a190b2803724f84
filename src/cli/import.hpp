// `parley import FORMAT PATH`: reads a source with importers.hpp and stores each conversation
// with Connection::replace_conversation (one transaction per conversation).
//
// Idempotence: a conversation is replaced as a whole by what the source holds, with message
// ids kept from the source or derived from it, so importing the same source twice leaves
// the store as after the first time. Messages posted to an imported conversation since the
// last import are replaced too: the source wins.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include "cli/importers.hpp"
#include "store/store.hpp"

namespace parley::cli {

class Progress;

struct ImportOptions {
  bool dry_run = false;  // parse and report only; the store is not touched
  bool strict = false;   // any skipped record: nothing is written, exit 1
  // Counts the messages written; with it, a stop request (progress.hpp) ends the import
  // between two conversations (ImportSummary::stopped).
  Progress* progress = nullptr;
};

struct ImportSummary {
  importers::ParseReport report;
  std::size_t conversations_written = 0;
  std::size_t messages_written = 0;
  std::size_t store_failures = 0;  // conversations the store refused (reported in issues)
  bool aborted = false;            // strict mode found a problem, or the source was unreadable
  bool stopped = false;            // Ctrl-C: the conversations before stopped_before are stored
  std::string stopped_before;      // "ID (FILE:LINE)": the first conversation not stored
};

// `c` may be null for a dry run.
ImportSummary import_source(store::Connection* c, importers::Format format,
                            const std::filesystem::path& path, const ImportOptions& options);

// Stores one parsed conversation: replace, then the edit/delete marks.
[[nodiscard]] Result<void> store_conversation(store::Connection& c,
                                              importers::ParsedConversation& parsed);

}  // namespace parley::cli
