#include "cli/cleanup.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>

#include "cli/commands.hpp"
#include "cli/export.hpp"
#include "cli/progress.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

void apply_settings_policy(const std::string& settings_json, std::optional<std::int64_t>& keep_last,
                           std::optional<TimeMs>& max_age) {
  const store::RetentionPolicy own = store::policy_from_settings(settings_json);
  if (own.keep_last) keep_last = keep_last ? std::min(*keep_last, *own.keep_last) : *own.keep_last;
  if (own.max_age) max_age = max_age ? std::min(*max_age, *own.max_age) : *own.max_age;
}

Result<CleanupSummary> cleanup(store::Connection& c, const CleanupOptions& options, TimeMs now) {
  std::vector<ConversationId> ids;
  if (options.conversation) {
    ids.push_back(*options.conversation);
  } else {
    auto all = all_conversation_ids(c);
    if (!all) return all.error();
    ids = std::move(*all);
  }
  CleanupSummary summary;
  for (const auto& id : ids) {
    if (options.progress && stop_requested()) {
      summary.stopped = true;
      return summary;
    }
    if (options.progress) options.progress->add(1);
    std::optional<std::int64_t> keep_last = options.keep_last;
    std::optional<TimeMs> max_age = options.older_than;
    if (options.from_settings) {
      auto conv = c.get_conversation(id);
      if (!conv) {
        if (conv.error() == Errc::not_found && !options.conversation) continue;
        return conv.error();
      }
      apply_settings_policy(conv->settings, keep_last, max_age);
    }
    ++summary.conversations;
    if (!keep_last && !max_age) continue;
    std::optional<TimeMs> older_than;
    if (max_age) older_than = now - *max_age;
    auto removed = c.prune(id, keep_last, older_than, options.dry_run);
    if (!removed) {
      if (removed.error() == Errc::not_found && !options.conversation) continue;
      return removed.error();
    }
    if (*removed > 0) {
      ++summary.pruned_conversations;
      summary.messages += *removed;
      std::printf("%s: %s %lld message(s)\n", id.c_str(),
                  options.dry_run ? "would remove" : "removed", static_cast<long long>(*removed));
    }
  }
  return summary;
}

namespace {

struct CleanupArgs {
  StorageOptions storage = storage_options_from_env();
  std::optional<std::int64_t> keep_last;
  std::string older_than;
  std::string conversation;
  bool from_settings = false;
  bool dry_run = false;
};

int run_cleanup(const CleanupArgs& args) {
  log_to_stderr();
  CleanupOptions options;
  options.keep_last = args.keep_last;
  options.from_settings = args.from_settings;
  options.dry_run = args.dry_run;
  if (!args.older_than.empty()) {
    options.older_than = parse_duration(args.older_than);
    if (!options.older_than) {
      spdlog::error("--older-than {}: expected a duration like 30d, 12h, 90m, 1d12h",
                    args.older_than);
      return 2;
    }
  }
  if (options.keep_last && *options.keep_last < 0) {
    spdlog::error("--keep-last must be 0 or more");
    return 2;
  }
  if (!options.keep_last && !options.older_than && !options.from_settings) {
    spdlog::error("cleanup needs --keep-last N, --older-than DURATION or --from-settings");
    return 2;
  }
  if (!args.conversation.empty()) options.conversation = args.conversation;
  auto conn = connect_or_log(open_storage(args.storage), "the store");
  if (!conn) return 1;
  std::optional<Progress> progress;
  if (!options.conversation) {
    auto count = conn->count_conversations();
    progress.emplace("cleanup", "conversations", count ? *count : 0);
    options.progress = &*progress;
    install_stop_handler();
  }
  auto summary = cleanup(*conn, options, now_ms());
  if (progress) progress->finish();
  if (!summary) {
    if (summary.error() == Errc::not_found) {
      spdlog::error("no conversation {}", args.conversation);
    } else {
      spdlog::error("cleanup failed: {}", summary.error().message());
    }
    return 1;
  }
  if (summary->stopped) {
    std::printf(
        "interrupted after %lld conversation(s): %s %lld message(s) from %lld of them; "
        "run it again for the rest\n",
        static_cast<long long>(summary->conversations), args.dry_run ? "would remove" : "removed",
        static_cast<long long>(summary->messages),
        static_cast<long long>(summary->pruned_conversations));
    return kStoppedExit;
  }
  std::printf("%s %lld message(s) from %lld of %lld conversation(s)\n",
              args.dry_run ? "dry run: would remove" : "removed",
              static_cast<long long>(summary->messages),
              static_cast<long long>(summary->pruned_conversations),
              static_cast<long long>(summary->conversations));
  return 0;
}

}  // namespace

void add_cleanup_command(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<CleanupArgs>();
  auto* cmd = app.add_subcommand(
      "cleanup", "Retention: remove the oldest messages (seqs of the rest do not change)");
  add_storage_options(*cmd, args->storage);
  cmd->add_option("--keep-last", args->keep_last,
                  "Keep only the last N messages of each conversation");
  cmd->add_option("--older-than", args->older_than,
                  "Remove messages older than this (30d, 12h, 90m, 2w, 1d12h)");
  cmd->add_option("--conversation", args->conversation, "Only this conversation");
  cmd->add_flag("--from-settings", args->from_settings,
                "Also apply each conversation's settings.keep_last / settings.max_age");
  cmd->add_flag("--dry-run", args->dry_run, "Report what would be removed; remove nothing");
  cmd->callback([args, &registry] { registry.result = run_cleanup(*args); });
}

}  // namespace parley::cli
