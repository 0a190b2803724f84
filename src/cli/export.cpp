#include "cli/export.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

Result<std::vector<ConversationCount>> all_conversations(store::Connection& c) {
  // The list is ordered by updated_at; a running server may move a conversation between
  // pages, so they are collected in a map and sorted.
  std::map<ConversationId, std::int64_t> found;
  store::ListQuery q;
  q.limit = 500;
  for (;;) {
    auto page = c.list_conversations(q);
    if (!page) return page.error();
    for (const auto& s : page->conversations) {
      found[s.conversation.id] = s.conversation.message_count;
    }
    if (page->next_cursor.empty() || page->conversations.empty()) break;
    q.cursor = page->next_cursor;
  }
  std::vector<ConversationCount> out;
  out.reserve(found.size());
  for (auto& [id, messages] : found) out.push_back({id, messages});
  return out;
}

Result<std::vector<ConversationId>> all_conversation_ids(store::Connection& c) {
  auto all = all_conversations(c);
  if (!all) return all.error();
  std::vector<ConversationId> ids;
  ids.reserve(all->size());
  for (auto& conv : *all) ids.push_back(std::move(conv.id));
  return ids;
}

Result<ExportStats> export_store(store::Connection& c,
                                 const std::optional<ConversationId>& conversation,
                                 api::ExportFormat format, const api::Sink& sink,
                                 Progress* progress) {
  ExportStats stats;
  if (conversation) {
    if (auto r = api::export_conversation(c, *conversation, format, sink); !r) return r.error();
    stats.conversations = 1;
    return stats;
  }
  auto convs = all_conversations(c);
  if (!convs) return convs.error();
  if (format == api::ExportFormat::json) sink("[");
  for (const auto& [id, messages] : *convs) {
    if (progress && stop_requested()) {
      stats.stopped = true;
      stats.stopped_before = id;
      return stats;
    }
    const bool first = stats.conversations == 0;
    api::Sink each = sink;
    bool skipping_header = false;
    if (!first) {
      if (format == api::ExportFormat::json) sink(",\n");
      if (format == api::ExportFormat::markdown) sink("\n");
      if (format == api::ExportFormat::csv) {
        // One header row for the whole file: drop the later conversations' first line.
        skipping_header = true;
        each = [&sink, &skipping_header](std::string_view chunk) {
          if (skipping_header) {
            const auto eol = chunk.find('\n');
            if (eol == std::string_view::npos) return;
            chunk.remove_prefix(eol + 1);
            skipping_header = false;
          }
          if (!chunk.empty()) sink(chunk);
        };
      }
    }
    auto r = api::export_conversation(c, id, format, each);
    if (!r) {
      if (r.error() == Errc::not_found) continue;  // deleted meanwhile
      return r.error();
    }
    ++stats.conversations;
    if (progress) progress->add(messages);
  }
  if (format == api::ExportFormat::json) sink("]\n");
  return stats;
}

namespace {

struct ExportArgs {
  StorageOptions storage = storage_options_from_env();
  std::string conversation;
  std::string format;
  std::string out;
};

// Writes to stdout or to PATH.part, renamed to PATH once complete.
class Output {
 public:
  explicit Output(std::string path) : path_(std::move(path)) {}
  ~Output() {
    if (file_ && file_ != stdout) {
      std::fclose(file_);
      std::filesystem::remove(part(), ec_);
    }
  }
  bool open() {
    if (path_.empty() || path_ == "-") {
      file_ = stdout;
    } else {
      file_ = std::fopen(part().c_str(), "wb");
    }
    if (!file_) {
      spdlog::error("cannot write {}: {}", part(), std::strerror(errno));
      return false;
    }
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
    return true;
  }
  void write(std::string_view s) {
    if (failed_ || s.empty()) return;
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) failed_ = true;
  }
  bool commit() {
    if (std::fflush(file_) != 0) failed_ = true;
    if (file_ == stdout) return !failed_;
    if (std::fclose(file_) != 0) failed_ = true;
    file_ = nullptr;
    if (failed_) {
      spdlog::error("writing {} failed: {}", part(), std::strerror(errno));
      std::filesystem::remove(part(), ec_);
      return false;
    }
    std::filesystem::rename(part(), path_, ec_);
    if (ec_) {
      spdlog::error("cannot rename {} to {}: {}", part(), path_, ec_.message());
      return false;
    }
    return true;
  }
  bool failed() const { return failed_; }

 private:
  std::string part() const { return path_ + ".part"; }
  std::string path_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;
  std::error_code ec_;
};

int run_export(const ExportArgs& args) {
  log_to_stderr();
  auto format = api::parse_export_format(args.format);
  if (!format) {
    spdlog::error("unknown format '{}' (json, jsonl, markdown, csv)", args.format);
    return 2;
  }
  if (args.storage.database_url.empty() && std::getenv("DB_HOST") == nullptr &&
      !std::filesystem::exists(std::filesystem::path(args.storage.data_dir) / "parley.db")) {
    spdlog::error("no store at {}/parley.db (set --data-dir or --database-url)",
                  args.storage.data_dir);
    return 1;
  }
  auto conn = connect_or_log(open_storage(args.storage), "the store");
  if (!conn) return 1;
  Output out(args.out);
  if (!out.open()) return 1;
  std::optional<ConversationId> one;
  if (!args.conversation.empty()) one = args.conversation;
  // A progress line (and Ctrl-C between conversations) when writing a whole store to a file.
  std::optional<Progress> progress;
  if (!one && !args.out.empty() && args.out != "-") {
    auto convs = all_conversations(*conn);
    std::int64_t total = 0;
    if (convs) {
      for (const auto& conv : *convs) total += conv.messages;
    }
    progress.emplace("export", "messages", total);
    install_stop_handler();
  }
  auto stats = export_store(
      *conn, one, *format, [&out](std::string_view s) { out.write(s); },
      progress ? &*progress : nullptr);
  if (progress) progress->finish();
  if (stats && stats->stopped) {
    spdlog::warn(
        "interrupted: stopped before conversation {} after {} conversation(s); {} not "
        "written",
        stats->stopped_before, stats->conversations, args.out);
    return kStoppedExit;  // Output's destructor removes the .part file
  }
  if (!stats) {
    if (stats.error() == Errc::not_found) {
      spdlog::error("no conversation {}", args.conversation);
    } else {
      spdlog::error("export failed: {}", stats.error().message());
    }
    return 1;
  }
  if (!out.commit()) return 1;
  spdlog::info("exported {} conversation(s)", stats->conversations);
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Write conversations as json, jsonl, markdown or csv");
  add_storage_options(*cmd, args->storage);
  cmd->add_option("--conversation", args->conversation, "Only this conversation");
  cmd->add_option("--format", args->format, "json | jsonl | markdown | csv")->required();
  cmd->add_option("--out", args->out,
                  "Output file (written whole, then renamed); stdout if absent");
  cmd->callback([args, &registry] { registry.result = run_export(*args); });
}

}  // namespace parley::cli
