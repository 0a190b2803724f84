#include "hub/archive.hpp"

#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/time.hpp"
#include "hub/hub.hpp"

namespace parley::hub {

bool Archive::restricted(const Viewer& viewer) const {
  return enforce_access_ && viewer && !Hub::is_admin(*viewer);
}

bool Archive::may_see(const Viewer& viewer, const Conversation& conversation) const {
  return !restricted(viewer) || Hub::admits(conversation.participants, *viewer);
}

void Archive::check_visible(Viewer viewer, ConversationId id, bool missing_ok, Done<void> done) {
  if (!restricted(viewer)) {
    done(Result<void>());
    return;
  }
  storage_.read([this, viewer = std::move(viewer), id = std::move(id), missing_ok,
                 done = std::move(done)](store::Connection& c) {
    auto conv = c.get_conversation(id);
    if (!conv) {
      done(missing_ok && conv.error() == Errc::not_found ? Result<void>()
                                                         : Result<void>(conv.error()));
      return;
    }
    done(may_see(viewer, *conv) ? Result<void>() : Result<void>(Errc::not_found));
  });
}

void Archive::conversation(Viewer viewer, ConversationId id, Done<Conversation> done) {
  storage_.read([this, viewer = std::move(viewer), id = std::move(id),
                 done = std::move(done)](store::Connection& c) {
    auto conv = c.get_conversation(id);
    if (conv && !may_see(viewer, *conv)) {
      done(make_error_code(Errc::not_found));
      return;
    }
    done(std::move(conv));
  });
}

Result<Archive::Page> Archive::read_page(store::Connection& c, const ConversationId& id,
                                         const PageQuery& query) {
  auto conv = c.get_conversation(id);
  if (!conv) return conv.error();
  Page p;
  p.conversation = std::move(*conv);
  // One more than asked: whether there is more is known without a second query.
  auto msgs = query.after ? c.read_after(id, *query.after, query.limit + 1)
                          : c.read_before(id, query.before.value_or(std::numeric_limits<Seq>::max()),
                                          query.limit + 1);
  if (!msgs) return msgs.error();
  p.messages = std::move(*msgs);
  if (p.messages.size() > query.limit) {
    p.has_more = true;
    if (query.after) {
      p.messages.pop_back();
    } else {
      p.messages.erase(p.messages.begin());
    }
  }
  return p;
}

void Archive::read_page(ConversationId id, PageQuery query, Done<Page> done) {
  storage_.read([id = std::move(id), query, done = std::move(done)](store::Connection& c) {
    done(read_page(c, id, query));
  });
}

void Archive::page(Viewer viewer, ConversationId id, PageQuery query, Done<Page> done) {
  storage_.read([this, viewer = std::move(viewer), id = std::move(id), query,
                 done = std::move(done)](store::Connection& c) {
    auto p = read_page(c, id, query);
    if (p && !may_see(viewer, p->conversation)) {
      done(make_error_code(Errc::not_found));
      return;
    }
    done(std::move(p));
  });
}

void Archive::list(Viewer viewer, store::ListQuery query, Done<store::ConversationPage> done) {
  const bool filter = restricted(viewer);
  if (filter) query.user = viewer->id;  // users see only their conversations
  auto read = [this, viewer = std::move(viewer), query, filter,
               done = std::move(done)](store::Connection& c) {
    auto page = c.list_conversations(query);
    if (page && filter) {
      // The one access rule of every other read: a membership from before an admin
      // restricted the participants does not show the conversation (its newest message
      // and unread count leaked through here: issue 14).
      std::erase_if(page->conversations, [&](const store::ConversationSummary& s) {
        return !may_see(viewer, s.conversation);
      });
    }
    done(std::move(page));
  };
  if (!query.user) {
    storage_.read(std::move(read));
    return;
  }
  // An inbox lists by membership, and a join's membership is written after the appends
  // queued around it (Storage::add_member), so a client that joined, sent and got its ack
  // could list its inbox without the conversation. An empty job on the writer first: it
  // runs after every membership queued before it, then the read goes to a reader.
  storage_.write([this, read = std::move(read)](store::Connection&) mutable {
    storage_.read(std::move(read));
  });
}

void Archive::search(Viewer viewer, store::SearchQuery query,
                     Done<std::vector<store::SearchHit>> done) {
  // Read-your-writes: the writer first indexes whatever is committed but not yet indexed
  // (store.hpp, SearchIndex::index_pending), so the reader's search finds it caught up and
  // never competes with the writer for the write lock. A failure here is not final: the
  // search itself catches up too, and reports the error if it still cannot.
  storage_.write([this, viewer = std::move(viewer), query = std::move(query),
                  done = std::move(done)](store::Connection& w) mutable {
    for (;;) {
      auto more = w.index_pending(4096);
      if (!more || !*more) break;
    }
    storage_.read([this, viewer = std::move(viewer), query = std::move(query),
                   done = std::move(done)](store::Connection& c) {
      auto hits = c.search(query);
      if (!hits || !restricted(viewer)) {
        done(std::move(hits));
        return;
      }
      // Only hits in conversations the viewer may see (one lookup per conversation).
      std::unordered_map<ConversationId, bool> visible;
      std::vector<store::SearchHit> kept;
      for (auto& h : *hits) {
        auto [it, fresh] = visible.try_emplace(h.message.conversation, false);
        if (fresh) {
          auto conv = c.get_conversation(h.message.conversation);
          it->second = conv && may_see(viewer, *conv);
        }
        if (it->second) kept.push_back(std::move(h));
      }
      done(std::move(kept));
    });
  });
}

void Archive::find_message(Viewer viewer, MessageId id, Done<StoredMessage> done) {
  storage_.read([this, viewer = std::move(viewer), id = std::move(id),
                 done = std::move(done)](store::Connection& c) {
    auto m = c.find_message(id);
    if (m && restricted(viewer)) {
      auto conv = c.get_conversation(m->conversation);
      if (!conv || !may_see(viewer, *conv)) {
        done(make_error_code(Errc::not_found));
        return;
      }
    }
    done(std::move(m));
  });
}

void Archive::share_conversation(const User& viewer, UserId other, Done<bool> done) {
  storage_.read([this, me = viewer, them = std::move(other),
                 done = std::move(done)](store::Connection& c) {
    // Their conversations the viewer may see, then the viewer's (500 a page, up to 20,000
    // each): one in both?
    auto run = [&]() -> Result<bool> {
      store::ListQuery q;
      q.limit = 500;
      q.user = them;
      std::unordered_set<ConversationId> theirs;
      for (int page = 0; page < 40; ++page) {
        auto p = c.list_conversations(q);
        if (!p) return Result<bool>(boost::system::in_place_error, p.error());
        for (const auto& s : p->conversations) {
          if (may_see(me, s.conversation)) theirs.insert(s.conversation.id);
        }
        if (p->next_cursor.empty()) break;
        q.cursor = p->next_cursor;
      }
      if (theirs.empty()) return false;
      q.user = me.id;
      q.cursor.clear();
      for (int page = 0; page < 40; ++page) {
        auto p = c.list_conversations(q);
        if (!p) return Result<bool>(boost::system::in_place_error, p.error());
        for (const auto& s : p->conversations) {
          if (theirs.contains(s.conversation.id)) return true;
        }
        if (p->next_cursor.empty()) break;
        q.cursor = p->next_cursor;
      }
      return false;
    };
    done(run());
  });
}

void Archive::count_conversations(Done<std::int64_t> done) {
  storage_.read([done = std::move(done)](store::Connection& c) { done(c.count_conversations()); });
}

void Archive::create(store::NewConversation conversation, Done<Conversation> done) {
  storage_.write([conversation = std::move(conversation),
                  done = std::move(done)](store::Connection& c) {
    done(c.create_conversation(conversation));
  });
}

void Archive::update(ConversationId id, store::ConversationPatch patch, Done<Conversation> done) {
  storage_.write([this, id = std::move(id), patch = std::move(patch),
                  done = std::move(done)](store::Connection& c) {
    auto r = c.update_conversation(id, patch, now_ms());
    if (r) hub_.changed(id);  // live rooms, here and on other servers, reload participants
    done(std::move(r));
  });
}

void Archive::replace(store::WholeConversation whole, Done<Conversation> done) {
  storage_.write([this, whole = std::move(whole), done = std::move(done)](store::Connection& c) {
    auto r = c.replace_conversation(whole);
    if (r) hub_.changed(whole.id);
    done(std::move(r));
  });
}

void Archive::remove(ConversationId id, Done<void> done) {
  storage_.write([this, id = std::move(id), done = std::move(done)](store::Connection& c) {
    auto r = c.delete_conversation(id);
    if (r) hub_.changed(id);
    done(std::move(r));
  });
}

void Archive::prune(ConversationId id, std::optional<std::int64_t> keep_last,
                    std::optional<TimeMs> older_than, Done<Pruned> done) {
  storage_.write([this, id = std::move(id), keep_last, older_than,
                  done = std::move(done)](store::Connection& c) {
    auto removed = c.prune(id, keep_last, older_than, false);
    if (!removed) {
      done(removed.error());
      return;
    }
    // The oldest message kept, for the live room's cache (also when another server did
    // the removing: every server applies the same policy).
    auto first = c.read_after(id, 0, 1);
    if (!first) {
      done(first.error());
      return;
    }
    auto conv = c.get_conversation(id);
    if (!conv) {
      done(conv.error());
      return;
    }
    Pruned out{*removed, first->empty() ? conv->last_seq + 1 : first->front().seq};
    hub_.pruned(id, out.first_kept);
    done(out);
  });
}

void Archive::user(UserId id, Done<User> done) {
  storage_.write(
      [id = std::move(id), done = std::move(done)](store::Connection& c) { done(c.get_user(id)); });
}

void Archive::save_user(User user, Done<void> done) {
  storage_.write([user = std::move(user), done = std::move(done)](store::Connection& c) {
    done(c.upsert_user(user));
  });
}

void Archive::templates(Done<std::vector<Template>> done) {
  storage_.write([done = std::move(done)](store::Connection& c) { done(c.list_templates()); });
}

void Archive::replace_templates(std::vector<Template> templates, Done<void> done) {
  storage_.write([templates = std::move(templates), done = std::move(done)](store::Connection& c) {
    done(c.replace_templates(templates));
  });
}


}  // namespace parley::hub
