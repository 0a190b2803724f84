#include "cli/migrate.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <optional>

#include "api/export.hpp"
#include "api/json.hpp"
#include "cli/commands.hpp"
#include "cli/export.hpp"
#include "cli/import.hpp"
#include "cli/progress.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"

namespace parley::cli {

namespace json = boost::json;

namespace {

struct Fnv {
  std::uint64_t h = 14695981039346656037ULL;
  void add(std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ULL;
    }
  }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

}  // namespace

Result<std::string> conversation_checksum(store::Connection& c, const ConversationId& id) {
  auto conv = c.get_conversation(id);
  if (!conv) return conv.error();
  Fnv f;
  f.add(json::serialize(api::conversation_to_json(*conv)));
  auto r = api::export_conversation(c, id, api::ExportFormat::jsonl,
                                    [&f](std::string_view s) { f.add(s); });
  if (!r) return r.error();
  return f.hex();
}

namespace {

// Copies one conversation: messages (with placeholders for a pruned prefix, removed again so
// seqs stay), edit/delete marks and is_active.
Result<std::int64_t> copy_conversation(store::Connection& from, store::Connection& to,
                                       const Conversation& conv) {
  importers::ParsedConversation parsed;
  store::WholeConversation& w = parsed.whole;
  w.id = conv.id;
  w.title = conv.title;
  w.settings = conv.settings;
  w.meta = conv.meta;
  w.participants = conv.participants;
  w.created_at = conv.created_at;
  w.updated_at = conv.updated_at;
  Seq expected = 1;
  std::int64_t placeholders = 0;
  auto r = from.for_each_message(conv.id, 0, [&](const StoredMessage& m) {
    for (; expected < m.seq; ++expected, ++placeholders) {
      NewMessage gap;
      gap.conversation = conv.id;
      gap.sender = {"parley-migrate", "", "system"};
      gap.kind = "system";
      gap.created_at = m.created_at;
      gap.id = "migrate-gap-" + conv.id + "-" + std::to_string(expected);
      w.messages.push_back(std::move(gap));
    }
    NewMessage n;
    n.conversation = conv.id;
    n.sender = m.sender;
    n.kind = m.kind;
    n.content = m.content;
    n.meta = m.meta;
    n.client_id = m.client_id;
    n.id = m.id;
    n.created_at = m.created_at;
    if (m.edited_at || m.deleted)
      parsed.marks.push_back({w.messages.size(), m.edited_at, m.deleted});
    w.messages.push_back(std::move(n));
    ++expected;
    return true;
  });
  if (!r) return r.error();
  // Messages after the last stored one may have been pruned too: nothing to keep there.
  const auto real = static_cast<std::int64_t>(w.messages.size()) - placeholders;
  if (auto ok = store_conversation(to, parsed); !ok) return ok.error();
  if (placeholders > 0) {
    auto pruned = to.prune(conv.id, real, std::nullopt, false);
    if (!pruned) return pruned.error();
  }
  if (!conv.is_active) {
    store::ConversationPatch patch;
    patch.is_active = false;
    if (auto ok = to.update_conversation(conv.id, patch, conv.updated_at); !ok) return ok.error();
  }
  return real;
}

// Members (with their joined_at) or read state of one conversation. Idempotent: membership
// is added once, read state only rises. Members go first (replace_conversation would make
// the participants members as of now; an existing membership keeps its joined_at), read
// state after the messages (it never goes past last_seq).
Result<void> copy_members(store::Connection& to, const ConversationId& id,
                          const std::vector<store::MemberState>& states, bool read_state) {
  for (const auto& m : states) {
    if (!read_state && m.joined_at) {
      if (auto ok = to.add_member(id, m.user, *m.joined_at); !ok) return ok.error();
    }
    if (read_state && m.read_seq > 0) {
      if (auto ok = to.mark_read(id, m.user, m.read_seq); !ok) return ok.error();
    }
  }
  return {};
}

std::string describe(const User& u) {
  return u.id + " (" + u.name + ", " + u.avatar + ", " + u.role + ", last_seen " +
         (u.last_seen ? std::to_string(*u.last_seen) : "none") + ")";
}

}  // namespace

Result<MigrateSummary> migrate(store::Connection& from, store::Connection& to, bool verbose,
                               Progress* progress) {
  MigrateSummary s;
  auto ids = all_conversation_ids(from);
  if (!ids) return ids.error();
  for (const auto& id : *ids) {
    if (progress && stop_requested()) {
      s.stopped = true;
      return s;
    }
    auto conv = from.get_conversation(id);
    if (!conv) {
      if (conv.error() == Errc::not_found) continue;
      return conv.error();
    }
    ++s.conversations;
    auto src_sum = conversation_checksum(from, id);
    if (!src_sum) return src_sum.error();
    auto states = from.member_states(id);
    if (!states) return states.error();
    auto dst_sum = conversation_checksum(to, id);
    Result<void> ok;
    if (dst_sum && *dst_sum == *src_sum) {
      ++s.skipped;  // copied by an earlier run (its members and read state may not have been)
      ok = copy_members(to, id, *states, false);
    } else {
      auto made = to.ensure_conversation(id, conv->created_at);
      if (made) ok = copy_members(to, id, *states, false);
      auto copied = made && ok ? copy_conversation(from, to, *conv)
                               : Result<std::int64_t>(made ? ok.error() : made.error());
      if (!copied) {
        spdlog::error("migrate: conversation {}: {}", id, copied.error().message());
        return copied.error();
      }
      ++s.copied;
      s.messages += *copied;
    }
    if (ok) ok = copy_members(to, id, *states, true);
    if (!ok) {
      spdlog::error("migrate: members and read state of {}: {}", id, ok.error().message());
      return ok.error();
    }
    if (progress) progress->add(conv->message_count);
    if (verbose && !progress && s.conversations % 100 == 0) {
      spdlog::info("migrate: {}/{} conversations, {} messages", s.conversations, ids->size(),
                   s.messages);
    }
  }
  // Every user, also those who never posted (names, avatars, roles, last_seen).
  std::optional<boost::system::error_code> user_error;
  auto listed = from.for_each_user([&](const User& u) {
    if (auto ok = to.upsert_user(u); !ok) {
      user_error = ok.error();
      spdlog::error("migrate: user {}: {}", u.id, ok.error().message());
      return false;
    }
    ++s.users;
    return true;
  });
  if (!listed) return listed.error();
  if (user_error) return *user_error;
  // Verification: every source conversation has its twin, by counts and checksum.
  for (const auto& id : *ids) {
    auto a = from.get_conversation(id);
    if (!a) continue;
    auto b = to.get_conversation(id);
    if (!b) {
      s.mismatches.push_back(id + ": missing in the destination");
      continue;
    }
    if (a->message_count != b->message_count || a->last_seq != b->last_seq) {
      s.mismatches.push_back(id + ": message_count/last_seq " + std::to_string(a->message_count) +
                             "/" + std::to_string(a->last_seq) + " vs " +
                             std::to_string(b->message_count) + "/" + std::to_string(b->last_seq));
      continue;
    }
    auto sa = conversation_checksum(from, id);
    auto sb = conversation_checksum(to, id);
    if (!sa || !sb || *sa != *sb) {
      s.mismatches.push_back(id + ": checksum " + (sa ? *sa : "?") + " vs " + (sb ? *sb : "?"));
    }
    auto ma = from.member_states(id);
    auto mb = to.member_states(id);
    if (!ma || !mb || *ma != *mb) {
      s.mismatches.push_back(id + ": members or read state differ");
    }
  }
  // Every source user is in the destination, field for field.
  auto checked = from.for_each_user([&](const User& u) {
    auto v = to.get_user(u.id);
    if (!v) {
      s.mismatches.push_back("user " + u.id + ": missing in the destination");
    } else if (*v != u) {
      s.mismatches.push_back("user " + describe(u) + " vs " + describe(*v));
    }
    return s.mismatches.size() < 1000;
  });
  if (!checked) return checked.error();
  return s;
}

namespace {

struct MigrateArgs {
  std::string from;
  std::string to;
};

int run_migrate(const MigrateArgs& args) {
  log_to_stderr();
  if (args.from == args.to) {
    spdlog::error("--from and --to are the same store");
    return 2;
  }
  auto from_db = open_storage_url(args.from);
  auto to_db = open_storage_url(args.to);
  auto from = connect_or_log(from_db, "the source");
  if (!from) return 1;
  auto to = connect_or_log(to_db, "the destination");
  if (!to) return 1;
  std::int64_t total = 0;
  if (auto convs = all_conversations(*from)) {
    for (const auto& conv : *convs) total += conv.messages;
  }
  Progress progress("migrate", "messages", total);
  install_stop_handler();
  auto s = migrate(*from, *to, true, &progress);
  progress.finish();
  if (!s) {
    spdlog::error("migrate failed: {} (run it again to resume)", s.error().message());
    return 1;
  }
  if (s->stopped) {
    std::printf(
        "interrupted after %lld conversation(s) (%lld copied, %lld already there), "
        "%lld message(s); each conversation is whole; run the same command again to "
        "resume\n",
        static_cast<long long>(s->conversations), static_cast<long long>(s->copied),
        static_cast<long long>(s->skipped), static_cast<long long>(s->messages));
    return kStoppedExit;
  }
  for (const auto& m : s->mismatches) std::fprintf(stderr, "mismatch: %s\n", m.c_str());
  std::printf(
      "migrated %lld conversation(s) (%lld copied, %lld already there), %lld message(s), "
      "%lld user(s); verification: %s\n",
      static_cast<long long>(s->conversations), static_cast<long long>(s->copied),
      static_cast<long long>(s->skipped), static_cast<long long>(s->messages),
      static_cast<long long>(s->users),
      s->mismatches.empty() ? "every conversation matches"
                            : (std::to_string(s->mismatches.size()) + " mismatch(es)").c_str());
  return s->mismatches.empty() ? 0 : 1;
}

}  // namespace

void add_migrate_command(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<MigrateArgs>();
  auto* cmd = app.add_subcommand("migrate", "Copy a whole store between backends and verify it");
  cmd->add_option("--from", args->from, "Source: sqlite:PATH or postgresql://...")->required();
  cmd->add_option("--to", args->to, "Destination: sqlite:PATH or postgresql://...")->required();
  cmd->callback([args, &registry] { registry.result = run_migrate(*args); });
}

}  // namespace parley::cli
