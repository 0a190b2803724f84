#include "cli/import.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/storage_options.hpp"
#include "core/log.hpp"
#include "core/time.hpp"

namespace parley::cli {

using importers::Issue;
using importers::ParsedConversation;
namespace json = boost::json;

// --- Digests --------------------------------------------------------------------------------

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void add(std::string_view s) {
    EVP_DigestUpdate(ctx_.get(), s.data(), s.size());
    EVP_DigestUpdate(ctx_.get(), "", 1);  // the NUL between fields
  }
  void message(Seq seq, const UserId& sender, const std::string& text) {
    add(std::to_string(seq));
    add(sender);
    add(text);
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

Digest source_digest(const ParsedConversation& parsed) {
  std::vector<bool> deleted(parsed.whole.messages.size(), false);
  for (const auto& mark : parsed.marks) {
    if (mark.deleted && mark.index < deleted.size()) deleted[mark.index] = true;
  }
  Sha256 sha;
  const auto& msgs = parsed.whole.messages;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    // Parley keeps a soft-deleted message's seq and empties its text.
    sha.message(parsed.first_seq + static_cast<Seq>(i), msgs[i].sender.id,
                deleted[i] ? std::string() : msgs[i].content);
  }
  return {msgs.size(), sha.hex()};
}

Result<Digest> stored_digest(store::Connection& c, const ConversationId& id) {
  Sha256 sha;
  std::size_t n = 0;
  auto r = c.for_each_message(id, 0, [&](const StoredMessage& m) {
    sha.message(m.seq, m.sender.id, m.deleted ? std::string() : m.content);
    ++n;
    return true;
  });
  if (!r) return r.error();
  return Digest{n, sha.hex()};
}

// --- Storing --------------------------------------------------------------------------------

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
  // Users first: upserts, idempotent, and not part of the conversation (a failure below
  // leaves them, which changes nothing a client sees).
  for (const User& u : parsed.users) {
    if (auto r = c.upsert_user(u); !r) return r.error();
  }
  // Then everything of the conversation in one transaction (replace_conversation): messages
  // at their seqs (a pruned conversation's export keeps its first seq), their edited and
  // deleted states, read seqs. It is stored whole or not at all.
  w.first_seq = parsed.first_seq;
  w.states.clear();
  for (const auto& mark : parsed.marks)
    w.states.push_back({mark.index, mark.edited_at, mark.deleted});
  w.read_seqs.clear();
  // Reads are source positions; the stored seq adds the kept offset of a pruned export.
  for (const auto& [user, index] : parsed.reads)
    w.read_seqs.emplace_back(user, parsed.first_seq - 1 + index);
  auto stored = c.replace_conversation(w);
  if (!stored) return stored.error();
  return {};
}

Result<void> store_people(store::Connection& c, const ParsedConversation& parsed) {
  for (const User& u : parsed.users) {
    if (auto r = c.upsert_user(u); !r) return r.error();
  }
  for (const auto& [user, index] : parsed.reads) {
    // Reads are source positions; the stored seq adds the kept offset of a pruned export.
    if (auto r = c.mark_read(parsed.whole.id, user, parsed.first_seq - 1 + index); !r) {
      return r.error();
    }
  }
  return {};
}

namespace {

bool same_json(const std::string& a, const std::string& b) {
  if (a == b) return true;
  json::error_code ea, eb;
  const auto va = json::parse(a, ea), vb = json::parse(b, eb);
  return !ea && !eb && va == vb;
}

// What the store holds of a conversation, against what the source holds.
struct Assessment {
  bool exists = false;
  bool header_same = true;
  Digest digest;
  std::vector<StoredMessage> extras;  // stored messages the source does not have
};

Result<Assessment> assess(store::Connection& c, const ParsedConversation& parsed) {
  Assessment a;
  auto existing = c.get_conversation(parsed.whole.id);
  if (!existing) {
    if (existing.error() == Errc::not_found) return a;
    return existing.error();
  }
  a.exists = true;
  const auto& w = parsed.whole;
  if (parsed.header_known) {
    a.header_same = existing->title == w.title && existing->participants == w.participants &&
                    same_json(existing->settings, w.settings) && same_json(existing->meta, w.meta);
  }
  std::set<std::string_view> ids;
  for (const auto& m : w.messages) ids.insert(m.id);
  Sha256 sha;
  auto r = c.for_each_message(w.id, 0, [&](const StoredMessage& m) {
    sha.message(m.seq, m.sender.id, m.deleted ? std::string() : m.content);
    ++a.digest.count;
    if (!ids.contains(m.id)) a.extras.push_back(m);
    return true;
  });
  if (!r) return r.error();
  a.digest.sha256 = sha.hex();
  return a;
}

// --merge: the source's messages and the stored ones it lacks, ordered by time (the source's
// first on a tie); marks and reads follow their messages.
void merge_into(ParsedConversation& parsed, std::vector<StoredMessage>& extras) {
  struct Item {
    NewMessage m;
    std::optional<importers::MessageMark> mark;
    std::optional<std::size_t> source_index;
  };
  std::vector<Item> items;
  auto& msgs = parsed.whole.messages;
  std::map<std::size_t, importers::MessageMark> marks;
  for (const auto& mark : parsed.marks) marks[mark.index] = mark;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    Item it{std::move(msgs[i]), std::nullopt, i};
    if (auto f = marks.find(i); f != marks.end()) it.mark = f->second;
    items.push_back(std::move(it));
  }
  for (auto& s : extras) {
    NewMessage m;
    m.conversation = parsed.whole.id;
    m.sender = s.sender;
    m.kind = s.kind;
    m.content = s.content;
    m.meta = s.meta;
    m.client_id = s.client_id;
    m.id = s.id;
    m.created_at = s.created_at;
    Item it{std::move(m), std::nullopt, std::nullopt};
    if (s.deleted || s.edited_at) it.mark = importers::MessageMark{0, s.edited_at, s.deleted};
    items.push_back(std::move(it));
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const Item& a, const Item& b) { return a.m.created_at < b.m.created_at; });
  std::map<std::size_t, std::size_t> moved;  // source index -> merged index
  msgs.clear();
  parsed.marks.clear();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].mark) {
      items[i].mark->index = i;
      parsed.marks.push_back(*items[i].mark);
    }
    if (items[i].source_index) moved[*items[i].source_index] = i;
    msgs.push_back(std::move(items[i].m));
  }
  for (auto& [user, seq] : parsed.reads) {
    const auto f = moved.find(static_cast<std::size_t>(seq - 1));
    if (f != moved.end()) seq = static_cast<Seq>(f->second) + 1;
  }
  parsed.first_seq = 1;  // a merge renumbers: a pruned export's seqs are not kept
}

// What the import makes of the stored template set, given the source's (import.hpp).
struct TemplatePlan {
  std::vector<Template> next;  // the set to store
  std::size_t planned = 0, unchanged = 0, conflicts_left = 0, kept = 0;
  std::size_t dropped = 0;  // defaults the source does not have
  std::vector<std::string> conflict_lines;
  std::set<std::pair<std::string, std::string>> not_imported;  // (category, key) left or kept
};

TemplatePlan plan_templates(const std::vector<Template>& stored,
                            const std::vector<Template>& source, OnConflict on_conflict) {
  TemplatePlan p;
  const auto find = [](auto& set, const Template& t) {
    return std::ranges::find_if(
        set, [&](const Template& s) { return s.category == t.category && s.key == t.key; });
  };
  if (stored == store::default_templates()) {
    // Nothing a wizard made in Parley: the source's set is the wizard's, as the app shows it
    // (the app put the same defaults in its table when it was empty).
    p.next = source;
    for (const Template& t : source) {
      const auto it = find(stored, t);
      if (it != stored.end() && it->value == t.value) {
        ++p.unchanged;
      } else {
        ++p.planned;
      }
    }
    for (const Template& t : stored) p.dropped += find(source, t) == source.end() ? 1 : 0;
    return p;
  }
  p.next = stored;
  for (const Template& t : source) {
    const std::string name = "template " + t.category + (t.key.empty() ? "" : "/" + t.key);
    auto it = find(p.next, t);
    if (it != p.next.end()) {
      if (it->value == t.value) {
        ++p.unchanged;
        continue;
      }
      const std::string line = name + ": the store's value differs from the source's";
      switch (on_conflict) {
        case OnConflict::keep:
          ++p.conflicts_left;
          p.not_imported.emplace(t.category, t.key);
          p.conflict_lines.push_back(line + ": left alone (--replace to import it)");
          break;
        case OnConflict::replace:
          it->value = t.value;
          ++p.planned;
          p.conflict_lines.push_back(line + ": replaced (--replace)");
          break;
        case OnConflict::merge:
          // Parley's is the later edit: it was made after the app handed over.
          ++p.kept;
          p.not_imported.emplace(t.category, t.key);
          p.conflict_lines.push_back(line + ": the store's kept (--merge)");
          break;
      }
      continue;
    }
    // A set may not hold a top-level template (templates.json's older {name: value}, key
    // empty) and a category of the same name (TemplateStore::replace_templates).
    const bool clash = std::ranges::any_of(p.next, [&](const Template& s) {
      return s.category == t.category && (t.key.empty() || s.key.empty());
    });
    if (clash) {
      ++p.conflicts_left;
      p.not_imported.emplace(t.category, t.key);
      p.conflict_lines.push_back(
          name + (t.key.empty() ? ": the store holds a category named '"
                                : ": the store holds a top-level template named '") +
          t.category + "': left alone");
      continue;
    }
    // After the category's last template, as the app's POST /api/templates/item adds one.
    auto last = std::ranges::find_if(p.next.rbegin(), p.next.rend(), [&](const Template& s) {
                  return s.category == t.category;
                }).base();
    p.next.insert(last == p.next.begin() ? p.next.end() : last, t);
    ++p.planned;
  }
  return p;
}

// Writes WebWOz's templates (import.hpp says how they meet the stored ones) and reads them
// back. `c` null: a dry run without a store.
void import_templates(store::Connection* c, const std::vector<Template>& source,
                      const ImportOptions& options, ImportSummary& s) {
  s.templates_in_source = source.size();
  if (c == nullptr) {
    s.templates_planned = source.size();
    return;
  }
  const auto fail = [&](const std::string& what, const std::error_code& ec) {
    s.report.issues.push_back({"templates", 0, {}, "templates " + what + ": " + ec.message(), true});
    ++s.store_failures;
  };
  // A wizard's edit between the read and the write makes replace_templates_if say false:
  // read and plan again. Edits come a few a minute at most, so 5 rounds are plenty.
  for (int round = 0; round < 5; ++round) {
    auto stored = c->list_templates();
    if (!stored) return fail("not read from the store", stored.error());
    TemplatePlan p = plan_templates(*stored, source, options.on_conflict);
    s.templates_planned = p.planned;
    s.templates_unchanged = p.unchanged;
    s.template_conflicts_left = p.conflicts_left;
    s.templates_kept = p.kept;
    s.template_defaults_dropped = p.dropped;
    if (options.dry_run) {
      s.conflict_lines.insert(s.conflict_lines.end(), p.conflict_lines.begin(),
                              p.conflict_lines.end());
      return;
    }
    if (p.next != *stored) {
      auto done = c->replace_templates_if(*stored, p.next);
      if (!done) return fail("not stored", done.error());
      if (!*done) continue;
      s.templates_written = p.planned;
    }
    s.conflict_lines.insert(s.conflict_lines.end(), p.conflict_lines.begin(),
                            p.conflict_lines.end());
    if (!options.verify) return;
    auto got = c->list_templates();
    if (!got) return fail("not read back", got.error());
    s.templates_checked = true;
    std::size_t expected = 0;
    for (const Template& t : source) {
      if (p.not_imported.contains({t.category, t.key})) continue;
      ++expected;
      if (std::ranges::count(*got, t) == 1) ++s.templates_verified;
    }
    if (s.templates_verified != expected) {
      s.mismatches.push_back("templates: " + std::to_string(expected) +
                             " from the source, " + std::to_string(s.templates_verified) +
                             " read back with the source's value");
    }
    return;
  }
  fail("not stored", make_error_code(Errc::conflict));
}

}  // namespace

ImportSummary import_source(store::Connection* c, importers::Format format,
                            const std::filesystem::path& path, const ImportOptions& options) {
  ImportSummary s;
  if (options.strict) {
    importers::parse(
        format, path, [](ParsedConversation&&) { return true; }, s.report);
    if (s.report.fatal || s.report.skipped() > 0) {
      s.aborted = true;
      return s;
    }
    s.report = {};  // the second pass reports again
  }
  const bool write = c != nullptr && !options.dry_run;
  std::optional<std::vector<Template>> templates;
  importers::parse(
      format, path,
      [&](ParsedConversation&& parsed) {
        const std::size_t n = parsed.whole.messages.size();
        const ConversationId id = parsed.whole.id;
        const std::string at = parsed.file + (parsed.line ? ":" + std::to_string(parsed.line) : "");
        if (options.progress && stop_requested()) {
          s.stopped = true;
          s.stopped_before = id + " (" + at + ")";
          return false;
        }
        auto fail = [&](const std::string& what, const std::error_code& ec) {
          s.report.issues.push_back({parsed.file,
                                     parsed.line,
                                     {},
                                     "conversation " + id + " " + what + ": " + ec.message(),
                                     true});
          ++s.store_failures;
          if (options.strict) s.aborted = true;
          return !options.strict;
        };
        if (c == nullptr) {  // a dry run without a store: parse only
          ++s.planned_conversations;
          s.planned_messages += n;
          return true;
        }
        auto a = assess(*c, parsed);
        if (!a) return fail("not read from the store", a.error());
        std::string conflict;
        if (!a->extras.empty()) {
          conflict = id + " (" + at + "): the store holds " + std::to_string(a->extras.size()) +
                     " message(s) the source does not have";
          if (options.on_conflict == OnConflict::keep) {
            ++s.conflicts;
            ++s.conflicts_left;
            s.conflict_lines.push_back(conflict +
                                       ": left alone (--replace or --merge to import it)");
            return true;
          }
          if (options.on_conflict == OnConflict::merge) merge_into(parsed, a->extras);
        }
        const Digest expected = source_digest(parsed);
        // After a merge, the stored conversation may already be the merged one.
        if (a->exists && a->header_same && a->digest == expected) {
          ++s.unchanged;
          // Users and read state are raised again (idempotent): a crash after the messages
          // but before them is completed this way.
          if (write) {
            if (auto r = store_people(*c, parsed); !r) return fail("not stored", r.error());
          }
          if (options.progress) options.progress->add(static_cast<std::int64_t>(n));
          return true;
        }
        if (!conflict.empty()) {
          ++s.conflicts;
          s.conflict_lines.push_back(conflict + (options.on_conflict == OnConflict::replace
                                                     ? ": replaced (--replace)"
                                                     : ": merged by time (--merge)"));
        }
        ++s.planned_conversations;
        s.planned_messages += parsed.whole.messages.size();
        if (!write) return true;
        if (auto r = store_conversation(*c, parsed); !r) return fail("not stored", r.error());
        ++s.conversations_written;
        s.messages_written += parsed.whole.messages.size();
        if (options.progress) options.progress->add(static_cast<std::int64_t>(n));
        if (options.verify) {
          auto got = stored_digest(*c, id);
          if (!got) return fail("not read back", got.error());
          ++s.verified;
          if (!(*got == expected)) {
            s.mismatches.push_back(id + ": source " + std::to_string(expected.count) +
                                   " message(s) sha256 " + expected.sha256.substr(0, 16) +
                                   ", parley " + std::to_string(got->count) + " sha256 " +
                                   got->sha256.substr(0, 16));
          }
        }
        return true;
      },
      s.report, [&](std::vector<Template>&& set) { templates = std::move(set); });
  if (s.report.fatal) s.aborted = true;
  // After the conversations, when the whole source was read (not after a stop or a failure
  // --strict counts).
  if (templates && !templates->empty() && !s.aborted && !s.stopped) {
    import_templates(c, *templates, options, s);
  }
  return s;
}

namespace {

struct ImportArgs {
  StorageOptions storage = storage_options_from_env();
  std::vector<std::string> positional;  // [FORMAT] SOURCE
  bool dry_run = false;
  bool strict = false;
  bool replace = false;
  bool merge = false;
  bool no_verify = false;
};

// Exit statuses, the most serious first: 1 aborted, 4 verification mismatch, 5 conflicts
// left alone, 3 records skipped, 0 all imported.
int report_and_status(const ImportSummary& s, bool dry_run, bool strict) {
  for (const Issue& issue : s.report.issues) std::fprintf(stderr, "%s\n", to_string(issue).c_str());
  for (const auto& line : s.conflict_lines) std::printf("conflict: %s\n", line.c_str());
  for (const auto& line : s.mismatches) std::printf("verification FAILED: %s\n", line.c_str());
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
                strict ? " (--strict)" : "", strict ? "written" : "more written");
    return 1;
  }
  // The first sentence is the one scripts matched before conflicts existed: kept as it was.
  if (dry_run) {
    std::printf(
        "dry run: would import %zu conversation(s), %zu message(s); %zu record(s) skipped, "
        "%zu warning(s); %zu unchanged, %zu conflict(s) left alone\n",
        s.planned_conversations, s.planned_messages, skipped, warnings, s.unchanged,
        s.conflicts_left);
  } else {
    std::printf(
        "imported %zu conversation(s), %zu message(s); %zu record(s) skipped, %zu warning(s); "
        "%zu unchanged, %zu conflict(s) left alone\n",
        s.conversations_written, s.messages_written, skipped, warnings, s.unchanged,
        s.conflicts_left);
    if (s.verified > 0) {
      const auto template_mismatches = static_cast<std::size_t>(std::ranges::count_if(
          s.mismatches, [](const std::string& m) { return m.starts_with("templates: "); }));
      std::printf(
          "verified %zu conversation(s): %zu match the source (count and sha256 over "
          "seq, sender, text)\n",
          s.verified, s.verified + template_mismatches - s.mismatches.size());
    }
  }
  if (s.templates_in_source > 0) {
    std::printf(
        "templates: %s %zu of the source's %zu into the template store; %zu unchanged, %zu "
        "conflict(s) left alone, %zu kept the store's value (--merge); %zu of the store's "
        "untouched defaults the source lacks %s\n",
        dry_run ? "would import" : "imported", dry_run ? s.templates_planned : s.templates_written,
        s.templates_in_source, s.templates_unchanged, s.template_conflicts_left,
        s.templates_kept, s.template_defaults_dropped, dry_run ? "would go" : "gone");
    if (s.templates_checked) {
      std::printf("verified templates: %zu held with the source's value\n",
                  s.templates_verified);
    }
  }
  if (!s.mismatches.empty()) return 4;
  if (s.conflicts_left > 0 || s.template_conflicts_left > 0) return 5;
  return skipped > 0 ? 3 : 0;
}

std::optional<importers::Detected> resolve(const std::vector<std::string>& positional) {
  std::string why;
  if (positional.size() == 2) {
    auto format = importers::parse_format(positional[0]);
    if (!format) {
      spdlog::error(
          "unknown format '{}' (webwoz, conversations-json, jsonl, sqlite-tables, sqlite, "
          "postgres, mongodump, mongoexport)",
          positional[0]);
      return std::nullopt;
    }
    return importers::Detected{*format, "named on the command line"};
  }
  auto found = importers::detect(positional[0], why);
  if (!found) spdlog::error("{}: cannot tell what this is: {}", positional[0], why);
  return found;
}

int run_import(const ImportArgs& args) {
  log_to_stderr();
  if (args.replace && args.merge) {
    spdlog::error("--replace and --merge exclude each other");
    return 2;
  }
  const auto found = resolve(args.positional);
  if (!found) return 2;
  const std::string& source = args.positional.back();
  std::printf("source: %s: %s (format %s)\n",
              source.starts_with("postgres") ? "postgres URL" : source.c_str(),
              found->description.c_str(), std::string(format_name(found->format)).c_str());
  std::fflush(stdout);
  // A dry run reads the store too, to report conflicts; it writes nothing (and does not
  // create a SQLite store that is not there).
  std::unique_ptr<store::Connection> conn;
  std::error_code ec;
  if (!args.dry_run || !args.storage.database_url.empty() ||
      std::filesystem::exists(std::filesystem::path(args.storage.data_dir) / "parley.db", ec)) {
    conn = connect_or_log(open_storage(args.storage), "the store");
    if (!conn && !args.dry_run) return 1;
  }
  if (!conn) std::printf("dry run without a store: nothing to conflict with\n");
  ImportOptions options;
  options.dry_run = args.dry_run;
  options.strict = args.strict;
  options.verify = !args.no_verify;
  options.on_conflict = args.replace ? OnConflict::replace
                        : args.merge ? OnConflict::merge
                                     : OnConflict::keep;
  // The total is not known before the source is read: the progress shows the messages
  // written and the rate.
  std::optional<Progress> progress;
  if (!args.dry_run) {
    progress.emplace("import", "messages", 0);
    options.progress = &*progress;
    install_stop_handler();
  }
  const ImportSummary s = import_source(conn.get(), found->format, source, options);
  if (progress) progress->finish();
  return report_and_status(s, args.dry_run, args.strict);
}

constexpr const char* kImportsMarker = "parley:imports";

}  // namespace

bool import_on_start(const std::string& source, const StorageOptions& storage) {
  auto conn = connect_or_log(open_storage(storage), "the store");
  if (!conn) return false;
  // The marker: the reserved conversation parley:imports (participant parley:system only, so
  // no client can join it) lists each source imported, in its meta.
  json::object imports;
  auto marker = conn->get_conversation(kImportsMarker);
  if (marker) {
    json::error_code ec;
    auto meta = json::parse(marker->meta, ec);
    if (!ec && meta.is_object()) {
      if (const auto* i = meta.get_object().if_contains("imports"); i && i->is_object()) {
        imports = i->get_object();
      }
    }
  } else if (marker.error() != Errc::not_found) {
    spdlog::error("IMPORT_ON_START: cannot read the store: {}", marker.error().message());
    return false;
  }
  if (const auto* done = imports.if_contains(source)) {
    spdlog::info("IMPORT_ON_START: {} was imported before ({}): not imported again", source,
                 json::serialize(*done));
    return true;
  }
  std::string why;
  auto found = importers::detect(source, why);
  if (!found) {
    spdlog::error("IMPORT_ON_START: {}: cannot tell what this is: {}", source, why);
    return false;
  }
  spdlog::info("IMPORT_ON_START: importing {}: {}", source, found->description);
  ImportOptions options;
  const ImportSummary s = import_source(conn.get(), found->format, source, options);
  for (const Issue& issue : s.report.issues) spdlog::warn("IMPORT_ON_START: {}", to_string(issue));
  for (const auto& line : s.conflict_lines) spdlog::warn("IMPORT_ON_START: conflict: {}", line);
  for (const auto& line : s.mismatches) spdlog::error("IMPORT_ON_START: verification: {}", line);
  if (s.aborted || !s.mismatches.empty() || s.store_failures > 0) {
    spdlog::error("IMPORT_ON_START: the import of {} failed: the server does not start", source);
    return false;
  }
  imports[source] = json::object{{"at", now_ms()},
                                 {"conversations", s.report.conversations},
                                 {"messages", s.report.messages},
                                 {"skipped", s.report.skipped()}};
  store::WholeConversation w;
  w.id = kImportsMarker;
  w.title = "Imports";
  w.participants = {"parley:system"};
  w.meta = json::serialize(json::object{{"imports", std::move(imports)}});
  if (auto r = conn->replace_conversation(w); !r) {
    spdlog::error("IMPORT_ON_START: cannot note the import: {}", r.error().message());
    return false;
  }
  spdlog::info(
      "IMPORT_ON_START: imported {} conversation(s), {} message(s) ({} unchanged, {} "
      "record(s) skipped)",
      s.conversations_written, s.messages_written, s.unchanged, s.report.skipped());
  return true;
}

void add_import_command(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand(
      "import", "Import conversations from another app's storage: parley import [FORMAT] SOURCE");
  add_storage_options(*cmd, args->storage);
  cmd->add_option("source", args->positional,
                  "[FORMAT] SOURCE: a PostgreSQL URL, env:FILE (the app's .env), a SQLite file, "
                  "a mongodump or mongoexport directory or file, a WebWOz room directory, a JSON "
                  "or jsonl file. FORMAT (webwoz, conversations-json, jsonl, sqlite-tables, "
                  "sqlite, postgres, mongodump, mongoexport) overrules the detection")
      ->required()
      ->expected(1, 2);
  cmd->add_flag("--dry-run", args->dry_run,
                "Read the source and the store, report what would happen; write nothing");
  cmd->add_flag("--strict", args->strict, "Any bad record aborts the import before writing");
  cmd->add_flag("--replace", args->replace,
                "A conversation holding messages the source lacks is replaced by the source's");
  cmd->add_flag("--merge", args->merge,
                "A conversation holding messages the source lacks keeps both, ordered by time");
  cmd->add_flag("--no-verify", args->no_verify, "Skip reading each conversation back");
  cmd->callback([args, &registry] { registry.result = run_import(*args); });
}

}  // namespace parley::cli
