#include "cli/cleanup.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/export.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

namespace json = boost::json;

std::optional<TimeMs> parse_duration(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  TimeMs total = 0;
  while (!text.empty()) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || n < 0 || p == text.data() + text.size()) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(p - text.data()));
    TimeMs unit = 0;
    switch (text.front()) {
      case 's':
        unit = 1000;
        break;
      case 'm':
        unit = 60'000;
        break;
      case 'h':
        unit = 3'600'000;
        break;
      case 'd':
        unit = 86'400'000;
        break;
      case 'w':
        unit = 7 * 86'400'000LL;
        break;
      default:
        return std::nullopt;
    }
    text.remove_prefix(1);
    if (n > (std::int64_t{1} << 50) / unit) return std::nullopt;
    total += n * unit;
  }
  return total;
}

void apply_settings_policy(const std::string& settings_json, std::optional<std::int64_t>& keep_last,
                           std::optional<TimeMs>& max_age) {
  boost::system::error_code ec;
  const json::value v = json::parse(settings_json, ec);
  if (ec || !v.is_object()) return;
  const auto& o = v.get_object();
  if (const auto* k = o.if_contains("keep_last"); k && k->is_int64() && k->get_int64() >= 0) {
    keep_last = keep_last ? std::min(*keep_last, k->get_int64()) : k->get_int64();
  }
  if (const auto* a = o.if_contains("max_age")) {
    std::optional<TimeMs> age;
    if (a->is_int64() && a->get_int64() >= 0) age = a->get_int64() * 1000;  // seconds
    if (a->is_string()) age = parse_duration(std::string_view(a->get_string()));
    if (age) max_age = max_age ? std::min(*max_age, *age) : *age;
  }
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
  auto summary = cleanup(*conn, options, now_ms());
  if (!summary) {
    if (summary.error() == Errc::not_found) {
      spdlog::error("no conversation {}", args.conversation);
    } else {
      spdlog::error("cleanup failed: {}", summary.error().message());
    }
    return 1;
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
