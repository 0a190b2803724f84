// `parley import FORMAT PATH`: reads a source with importers.hpp and stores each conversation
// with Connection::replace_conversation (one transaction per conversation).
//
// Idempotence: message ids are kept from the source or derived from it, so importing the same
// source twice finds every conversation unchanged (same messages, same checksum) and writes
// nothing. A conversation that changed in the source is replaced as a whole.
//
// What Parley accepted is never destroyed by default: a stored conversation holding messages
// the source does not have (posted since, or never imported) is a conflict, reported (in the
// dry run too) and left alone unless the operator chooses --replace (the source wins) or
// --merge (both kept, ordered by time).
//
// Verification: after writing, each conversation is read back; its message count and a
// SHA-256 over (seq, sender id, text) in order must equal the source's, else exit 4.
//
// WebWOz's templates (its `templates` table, or the templates.json beside its room files) go
// into the template store (store::TemplateStore), where the wizard front end reads them. A
// store that holds just the app's four defaults (no wizard touched it) takes the source's
// set as it is; otherwise each source template the store lacks is added after its
// category's last one, one it holds with the same value is unchanged, and one it holds with
// another value (edited in Parley) is a conflict like a conversation's: left alone, or the
// source's value with --replace, the store's with --merge. Templates only the store has
// stay. The set is written with replace_templates_if, so a wizard's edit
// in a running server between the import's read and write is not lost (the import reads
// again). Verification: every source template not left in conflict is read back with the
// source's value.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cli/importers.hpp"
#include "cli/storage_options.hpp"
#include "store/store.hpp"

namespace parley::cli {

class Progress;

enum class OnConflict { keep, replace, merge };

struct ImportOptions {
  bool dry_run = false;  // parse and report only; the store is only read (conflicts)
  OnConflict on_conflict = OnConflict::keep;
  bool verify = true;
  bool strict = false;  // any skipped record: nothing is written, exit 1
  // Counts the messages written; with it, a stop request (progress.hpp) ends the import
  // between two conversations (ImportSummary::stopped).
  Progress* progress = nullptr;
};

struct ImportSummary {
  importers::ParseReport report;
  std::size_t conversations_written = 0;
  std::size_t messages_written = 0;
  std::size_t store_failures = 0;         // conversations the store refused (reported in issues)
  std::size_t planned_conversations = 0;  // to write (a dry run writes none of them)
  std::size_t planned_messages = 0;
  std::size_t unchanged = 0;                // already stored as the source holds them
  std::size_t conflicts = 0;                // hold messages the source does not have
  std::size_t conflicts_left = 0;           // of which left alone (OnConflict::keep)
  std::vector<std::string> conflict_lines;  // "ID: N stored message(s) not in the source"
  std::size_t verified = 0;
  std::vector<std::string> mismatches;  // "ID: source N sha, parley M sha"
  // WebWOz's templates (its `templates` table or templates.json), written into the template
  // store.
  std::size_t templates_in_source = 0;
  std::size_t templates_planned = 0;  // to add, or to change (--replace, or over the defaults)
  std::size_t templates_written = 0;
  std::size_t templates_unchanged = 0;     // already stored with the source's value
  std::size_t template_conflicts_left = 0;  // the store's value differs: left alone
  std::size_t templates_kept = 0;           // the store's value differs: kept by --merge
  std::size_t template_defaults_dropped = 0;  // the untouched defaults the source lacks
  std::size_t templates_verified = 0;       // read back with the source's value
  bool templates_checked = false;           // read back after writing
  bool aborted = false;                 // strict mode found a problem, or the source was unreadable
  bool stopped = false;        // Ctrl-C: the conversations before stopped_before are stored
  std::string stopped_before;  // "ID (FILE:LINE)": the first conversation not stored
};

// `c` may be null for a dry run (no conflict check then).
ImportSummary import_source(store::Connection* c, importers::Format format,
                            const std::filesystem::path& path, const ImportOptions& options);

// Count and checksum of a conversation's messages, as the verification compares them.
struct Digest {
  std::size_t count = 0;
  std::string
      sha256;  // hex, over "seq NUL sender NUL text NUL" per message (text empty if deleted)
  friend bool operator==(const Digest&, const Digest&) = default;
};
Digest source_digest(const importers::ParsedConversation& parsed);
Result<Digest> stored_digest(store::Connection& c, const ConversationId& id);

// IMPORT_ON_START: imports SOURCE into the store once (a marker in the reserved conversation
// `parley:imports` remembers it), before the server serves. Returns false when the import
// failed (the server does not start).
bool import_on_start(const std::string& source, const StorageOptions& storage);

// Stores one parsed conversation: its users (upserts), then the conversation with its
// messages, edited and deleted states and read seqs in one transaction
// (replace_conversation): a failure leaves the stored conversation as it was.
[[nodiscard]] Result<void> store_conversation(store::Connection& c,
                                              importers::ParsedConversation& parsed);
// Users and read seqs only (idempotent: upserts, and read seqs only rise).
[[nodiscard]] Result<void> store_people(store::Connection& c,
                                        const importers::ParsedConversation& parsed);

}  // namespace parley::cli
