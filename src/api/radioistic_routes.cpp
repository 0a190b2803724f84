#include "api/radioistic_routes.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <unordered_map>

#include "api/await.hpp"
#include "api/json.hpp"
#include "core/log.hpp"
#include "net/request_target.hpp"
#include "protocol/command_rules.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/socketio/radioistic_model.hpp"

namespace parley::api {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
namespace model = protocol::radioistic;
using net::Response;

struct RadioisticEndpoint::Call {
  const net::Request& req;
  std::vector<std::string> segments;  // after "api", "chat"
  User user;                          // the token's user, with the stored name and avatar
};

namespace {

// GET /conversations/:id answers the whole history, as the app's route does (no limit there);
// Parley bounds it to the latest messages so one request cannot hold a huge conversation in
// memory.
constexpr std::size_t kMaxConversationMessages = 10000;
// Lists and unread counts visit every conversation of the user, 500 at a time.
constexpr std::size_t kListPage = 500;

Response app_json(const net::Request& req, http::status status, const json::value& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

// {success: false, message} (and `error`, as the app's catch blocks add error.message).
Response failure(const net::Request& req, http::status status, std::string_view message,
                 std::optional<std::string_view> error = std::nullopt) {
  json::object o;
  o.emplace("success", false);
  o.emplace("message", message);
  if (error) o.emplace("error", *error);
  return app_json(req, status, o);
}

// middleware/validate.js with express-validator 7 (err.param is undefined there, so each
// error has only its message).
Response validation_failed(const net::Request& req, const std::vector<std::string>& messages) {
  json::object o;
  o.emplace("success", false);
  o.emplace("message", "Validation failed");
  json::array errors;
  for (const auto& m : messages) {
    json::object e;
    e.emplace("message", m);
    errors.emplace_back(std::move(e));
  }
  o.emplace("errors", std::move(errors));
  return app_json(req, http::status::bad_request, o);
}

// A storage failure, as the app's catch blocks answer any error: 500 with its message.
Response server_error(const net::Request& req, std::string_view message,
                      const boost::system::error_code& ec) {
  return failure(req, http::status::internal_server_error, message,
                 ec == Errc::unavailable ? "storage is unavailable" : ec.message());
}

bool has_participant(const Conversation& c, const UserId& user) {
  return std::find(c.participants.begin(), c.participants.end(), user) != c.participants.end();
}

// The app's group fields live in the conversation's meta: {isGroup, groupName, groupAvatar}.
struct GroupInfo {
  bool is_group = false;
  std::optional<std::string> name;
  std::optional<std::string> avatar;
};
GroupInfo group_info(const Conversation& c) {
  GroupInfo g;
  const json::value meta = parse_stored_json(c.meta);
  if (!meta.is_object()) return g;
  const auto& o = meta.get_object();
  if (const auto* v = o.if_contains("isGroup"); v && v->is_bool()) g.is_group = v->get_bool();
  if (const auto* v = o.if_contains("groupName"); v && v->is_string()) {
    g.name = std::string(v->get_string());
  }
  if (const auto* v = o.if_contains("groupAvatar"); v && v->is_string()) {
    g.avatar = std::string(v->get_string());
  }
  if (!g.name && g.is_group && !c.title.empty()) g.name = c.title;
  return g;
}

std::string iso(TimeMs t) { return format_rfc3339(t); }

// Users by id, as one request needs them (participants, senders).
using Users = std::unordered_map<UserId, User>;

void load_users(const hub::Archive::Stores& c, const std::vector<UserId>& ids, Users& users) {
  for (const auto& id : ids) {
    if (users.contains(id)) continue;
    auto u = c.users.get_user(id);
    if (u) users.emplace(id, std::move(*u));
  }
}

// The app's User as `.populate(..., 'firstName lastName avatar [status]')` shows it. A user
// Parley does not know (never imported or upserted) is shown with the name its messages carry
// (`fallback_name`) rather than dropped, so the front end always has someone to show.
json::object user_doc(const UserId& id, const Users& users, std::string_view fallback_name,
                      const hub::Hub* hub_for_status) {
  json::object o;
  o.emplace("_id", id);
  const auto it = users.find(id);
  const std::string_view name = it != users.end() ? std::string_view(it->second.name) : fallback_name;
  auto parts = model::split_name(name);
  o.emplace("firstName", std::move(parts.first));
  o.emplace("lastName", std::move(parts.last));
  const bool has_avatar = it != users.end() && !it->second.avatar.empty();
  o.emplace("avatar", has_avatar ? std::string_view(it->second.avatar) : model::kDefaultAvatar);
  if (hub_for_status) o.emplace("status", hub_for_status->is_online(id) ? "online" : "offline");
  return o;
}

// Per user, the highest seq read: readBy of a message is everyone whose read seq reaches it.
using Readers = std::vector<store::MemberState>;

// The app's Message document (models/Message.js, as .lean() or toJSON gives it).
// `sender`: the populated sender, or null for the plain id (lastMessage in lists).
json::object message_doc(const StoredMessage& m, const Readers& readers,
                         std::optional<json::object> sender) {
  json::object o;
  o.emplace("_id", m.id);
  o.emplace("conversation", m.conversation);
  if (sender) {
    o.emplace("sender", std::move(*sender));
  } else {
    o.emplace("sender", m.sender.id);
  }
  o.emplace("content", m.content);
  o.emplace("type", m.kind);
  const json::value meta = parse_stored_json(m.meta);
  if (meta.is_object()) {
    for (const char* key : {"mediaUrl", "mediaType"}) {
      if (const auto* v = meta.get_object().if_contains(key); v && v->is_string()) {
        o.emplace(key, *v);
      }
    }
  }
  json::array read_by;
  for (const auto& r : readers) {
    // Parley keeps the highest seq each user read, not when: readAt is unknown (null).
    if (r.read_seq >= m.seq || r.user == m.sender.id) {
      json::object e;
      e.emplace("user", r.user);
      e.emplace("readAt", nullptr);
      read_by.emplace_back(std::move(e));
    }
  }
  o.emplace("readBy", std::move(read_by));
  o.emplace("isDeleted", m.deleted);
  if (m.deleted && m.edited_at) o.emplace("deletedAt", iso(*m.edited_at));
  o.emplace("createdAt", iso(m.created_at));
  o.emplace("updatedAt", iso(m.edited_at.value_or(m.created_at)));
  o.emplace("__v", 0);
  return o;
}

json::object sender_doc(const StoredMessage& m, const Users& users) {
  return user_doc(m.sender.id, users, m.sender.name, nullptr);
}

// The app's Conversation document. `last_message`: populated (lists) or its id (others).
json::object conversation_doc(const Conversation& c, const Users& users, const hub::Hub& hub,
                              const std::optional<StoredMessage>& last, bool populate_last,
                              const Readers& readers) {
  const GroupInfo g = group_info(c);
  json::object o;
  o.emplace("_id", c.id);
  json::array participants;
  for (const auto& p : c.participants) participants.emplace_back(user_doc(p, users, "", &hub));
  o.emplace("participants", std::move(participants));
  o.emplace("isGroup", g.is_group);
  if (g.name) o.emplace("groupName", *g.name);
  if (g.avatar) o.emplace("groupAvatar", *g.avatar);
  if (last) {
    if (populate_last) {
      o.emplace("lastMessage", message_doc(*last, readers, std::nullopt));
    } else {
      o.emplace("lastMessage", last->id);
    }
    o.emplace("lastMessageTimestamp", iso(last->created_at));
  }
  o.emplace("unreadCounts", json::object());
  o.emplace("createdAt", iso(c.created_at));
  o.emplace("updatedAt", iso(c.updated_at));
  o.emplace("__v", 0);
  return o;
}

// Message.getUnreadCount: messages of others, not deleted, that `user` has not read. Parley's
// read state is a seq, so these are the messages after it.
Result<std::int64_t> unread_of(const hub::Archive::Stores& c, const ConversationId& id, const UserId& user,
                               Seq read) {
  std::int64_t n = 0;
  auto r = c.messages.for_each_message(id, read, [&](const StoredMessage& m) {
    if (!m.deleted && m.sender.id != user) ++n;
    return true;
  });
  if (!r) return r.error();
  return n;
}

// Every conversation `user` is a participant of (the app's `Conversation.find({participants:
// user})`), with what the list shows.
struct Listed {
  store::ConversationSummary summary;
  std::int64_t unread = 0;
  Readers readers;
};

// `unread`: count each one's unread messages; `details`: also who read what (lastMessage).
Result<std::vector<Listed>> conversations_of(const hub::Archive::Stores& c, const UserId& user, bool unread,
                                             bool details) {
  std::vector<Listed> out;
  store::ListQuery q;
  q.limit = kListPage;
  q.user = user;
  for (;;) {
    auto page = c.listings.list_conversations(q);
    if (!page) return page.error();
    for (auto& s : page->conversations) {
      if (!has_participant(s.conversation, user)) continue;  // joined an open room: not the app's
      Listed l;
      if (unread) {
        const Seq read = s.conversation.last_seq - s.unread.value_or(0);
        auto n = unread_of(c, s.conversation.id, user, read);
        if (!n) return n.error();
        l.unread = *n;
      }
      if (details && s.last_message) {
        auto readers = c.read_state.member_states(s.conversation.id);
        if (readers) l.readers = std::move(*readers);
      }
      l.summary = std::move(s);
      out.push_back(std::move(l));
    }
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  return out;
}

// A string field the app validates with notEmpty(): present and non-empty (a number counts, as
// express-validator takes its text).
std::optional<std::string> non_empty(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  std::string text;
  if (v->is_string()) text = std::string(v->get_string());
  if (v->is_int64() || v->is_uint64() || v->is_double()) text = json::serialize(*v);
  if (text.empty()) return std::nullopt;
  return text;
}

}  // namespace

RadioisticEndpoint::RadioisticEndpoint(hub::Hub& hub, RestOptions options)
    : hub_(hub), options_(std::move(options)), limiter_(options_.rate_per_s, options_.rate_burst) {}

asio::awaitable<std::optional<Response>> RadioisticEndpoint::serve(net::HttpContext& ctx) {
  const auto& req = ctx.request;
  const std::string origin(req[http::field::origin]);
  const bool cors = options_.origins.grants(origin);
  auto with_cors = [&](Response res) {
    if (cors) {
      res.set(http::field::access_control_allow_origin, origin);
      res.set(http::field::vary, "Origin");
      res.set(http::field::access_control_allow_credentials, "true");
    }
    return res;
  };
  if (req.method() == http::verb::options) {
    if (!origin.empty() && !cors) {
      co_return failure(req, http::status::forbidden, "Not allowed by CORS");
    }
    Response res{http::status::no_content, req.version()};
    res.set(http::field::allow, "GET, POST, PUT, DELETE, OPTIONS");
    if (cors) {
      res.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, PATCH, OPTIONS");
      res.set(http::field::access_control_allow_headers,
              "Content-Type, Authorization, X-Requested-With");
      res.set(http::field::access_control_max_age, "86400");
    }
    res.keep_alive(req.keep_alive());
    co_return with_cors(std::move(res));
  }
  auto target = net::parse_request_target(req.target());
  if (!target || target->segments.size() < 2) {
    co_return with_cors(failure(req, http::status::not_found, "API endpoint not found"));
  }
  Call call{req, {target->segments.begin() + 2, target->segments.end()}, {}};

  // middleware/auth.js `protect`: a Bearer token, verified, naming a stored user.
  const auto field = req[http::field::authorization];
  const std::string_view header(field.data(), field.size());
  std::string token;
  if (header.starts_with("Bearer")) {
    const auto space = header.find(' ');
    if (space != std::string_view::npos) {
      const auto rest = header.substr(space + 1);
      token = std::string(rest.substr(0, rest.find(' ')));
    }
  }
  if (token.empty()) {
    co_return with_cors(failure(req, http::status::unauthorized,
                                "Not authorized to access this route. Please login."));
  }
  const auto invalid = [&] {
    return with_cors(failure(req, http::status::unauthorized,
                             "Not authorized to access this route. Invalid token."));
  };
  if (!options_.auth || !options_.auth->requires_token()) {
    // Open mode has no key to verify the app's tokens with (docs/socketio.md: AUTH_MODE=token).
    spdlog::warn("/api/chat/ needs AUTH_MODE=token with the app's JWT_SECRET; refusing");
    co_return invalid();
  }
  std::string why;
  auto identity = options_.auth->authenticate(hub::AuthRequest{token, {}, {}}, why);
  if (!identity) co_return invalid();
  if (limiter_.enabled()) {
    if (const long wait = limiter_.take("user:" + identity->id); wait != 0) {
      auto res = failure(req, http::status::too_many_requests,
                         "Too many requests from this IP, please try again later.");
      res.set(http::field::retry_after, std::to_string(wait));
      co_return with_cors(std::move(res));
    }
  }
  const UserId uid = identity->id;
  hub::Archive::Job<User> find_user = [uid](const hub::Archive::Stores& c) { return c.users.get_user(uid); };
  auto stored = co_await archive_read<User>(hub_.archive(), find_user);
  if (!stored) {
    if (stored.error() == Errc::not_found) {
      co_return with_cors(failure(req, http::status::unauthorized, "User not found"));
    }
    co_return with_cors(server_error(req, "Error authenticating", stored.error()));
  }
  call.user = std::move(*stored);
  if (call.user.role.empty()) call.user.role = identity->role;
  co_return with_cors(co_await route(call));
}

asio::awaitable<Response> RadioisticEndpoint::route(Call& call) {
  const auto& s = call.segments;
  const auto method = call.req.method();
  if (s.size() == 1 && s[0] == "conversations") {
    if (method == http::verb::get) co_return co_await list_conversations(call);
    if (method == http::verb::post) co_return co_await create_conversation(call);
  }
  if (s.size() == 2 && s[0] == "conversations" && method == http::verb::get) {
    co_return co_await get_conversation(call, s[1]);
  }
  if (s.size() == 1 && s[0] == "messages" && method == http::verb::post) {
    co_return co_await send_message(call);
  }
  if (s.size() == 3 && s[0] == "messages" && s[2] == "read" && method == http::verb::put) {
    co_return co_await mark_read(call, s[1]);
  }
  if (s.size() == 2 && s[0] == "messages" && method == http::verb::delete_) {
    co_return co_await delete_message(call, s[1]);
  }
  if (s.size() == 1 && s[0] == "unread-count" && method == http::verb::get) {
    co_return co_await unread_count(call);
  }
  // server.js's 404 handler (Express answers an unknown method on a known path the same way).
  co_return failure(call.req, http::status::not_found, "API endpoint not found");
}

// GET /api/chat/conversations: {success, count, conversations} newest last message first,
// each with populated participants, populated lastMessage and unreadCount.
asio::awaitable<Response> RadioisticEndpoint::list_conversations(Call& call) {
  struct Result_ {
    std::vector<Listed> listed;
    Users users;
  };
  hub::Archive::Job<Result_> job = [me = call.user.id](const hub::Archive::Stores& c) -> Result<Result_> {
    auto listed = conversations_of(c, me, true, true);
    if (!listed) return listed.error();
    Result_ r;
    r.listed = std::move(*listed);
    for (const auto& l : r.listed) load_users(c, l.summary.conversation.participants, r.users);
    return r;
  };
  auto r = co_await archive_read<Result_>(hub_.archive(), job);
  if (!r) co_return server_error(call.req, "Error fetching conversations", r.error());
  // sort('-lastMessageTimestamp'): MongoDB puts conversations without one last.
  std::stable_sort(r->listed.begin(), r->listed.end(), [](const Listed& a, const Listed& b) {
    const TimeMs ta = a.summary.last_message ? a.summary.last_message->created_at : -1;
    const TimeMs tb = b.summary.last_message ? b.summary.last_message->created_at : -1;
    return ta > tb;
  });
  json::array arr;
  for (const auto& l : r->listed) {
    auto o = conversation_doc(l.summary.conversation, r->users, hub_, l.summary.last_message, true,
                              l.readers);
    o.emplace("unreadCount", l.unread);
    arr.emplace_back(std::move(o));
  }
  json::object o;
  o.emplace("success", true);
  o.emplace("count", arr.size());
  o.emplace("conversations", std::move(arr));
  co_return app_json(call.req, http::status::ok, o);
}

// GET /api/chat/conversations/:id: {success, conversation, messages} (not deleted, oldest
// first, sender populated), then everything in it is marked read by the caller.
asio::awaitable<Response> RadioisticEndpoint::get_conversation(Call& call, const std::string& id) {
  if (!is_valid_id(id)) {
    co_return failure(call.req, http::status::not_found, "Conversation not found");
  }
  struct Loaded {
    Conversation conv;
    std::optional<StoredMessage> last;
    std::deque<StoredMessage> messages;
    Readers readers;
    Users users;
  };
  hub::Archive::Job<Loaded> job = [id, me = call.user.id](const hub::Archive::Stores& c) -> Result<Loaded> {
    auto conv = c.conversations.get_conversation(id);
    if (!conv) return conv.error();
    if (!has_participant(*conv, me)) return Errc::not_found;
    Loaded l;
    l.conv = std::move(*conv);
    std::vector<UserId> senders;
    auto r = c.messages.for_each_message(id, 0, [&](const StoredMessage& m) {
      if (m.seq == l.conv.last_seq) l.last = m;
      if (m.deleted) return true;
      if (std::find(senders.begin(), senders.end(), m.sender.id) == senders.end()) {
        senders.push_back(m.sender.id);
      }
      l.messages.push_back(m);
      if (l.messages.size() > kMaxConversationMessages) l.messages.pop_front();
      return true;
    });
    if (!r) return r.error();
    auto readers = c.read_state.member_states(id);
    if (readers) l.readers = std::move(*readers);
    load_users(c, l.conv.participants, l.users);
    load_users(c, senders, l.users);
    return l;
  };
  auto r = co_await archive_read<Loaded>(hub_.archive(), job);
  if (!r) {
    if (r.error() == Errc::not_found) {
      co_return failure(call.req, http::status::not_found, "Conversation not found");
    }
    co_return server_error(call.req, "Error fetching conversation", r.error());
  }
  json::array messages;
  for (const auto& m : r->messages) {
    messages.emplace_back(message_doc(m, r->readers, sender_doc(m, r->users)));
  }
  json::object o;
  o.emplace("success", true);
  o.emplace("conversation", conversation_doc(r->conv, r->users, hub_, r->last, false, {}));
  o.emplace("messages", std::move(messages));
  if (r->conv.last_seq > 0) {
    // Message.updateMany(... $push readBy): the caller has now read everything here.
    std::function<void(std::function<void(Result<Seq>)>)> mark =
        [this, user = call.user, id, seq = r->conv.last_seq](std::function<void(Result<Seq>)> done) {
          hub_.mark_read(user, id, seq, std::move(done));
        };
    auto marked = co_await await_result<Seq>(mark);
    if (!marked) co_return server_error(call.req, "Error fetching conversation", marked.error());
  }
  co_return app_json(call.req, http::status::ok, o);
}

// POST /api/chat/conversations {participantIds, isGroup?, groupName?}: a group is always new;
// a one-to-one conversation is found (same participants, not a group) or created. 201
// {success, conversation} with populated participants.
asio::awaitable<Response> RadioisticEndpoint::create_conversation(Call& call) {
  boost::system::error_code ec;
  json::value body = json::parse(call.req.body(), ec);
  if (ec || !body.is_object()) body = json::object();  // express.json(): no usable body is {}
  const auto& o = body.get_object();
  const auto* ids = o.if_contains("participantIds");
  if (!ids || !ids->is_array() || ids->get_array().empty()) {
    co_return validation_failed(call.req, {"At least one participant is required"});
  }
  std::vector<UserId> all{call.user.id};
  for (const auto& v : ids->get_array()) {
    std::string id = v.is_string() ? std::string(v.get_string()) : std::string();
    if (!is_valid_id(id)) {
      co_return validation_failed(call.req, {"participantIds must be user ids"});
    }
    if (std::find(all.begin(), all.end(), id) == all.end()) all.push_back(std::move(id));
  }
  if (all.size() < 2) {
    co_return failure(call.req, http::status::bad_request,
                      "A conversation must have at least 2 participants");
  }
  bool is_group = false;
  if (const auto* g = o.if_contains("isGroup")) {
    // JavaScript truthiness of what the front end sends (a boolean, in lib/api.ts).
    is_group = (g->is_bool() && g->get_bool()) || (g->is_string() && !g->get_string().empty()) ||
               (g->is_number() && g->to_number<double>() != 0) || g->is_object() || g->is_array();
  }
  std::optional<std::string> group_name;
  if (const auto* n = o.if_contains("groupName"); n && n->is_string()) {
    group_name = std::string(n->get_string());
  }
  struct Made {
    Conversation conv;
    Users users;
  };
  // On the writer: the find and the create of a one-to-one conversation are one step, so two
  // concurrent requests for the same pair get the same conversation.
  hub::Hub& hub = hub_;
  hub::Archive::Job<Made> job = [all, is_group, group_name, me = call.user.id, user = call.user,
                                 &hub](const hub::Archive::Stores& c) mutable -> Result<Made> {
    Made made;
    std::optional<Conversation> found;
    if (!is_group) {
      std::sort(all.begin(), all.end());  // Conversation.findOrCreate sorts the ids
      auto mine = conversations_of(c, me, false, false);
      if (!mine) return mine.error();
      for (auto& l : *mine) {
        auto p = l.summary.conversation.participants;
        std::sort(p.begin(), p.end());
        if (p == all && !group_info(l.summary.conversation).is_group) {
          found = std::move(l.summary.conversation);
          break;
        }
      }
    }
    if (found) {
      made.conv = std::move(*found);
    } else {
      // A creation: the same rules as a join of a new id (hub::Hub::Options).
      if (hub.options().admins_create_only && !hub::Hub::is_admin(user)) {
        return make_error_code(Errc::permission_denied);
      }
      if (hub.take_creation(user, "") > 0) return make_error_code(Errc::rate_limited);
      store::NewConversation nc;
      nc.id = model::new_object_id(now_ms());
      nc.participants = all;
      json::object meta;
      meta.emplace("isGroup", is_group);
      if (is_group && group_name) {
        meta.emplace("groupName", *group_name);
        nc.title = *group_name;
      }
      nc.meta = json::serialize(meta);
      auto created = c.conversations.create_conversation(nc);
      if (!created) return created.error();
      made.conv = std::move(*created);
    }
    load_users(c, made.conv.participants, made.users);
    return made;
  };
  auto r = co_await archive_write<Made>(hub_.archive(), job);
  if (!r && r.error() == Errc::rate_limited) {
    co_return failure(call.req, http::status::too_many_requests,
                      "Too many conversations created; try again later");
  }
  if (!r && r.error() == Errc::permission_denied) {
    co_return failure(call.req, http::status::forbidden,
                      "Only administrators create conversations");
  }
  if (!r) co_return server_error(call.req, "Error creating conversation", r.error());
  std::optional<StoredMessage> last;
  if (r->conv.last_seq > 0) {
    // The created (or found) conversation's lastMessage is its id in this answer.
    hub::Archive::Job<StoredMessage> get_last = [id = r->conv.id, seq = r->conv.last_seq](const hub::Archive::Stores& c) {
      return c.messages.get_message(id, seq);
    };
    auto m = co_await archive_read<StoredMessage>(hub_.archive(), get_last);
    if (m) last = std::move(*m);
  }
  json::object out;
  out.emplace("success", true);
  out.emplace("conversation", conversation_doc(r->conv, r->users, hub_, last, false, {}));
  co_return app_json(call.req, http::status::created, out);
}

// POST /api/chat/messages {conversationId, content, type?, mediaUrl?}: stored through the hub
// (committed, then broadcast to the conversation's live members), 201 {success, message}.
asio::awaitable<Response> RadioisticEndpoint::send_message(Call& call) {
  boost::system::error_code ec;
  json::value body = json::parse(call.req.body(), ec);
  if (ec || !body.is_object()) body = json::object();
  const auto& o = body.get_object();
  auto conversation_id = non_empty(o, "conversationId");
  auto content = non_empty(o, "content");
  std::vector<std::string> errors;
  if (!conversation_id) errors.emplace_back("Conversation ID is required");
  if (!content) errors.emplace_back("Message content is required");
  if (!errors.empty()) co_return validation_failed(call.req, errors);
  const std::string id = *conversation_id;
  const auto not_member = [&] {
    return failure(call.req, http::status::not_found,
                   "Conversation not found or you are not a participant");
  };
  if (!is_valid_id(id)) co_return not_member();
  hub::Archive::Job<Conversation> find = [id](const hub::Archive::Stores& c) { return c.conversations.get_conversation(id); };
  auto conv = co_await archive_read<Conversation>(hub_.archive(), find);
  if (!conv) {
    if (conv.error() == Errc::not_found) co_return not_member();
    co_return server_error(call.req, "Error sending message", conv.error());
  }
  if (!has_participant(*conv, call.user.id)) co_return not_member();

  std::string type = "text";
  if (const auto* t = o.if_contains("type"); t && t->is_string()) type = std::string(t->get_string());
  if (!model::is_message_type(type)) {
    co_return failure(call.req, http::status::internal_server_error, "Error sending message",
                      "Message validation failed: type: `" + type +
                          "` is not a valid enum value for path `type`.");
  }
  std::string text = *content;
  if (auto bad = model::normalize_content(text)) {
    co_return failure(call.req, http::status::internal_server_error, "Error sending message",
                      "Message validation failed: content: " + *bad);
  }
  // Then Parley's own rules, as for every send (protocol::check: sizes, kinds).
  protocol::Command cmd;
  cmd.op = protocol::Op::send;
  cmd.conversation = id;
  cmd.content = std::move(text);
  cmd.kind = type;
  json::object meta;
  if (const auto* u = o.if_contains("mediaUrl"); u && u->is_string()) meta.emplace("mediaUrl", *u);
  // The sender's avatar at the time of sending, as the Socket.IO path keeps it (senderAvatar).
  if (!call.user.avatar.empty()) meta.emplace("avatar", call.user.avatar);
  cmd.meta = json::serialize(meta);
  std::string why;
  if (protocol::check(cmd, hub_.options().limits, why)) {
    co_return failure(call.req, http::status::internal_server_error, "Error sending message", why);
  }
  NewMessage m;
  m.conversation = id;
  m.sender = Sender{call.user.id, call.user.name, call.user.role.empty() ? "user" : call.user.role};
  m.kind = std::move(cmd.kind);
  m.content = std::move(cmd.content);
  m.meta = std::move(cmd.meta);
  std::function<void(std::function<void(Result<Appended>)>)> post =
      [this, m = std::move(m)](std::function<void(Result<Appended>)> done) mutable {
        hub_.post_message(std::move(m), std::move(done));
      };
  auto r = co_await await_result<Appended>(post);
  if (!r) co_return server_error(call.req, "Error sending message", r.error());
  Users users;
  users.emplace(call.user.id, call.user);
  json::object out;
  out.emplace("success", true);
  out.emplace("message", message_doc(r->message, {}, sender_doc(r->message, users)));
  co_return app_json(call.req, http::status::created, out);
}

// PUT /api/chat/messages/:id/read: the caller's read state reaches this message.
asio::awaitable<Response> RadioisticEndpoint::mark_read(Call& call, const std::string& id) {
  const auto missing = [&] {
    return failure(call.req, http::status::not_found, "Message not found");
  };
  if (!is_valid_id(id)) co_return missing();
  struct Found {
    StoredMessage message;
    bool participant = false;
  };
  hub::Archive::Job<Found> find = [id, me = call.user.id](const hub::Archive::Stores& c) -> Result<Found> {
    auto m = c.messages.find_message(id);
    if (!m) return m.error();
    auto conv = c.conversations.get_conversation(m->conversation);
    if (!conv) return conv.error();
    return Found{std::move(*m), has_participant(*conv, me)};
  };
  auto f = co_await archive_read<Found>(hub_.archive(), find);
  if (!f) {
    if (f.error() == Errc::not_found) co_return missing();
    co_return server_error(call.req, "Error marking message as read", f.error());
  }
  // The app lets anyone mark any message; Parley does not reveal other conversations' messages.
  if (!f->participant) co_return missing();
  std::function<void(std::function<void(Result<Seq>)>)> mark =
      [this, user = call.user, conv = f->message.conversation,
       seq = f->message.seq](std::function<void(Result<Seq>)> done) {
        hub_.mark_read(user, conv, seq, std::move(done));
      };
  auto r = co_await await_result<Seq>(mark);
  if (!r) co_return server_error(call.req, "Error marking message as read", r.error());
  json::object out;
  out.emplace("success", true);
  out.emplace("message", "Message marked as read");
  co_return app_json(call.req, http::status::ok, out);
}

// DELETE /api/chat/messages/:id: soft delete, the sender's own messages only.
asio::awaitable<Response> RadioisticEndpoint::delete_message(Call& call, const std::string& id) {
  const auto missing = [&] {
    return failure(call.req, http::status::not_found, "Message not found or you are not the sender");
  };
  if (!is_valid_id(id)) co_return missing();
  hub::Archive::Job<StoredMessage> find = [id](const hub::Archive::Stores& c) { return c.messages.find_message(id); };
  auto m = co_await archive_read<StoredMessage>(hub_.archive(), find);
  if (!m) {
    if (m.error() == Errc::not_found) co_return missing();
    co_return server_error(call.req, "Error deleting message", m.error());
  }
  if (m->sender.id != call.user.id) co_return missing();
  std::function<void(std::function<void(Result<StoredMessage>)>)> remove =
      [this, conv = m->conversation, seq = m->seq,
       by = call.user.id](std::function<void(Result<StoredMessage>)> done) {
        hub_.delete_message(conv, seq, by, std::move(done));
      };
  auto r = co_await await_result<StoredMessage>(remove);
  if (!r) {
    if (r.error() == Errc::not_found || r.error() == Errc::permission_denied) co_return missing();
    co_return server_error(call.req, "Error deleting message", r.error());
  }
  json::object out;
  out.emplace("success", true);
  out.emplace("message", "Message deleted successfully");
  co_return app_json(call.req, http::status::ok, out);
}

// GET /api/chat/unread-count: {success, unreadCount} over every conversation of the caller.
asio::awaitable<Response> RadioisticEndpoint::unread_count(Call& call) {
  hub::Archive::Job<std::int64_t> job = [me = call.user.id](const hub::Archive::Stores& c) -> Result<std::int64_t> {
    auto listed = conversations_of(c, me, true, false);
    if (!listed) return listed.error();
    std::int64_t total = 0;
    for (const auto& l : *listed) total += l.unread;
    return total;
  };
  auto r = co_await archive_read<std::int64_t>(hub_.archive(), job);
  if (!r) co_return server_error(call.req, "Error fetching unread count", r.error());
  json::object out;
  out.emplace("success", true);
  out.emplace("unreadCount", *r);
  co_return app_json(call.req, http::status::ok, out);
}

}  // namespace parley::api
