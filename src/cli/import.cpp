#include "cli/import.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

using importers::Issue;
using importers::ParsedConversation;

Result<void> store_conversation(store::Connection& c, ParsedConversation& parsed) {
  store::WholeConversation& w = parsed.whole;
  if (!parsed.header_known) {
    // jsonl carries messages only: keep what the store knows about the conversation.
    auto existing = c.get_conversation(w.id);
    if (existing) {
      w.title = existing->title;
      w.settings = existing->settings;
      w.meta = existing->meta;
      w.participants = existing->participants;
      w.created_at = existing->created_at;
      w.updated_at = std::max(w.updated_at, existing->updated_at);
    } else if (existing.error() != Errc::not_found) {
      return existing.error();
    }
  }
  // Seqs that start above 1 (a pruned conversation's export) are kept: placeholders take the
  // first seqs and are pruned right after.
  const auto real = static_cast<std::int64_t>(w.messages.size());
  const std::size_t gap = parsed.first_seq > 1 ? static_cast<std::size_t>(parsed.first_seq - 1) : 0;
  if (gap > 0) {
    std::vector<NewMessage> placeholders(gap);
    for (std::size_t i = 0; i < gap; ++i) {
      NewMessage& p = placeholders[i];
      p.conversation = w.id;
      p.sender = {"parley-import", "", "system"};
      p.kind = "system";
      p.created_at = w.messages.empty() ? w.created_at : w.messages.front().created_at;
      p.id = "import-gap-" + w.id + "-" + std::to_string(i + 1);
    }
    w.messages.insert(w.messages.begin(), std::make_move_iterator(placeholders.begin()),
                      std::make_move_iterator(placeholders.end()));
    for (auto& mark : parsed.marks) mark.index += gap;
  }
  auto stored = c.replace_conversation(w);
  if (!stored) return stored.error();
  // Edited and deleted states, which a whole conversation cannot carry. A failure here leaves
  // the messages stored but not yet marked; importing again completes it.
  for (const auto& mark : parsed.marks) {
    const Seq seq = static_cast<Seq>(mark.index) + 1;
    const NewMessage& m = w.messages[mark.index];
    if (mark.deleted) {
      auto r = c.delete_message(w.id, seq, std::nullopt, mark.edited_at.value_or(m.created_at));
      if (!r) return r.error();
    } else if (mark.edited_at) {
      auto r = c.edit_message(w.id, seq, m.content, std::nullopt, *mark.edited_at);
      if (!r) return r.error();
    }
  }
  if (gap > 0) {
    auto pruned = c.prune(w.id, real, std::nullopt, false);
    if (!pruned) return pruned.error();
  }
  return {};
}

ImportSummary import_source(store::Connection* c, importers::Format format,
                            const std::filesystem::path& path, const ImportOptions& options) {
  ImportSummary s;
  if (options.strict || options.dry_run || c == nullptr) {
    importers::parse(
        format, path, [](ParsedConversation&&) { return true; }, s.report);
    if (s.report.fatal || (options.strict && s.report.skipped() > 0)) s.aborted = true;
    if (s.aborted || options.dry_run || c == nullptr) return s;
    s.report = {};  // the second pass reports again
  }
  importers::parse(
      format, path,
      [&](ParsedConversation&& parsed) {
        const std::size_t n = parsed.whole.messages.size();
        if (options.progress && stop_requested()) {
          s.stopped = true;
          s.stopped_before =
              parsed.whole.id + " (" + parsed.file + ":" + std::to_string(parsed.line) + ")";
          return false;
        }
        if (auto r = store_conversation(*c, parsed); !r) {
          s.report.issues.push_back(
              {parsed.file,
               parsed.line,
               {},
               "conversation " + parsed.whole.id + " not stored: " + r.error().message(),
               true});
          ++s.store_failures;
          if (options.strict) {
            s.aborted = true;
            return false;
          }
          return true;
        }
        ++s.conversations_written;
        s.messages_written += n;
        if (options.progress) options.progress->add(static_cast<std::int64_t>(n));
        return true;
      },
      s.report);
  if (s.report.fatal) s.aborted = true;
  return s;
}

namespace {

struct ImportArgs {
  StorageOptions storage = storage_options_from_env();
  std::string format;
  std::string path;
  bool dry_run = false;
  bool strict = false;
};

int run_import(const ImportArgs& args) {
  log_to_stderr();
  auto format = importers::parse_format(args.format);
  if (!format) {
    spdlog::error("unknown format '{}' (webwoz, conversations-json, jsonl, sqlite-tables)",
                  args.format);
    return 2;
  }
  std::unique_ptr<store::Connection> conn;
  if (!args.dry_run) {
    conn = connect_or_log(open_storage(args.storage), "the store");
    if (!conn) return 1;
  }
  ImportOptions options{args.dry_run, args.strict};
  // The total is not known before the source is read (--strict reads it twice, but the
  // first pass is not counted): the progress shows the messages written and the rate.
  std::optional<Progress> progress;
  if (!args.dry_run) {
    progress.emplace("import", "messages", 0);
    options.progress = &*progress;
    install_stop_handler();
  }
  const ImportSummary s = import_source(conn.get(), *format, args.path, options);
  if (progress) progress->finish();
  for (const Issue& issue : s.report.issues) std::fprintf(stderr, "%s\n", to_string(issue).c_str());
  if (s.stopped) {
    std::printf(
        "interrupted: stopped before conversation %s; imported %zu conversation(s), "
        "%zu message(s), each whole; importing the same source again completes it\n",
        s.stopped_before.c_str(), s.conversations_written, s.messages_written);
    return kStoppedExit;
  }
  const std::size_t skipped = s.report.skipped();
  const std::size_t warnings = s.report.issues.size() - skipped;
  if (s.aborted) {
    std::printf("import aborted: %zu problem(s)%s; nothing %s\n", skipped,
                args.strict ? " (--strict)" : "", args.strict ? "written" : "more written");
    return 1;
  }
  if (args.dry_run) {
    std::printf(
        "dry run: would import %zu conversation(s), %zu message(s); %zu record(s) "
        "skipped, %zu warning(s)\n",
        s.report.conversations, s.report.messages, skipped, warnings);
  } else {
    std::printf(
        "imported %zu conversation(s), %zu message(s); %zu record(s) skipped, %zu "
        "warning(s)\n",
        s.conversations_written, s.messages_written, skipped, warnings);
  }
  return skipped > 0 ? 3 : 0;
}

}  // namespace

void add_import_command(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand("import", "Import conversations from another app's storage");
  add_storage_options(*cmd, args->storage);
  cmd->add_option("format", args->format, "webwoz | conversations-json | jsonl | sqlite-tables")
      ->required();
  cmd->add_option("path", args->path, "Source: a directory (webwoz) or a file")->required();
  cmd->add_flag("--dry-run", args->dry_run, "Read and report; write nothing");
  cmd->add_flag("--strict", args->strict, "Any bad record aborts the import before writing");
  cmd->callback([args, &registry] { registry.result = run_import(*args); });
}

}  // namespace parley::cli
