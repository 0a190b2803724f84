#include "api/rest_endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <limits>
#include <unordered_set>

#include "api/await.hpp"
#include "api/export.hpp"
#include "api/json.hpp"
#include "core/log.hpp"
#include "hub/jwt_authenticator.hpp"
#include "net/http_server.hpp"
#include "net/request_target.hpp"
#include "protocol/command_rules.hpp"
#include "protocol/json_fields.hpp"

namespace parley::api {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
using net::Response;

struct RestEndpoint::Call {
  const net::Request& req;
  std::vector<std::string> segments;
  std::unordered_map<std::string, std::string> query;
  // Token mode: who is calling. Open mode: enforce is false and everyone may do anything.
  bool enforce = false;
  bool admin = false;
  User user;
  std::string address;  // the peer's
  net::HttpContext* ctx = nullptr;
  std::string cors_origin;  // set: the response gets CORS headers for it
  bool streamed = false;    // the response was written to the connection already

  bool restricted() const noexcept { return enforce && !admin; }

  std::string param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
  // nullopt when absent; -1 when present but not a non-negative integer.
  std::optional<std::int64_t> int_param(const std::string& key) const {
    auto it = query.find(key);
    if (it == query.end() || it->second.empty()) return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || p != it->second.data() + it->second.size() || v < 0) return -1;
    return v;
  }
};

namespace {

Response json_response(const net::Request& req, http::status status, const json::value& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response error_response(const net::Request& req, http::status status, std::string_view code,
                        std::string_view message) {
  return net::json_error(status, code, message, req.version(), req.keep_alive());
}

http::status status_for(const boost::system::error_code& ec) {
  if (ec.category() != parley_category()) return http::status::internal_server_error;
  switch (static_cast<Errc>(ec.value())) {
    case Errc::not_found:
      return http::status::not_found;
    case Errc::already_exists:
    case Errc::conflict:
      return http::status::conflict;
    case Errc::invalid_argument:
      return http::status::bad_request;
    case Errc::unauthenticated:
      return http::status::unauthorized;
    case Errc::permission_denied:
      return http::status::forbidden;
    case Errc::too_large:
      return http::status::payload_too_large;
    case Errc::rate_limited:
    case Errc::too_slow:
      return http::status::too_many_requests;
    case Errc::unavailable:
      return http::status::service_unavailable;
    case Errc::data_loss:
    case Errc::internal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response error_from(const net::Request& req, const boost::system::error_code& ec,
                    std::string_view what) {
  std::string message(what);
  if (ec == Errc::not_found) message = std::string(what) + " not found";
  if (ec == Errc::already_exists) message = std::string(what) + " already exists";
  if (ec == Errc::unavailable) message = "storage is unavailable";
  if (ec == Errc::permission_denied) message = "not allowed";
  return error_response(req, status_for(ec), wire_code(ec), message);
}

Response forbidden(const net::Request& req, std::string_view message) {
  return error_response(req, http::status::forbidden, "forbidden", message);
}

Response bad_request(const net::Request& req, std::string_view message) {
  return error_response(req, http::status::bad_request, "bad_request", message);
}

// Parses the body as a JSON object; nullopt (with `error` set) when it is not
// one.
std::optional<json::object> body_object(const net::Request& req, std::optional<Response>& error) {
  boost::system::error_code ec;
  auto v = json::parse(req.body(), ec);
  if (ec) {
    error = bad_request(req, "body is not valid JSON: " + ec.message());
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = bad_request(req, "body must be a JSON object");
    return std::nullopt;
  }
  if (!protocol::all_finite(v)) {  // 1e400: stored, it would come back as `Infinity`
    error = bad_request(req, "body has a number out of range");
    return std::nullopt;
  }
  return std::move(v.get_object());
}

// String field: absent → nullopt; present but not a string → error.
bool get_string(const json::object& o, std::string_view key, std::optional<std::string>& out,
                std::string& why) {
  return protocol::JsonFields(o, why).opt_str(key, out);
}

// Object field, kept as text: absent → nullopt; present but not an object → error.
bool get_object_text(const json::object& o, std::string_view key, std::optional<std::string>& out,
                     std::string& why) {
  return protocol::JsonFields(o, why).opt_object_text(key, out);
}

bool get_participants(const json::object& o, std::optional<std::vector<UserId>>& out,
                      std::string& why) {
  const auto* v = o.if_contains("participants");
  if (!v || v->is_null()) return true;
  if (!v->is_array()) {
    why = "participants must be an array of user ids";
    return false;
  }
  std::vector<UserId> ids;
  for (const auto& p : v->get_array()) {
    if (!p.is_string() || !is_valid_id(p.get_string())) {
      why = "participants must be an array of user ids";
      return false;
    }
    ids.emplace_back(p.get_string().data(), p.get_string().size());
  }
  out = std::move(ids);
  return true;
}

std::optional<TimeMs> get_time(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return parse_rfc3339(v->get_string());
  if (v->is_int64()) return v->get_int64();
  return std::nullopt;
}

// A message of a saved conversation (PUT, seed 004: {role, content}; seed 000:
// {sender, text, timestamp}; Parley's own export shape).
bool whole_message(const json::value& v, NewMessage& m, std::string& why) {
  if (!v.is_object()) {
    why = "messages must be objects";
    return false;
  }
  const auto& o = v.get_object();
  std::optional<std::string> role, content, text, kind, id, client_id;
  if (!get_string(o, "role", role, why) || !get_string(o, "content", content, why) ||
      !get_string(o, "text", text, why) || !get_string(o, "kind", kind, why) ||
      !get_string(o, "id", id, why) || !get_string(o, "client_id", client_id, why)) {
    return false;
  }
  if (const auto* s = o.if_contains("sender")) {
    if (s->is_string()) {
      m.sender.id = std::string(s->get_string());
    } else if (s->is_object()) {
      const auto& so = s->get_object();
      std::optional<std::string> sid, sname, srole;
      if (!get_string(so, "id", sid, why) || !get_string(so, "name", sname, why) ||
          !get_string(so, "role", srole, why)) {
        return false;
      }
      m.sender.id = sid.value_or("");
      m.sender.name = sname.value_or("");
      m.sender.role = srole.value_or("");
    }
  }
  if (role) {
    if (m.sender.role.empty()) m.sender.role = *role;
    if (m.sender.id.empty()) m.sender.id = *role;
  } else if (m.sender.role.empty() && !m.sender.id.empty() && o.if_contains("sender") &&
             o.at("sender").is_string()) {
    m.sender.role = m.sender.id;  // seed 000: sender is the role (participant, wizard, bot)
  }
  if (m.sender.id.empty()) {
    why = "each message needs a role or a sender";
    return false;
  }
  if (!content && !text) {
    why = "each message needs content";
    return false;
  }
  m.content = content ? std::move(*content) : std::move(*text);
  if (kind) m.kind = *kind;
  if (id) m.id = *id;
  m.client_id = client_id;
  if (const auto* meta = o.if_contains("meta"); meta && meta->is_object()) {
    m.meta = json::serialize(*meta);
  }
  m.created_at = get_time(o, "created_at").value_or(get_time(o, "timestamp").value_or(0));
  return true;
}

json::object history_json(const ConversationId& id, const std::vector<StoredMessage>& msgs,
                          bool has_more, Seq last_seq) {
  json::object o;
  o.emplace("conversation", id);
  json::array arr;
  arr.reserve(msgs.size());
  for (const auto& m : msgs) arr.emplace_back(message_json(m));
  o.emplace("messages", std::move(arr));
  o.emplace("has_more", has_more);
  o.emplace("last_seq", last_seq);
  return o;
}

}  // namespace

RestEndpoint::RestEndpoint(hub::Hub& hub, net::NetStats& stats, RestOptions options)
    : hub_(hub),
      stats_(stats),
      options_(std::move(options)),
      limiter_(options_.rate_per_s, options_.rate_burst) {}

asio::awaitable<std::optional<Response>> RestEndpoint::serve(net::HttpContext& ctx) {
  const auto& req = ctx.request;
  const std::string origin(req[http::field::origin]);
  const bool cors = options_.origins.grants(origin);
  auto with_cors = [&](Response res) {
    if (cors) {
      res.set(http::field::access_control_allow_origin, origin);
      res.set(http::field::vary, "Origin");
      res.set(http::field::access_control_expose_headers, "Content-Disposition");
    }
    return res;
  };
  if (req.method() == http::verb::options) {
    // CORS preflight (or a plain OPTIONS): which methods and headers a browser may use.
    if (!origin.empty() && !cors) co_return forbidden(req, "origin not allowed");
    Response res{http::status::no_content, req.version()};
    res.set(http::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    if (cors) {
      res.set(http::field::access_control_allow_methods,
              "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
      res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
      res.set(http::field::access_control_max_age, "600");
    }
    res.keep_alive(req.keep_alive());
    co_return with_cors(std::move(res));
  }
  auto target = net::parse_request_target(req.target());
  if (!target) co_return with_cors(bad_request(req, "malformed request target"));
  // Parley's own API is also at /api/v1/ (always: with COMPAT=webwoz, /api/conversations is
  // WebWOz's, docs/protocol.md); /api/v1/health and /api/v1/metrics are /health and /metrics.
  auto& segs = target->segments;
  if (segs.size() >= 2 && segs[0] == "api" && segs[1] == "v1") {
    segs.erase(segs.begin() + 1);
    if (segs.size() == 2 && (segs[1] == "health" || segs[1] == "metrics")) {
      segs.erase(segs.begin());
    }
  }
  Call call{req, std::move(target->segments), {}, false, false, {}, ctx.remote_address, &ctx,
            cors ? origin : std::string(), false};
  for (auto& [key, value] : target->params) call.query[key] = value.value_or(std::string());
  const bool is_api = (!call.segments.empty() && call.segments[0] == "api") ||
                      req.target().starts_with("/api/");
  // The per-client limit on /api/: by user once authenticated, else by address (so that
  // guessing tokens is limited too). nullopt when the call may go on.
  auto limited = [&](const std::string& key) -> std::optional<Response> {
    const long wait = limiter_.take(key);
    if (wait == 0) return std::nullopt;
    stats_.rest_rate_limited.fetch_add(1, std::memory_order_relaxed);
    auto res = error_response(req, http::status::too_many_requests, "rate_limited",
                              "too many requests; retry after " + std::to_string(wait) + " s");
    res.set(http::field::retry_after, std::to_string(wait));
    return with_cors(std::move(res));
  };
  const std::string address_key = "ip:" + ctx.remote_address;
  if (is_api && options_.auth && options_.auth->requires_token()) {
    call.enforce = true;
    const auto header = req[http::field::authorization];
    if (!header.starts_with("Bearer ") || header.size() <= 7) {
      if (auto res = limited(address_key)) co_return std::move(*res);
      auto res = error_response(req, http::status::unauthorized, "unauthorized",
                                "Authorization: Bearer <token> is required");
      res.set(http::field::www_authenticate, "Bearer");
      co_return with_cors(std::move(res));
    }
    const std::string token(header.substr(7));
    if (!options_.admin_token.empty() && hub::constant_time_equals(token, options_.admin_token)) {
      call.admin = true;
      call.user = User{"admin", "admin", "", "admin", std::nullopt};
    } else {
      std::string why;
      auto user = options_.auth->authenticate(hub::AuthRequest{token, {}, {}}, why);
      if (!user) {
        if (auto res = limited(address_key)) co_return std::move(*res);
        auto res = error_response(req, http::status::unauthorized, "unauthorized", why);
        res.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
        co_return with_cors(std::move(res));
      }
      call.user = std::move(*user);
      call.admin = hub::Hub::is_admin(call.user);
    }
  }
  if (is_api && limiter_.enabled()) {
    if (auto res = limited(call.enforce ? "user:" + call.user.id : address_key)) {
      co_return std::move(*res);
    }
  }
  auto res = co_await route(call);
  if (call.streamed) co_return std::nullopt;  // written; the connection closes after it
  co_return with_cors(std::move(res));
}

// The caller as the archive's access rule sees them (it applies the rule in token mode to
// non-admins only).
hub::Archive::Viewer RestEndpoint::viewer_of(const Call& call) {
  return call.enforce ? hub::Archive::Viewer(call.user) : std::nullopt;
}

asio::awaitable<Result<void>> RestEndpoint::check_visible(Call& call, const std::string& id,
                                                          bool missing_ok) {
  const Start<void> start = [this, viewer = viewer_of(call), id, missing_ok](Done<void> done) {
    hub_.archive().check_visible(viewer, id, missing_ok, std::move(done));
  };
  co_return co_await await_result<void>(start);
}

asio::awaitable<Response> RestEndpoint::route(Call& call) {
  const auto& s = call.segments;
  const auto method = call.req.method();
  auto not_allowed = [&] {
    return error_response(call.req, http::status::method_not_allowed, "bad_request",
                          "method not allowed here");
  };
  if (s.size() == 1 && s[0] == "health") {
    if (method != http::verb::get && method != http::verb::head) co_return not_allowed();
    co_return co_await health(call);
  }
  if (s.size() == 1 && s[0] == "metrics") {
    if (method != http::verb::get) co_return not_allowed();
    co_return metrics(call);
  }
  if (s.empty() || s[0] != "api") {
    co_return error_response(call.req, http::status::not_found, "not_found", "no such route");
  }
  if (s.size() == 2 && s[1] == "conversations") {
    if (method == http::verb::get) co_return co_await list_conversations(call);
    if (method == http::verb::post) co_return co_await create_conversation(call, call.address);
    co_return not_allowed();
  }
  if (s.size() == 2 && s[1] == "search") {
    if (method != http::verb::get) co_return not_allowed();
    co_return co_await search(call);
  }
  if (s.size() == 3 && s[1] == "users") {
    if (method == http::verb::get) co_return co_await get_user(call, s[2]);
    if (method == http::verb::put) co_return co_await put_user(call, s[2]);
    co_return not_allowed();
  }
  if (s.size() >= 3 && s[1] == "conversations") {
    const std::string& id = s[2];
    if (!is_valid_id(id)) co_return bad_request(call.req, "invalid conversation id");
    if (s.size() == 3) {
      switch (method) {
        case http::verb::get:
          co_return co_await get_conversation(call, id);
        case http::verb::put:
          co_return co_await put_conversation(call, id);
        case http::verb::patch:
          co_return co_await patch_conversation(call, id);
        case http::verb::delete_:
          co_return co_await delete_conversation(call, id);
        default:
          co_return not_allowed();
      }
    }
    if (s.size() == 4 && s[3] == "messages") {
      if (method == http::verb::get) co_return co_await list_messages(call, id);
      if (method == http::verb::post) co_return co_await post_message(call, id);
      co_return not_allowed();
    }
    if (s.size() == 5 && s[3] == "messages") {
      Seq seq = 0;
      auto [p, ec] = std::from_chars(s[4].data(), s[4].data() + s[4].size(), seq);
      if (ec != std::errc() || p != s[4].data() + s[4].size() || seq < 1) {
        co_return bad_request(call.req, "seq must be a positive integer");
      }
      if (method == http::verb::patch || method == http::verb::delete_) {
        co_return co_await change_message(call, id, seq);
      }
      co_return not_allowed();
    }
    if (s.size() == 4 && s[3] == "export") {
      if (method != http::verb::get) co_return not_allowed();
      co_return co_await export_conversation(call, id);
    }
  }
  co_return error_response(call.req, http::status::not_found, "not_found", "no such route");
}

asio::awaitable<Response> RestEndpoint::health(Call& call) {
  auto& archive = hub_.archive();
  const Start<std::int64_t> probe = [&archive](Done<std::int64_t> done) {
    archive.count_conversations(std::move(done));
  };
  // /health never waits on the database: a count that takes longer than this (a hung
  // server, readers stuck behind it) reports it down, and the outage spool makes that
  // "degraded" (issue 14: health timed out at 30 s while PostgreSQL was SIGSTOPped).
  constexpr std::chrono::milliseconds kHealthProbeLimit{1000};
  auto count = co_await await_within<std::int64_t>(probe, kHealthProbeLimit);
  const bool up = count.has_value() && archive.database_up();
  // The outage spool keeps sends durable while the database is down: degraded, not down.
  const auto spool = hub_.spool_state();
  const bool spooling = spool && spool->healthy;
  const bool degraded = (!up && spooling) || (up && spool && spool->queued > 0);
  json::object o;
  o.emplace("status", degraded ? "degraded" : up ? "healthy" : "unhealthy");
  if (spool) {
    json::object so;
    so.emplace("ok", spool->healthy);
    so.emplace("queued", spool->queued);
    o.emplace("spool", std::move(so));
  }
  o.emplace("storage", archive.database_kind());
  o.emplace("persistent_storage", archive.persistent());
  o.emplace("database", up ? "up" : "down");
  o.emplace("active_conversations", hub_.active_rooms());
  o.emplace("saved_conversations", count ? *count : 0);
  o.emplace("connections", stats_.connections.load());
  o.emplace("online_users", hub_.online_users());
  o.emplace("uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - started_)
                            .count());
  o.emplace("version", options_.version);
  o.emplace("timestamp", format_rfc3339(now_ms()));
  co_return json_response(call.req,
                          up || spooling ? http::status::ok : http::status::service_unavailable,
                          o);
}

Response RestEndpoint::metrics(Call& call) {
  const auto st = hub_.archive().storage_stats();
  const auto hs = hub_.stats();
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
  };
  metric("parley_connections", "gauge", "Open TCP connections.", stats_.connections.load());
  metric("parley_connections_total", "counter", "Accepted TCP connections.",
         stats_.connections_total.load());
  metric("parley_websocket_sessions", "gauge",
         "Open WebSocket connections (native /ws and Socket.IO's websocket transport).",
         stats_.websockets.load());
  metric("parley_socketio_sessions", "gauge",
         "Open Engine.IO (Socket.IO) sessions, over polling or WebSocket.",
         stats_.engineio_sessions.load());
  metric("parley_socketio_handshakes_refused_total", "counter",
         "Engine.IO handshakes refused for their address (429).",
         stats_.handshakes_refused.load());
  metric("parley_http_requests_total", "counter", "HTTP requests read.",
         stats_.http_requests.load());
  metric("parley_frames_in_total", "counter", "WebSocket frames received.",
         stats_.frames_in.load());
  metric("parley_frames_out_total", "counter", "WebSocket frames sent.", stats_.frames_out.load());
  metric("parley_bad_frames_total", "counter", "Frames answered with an error.",
         stats_.bad_frames.load());
  metric("parley_slow_consumers_closed_total", "counter", "Sessions closed for falling behind.",
         stats_.slow_closed.load());
  metric("parley_rate_limited_total", "counter", "WebSocket frames refused by the rate limit.",
         stats_.rate_limited.load());
  metric("parley_rest_rate_limited_total", "counter", "REST calls answered 429.",
         stats_.rest_rate_limited.load());
  metric("parley_active_rooms", "gauge", "Rooms live in memory.", hub_.active_rooms());
  metric("parley_online_users", "gauge", "Users with a connection.", hub_.online_users());
  metric("parley_messages_broadcast_total", "counter", "Messages fanned out.", hs.messages);
  metric("parley_deliveries_total", "counter", "Frames handed to sessions.", hs.deliveries);
  metric("parley_store_appended_total", "counter", "Messages committed.", st.appended);
  metric("parley_store_batches_total", "counter", "Group commits.", st.batches);
  metric("parley_store_write_errors_total", "counter", "Failed writes.", st.write_errors);
  metric("parley_store_reads_total", "counter", "Read jobs run.", st.reads);
  metric("parley_database_up", "gauge", "1 when the database answers.",
         hub_.archive().database_up() ? 1 : 0);
  Response res{http::status::ok, call.req.version()};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.body() = std::move(out);
  res.keep_alive(call.req.keep_alive());
  res.prepare_payload();
  return res;
}

asio::awaitable<Response> RestEndpoint::list_conversations(Call& call) {
  store::ListQuery q;
  auto limit = call.int_param("limit");
  if (limit && *limit < 0) co_return bad_request(call.req, "limit must be a non-negative integer");
  q.limit = std::clamp<std::size_t>(limit ? static_cast<std::size_t>(*limit) : 50, 1, 500);
  q.cursor = call.param("cursor");
  q.q = call.param("q");
  if (auto user = call.param("user"); !user.empty()) {
    if (!is_valid_id(user)) co_return bad_request(call.req, "invalid user id");
    q.user = user;
  }
  // A restricted caller sees only their own conversations, and of those only the ones the
  // access rule still lets them see (Archive::list).
  const Start<store::ConversationPage> start = [this, viewer = viewer_of(call),
                                                q](Done<store::ConversationPage> done) {
    hub_.archive().list(viewer, q, std::move(done));
  };
  auto page = co_await await_result<store::ConversationPage>(start);
  if (!page) co_return error_from(call.req, page.error(), "conversations");
  json::array arr;
  for (const auto& s : page->conversations) arr.emplace_back(summary_to_json(s));
  json::object o;
  o.emplace("conversations", std::move(arr));
  if (page->next_cursor.empty()) {
    o.emplace("next_cursor", nullptr);
  } else {
    o.emplace("next_cursor", page->next_cursor);
  }
  co_return json_response(call.req, http::status::ok, o);
}

asio::awaitable<Response> RestEndpoint::create_conversation(Call& call,
                                                           const std::string& address) {
  if (call.restricted() && options_.admins_create_only) {
    co_return forbidden(call.req, "creating conversations needs an admin");
  }
  std::optional<Response> err;
  json::object body;
  if (call.req.body().empty()) {
    body = json::object();
  } else if (auto b = body_object(call.req, err)) {
    body = std::move(*b);
  } else {
    co_return std::move(*err);
  }
  std::string why;
  std::optional<std::string> id, title, settings, meta;
  std::optional<std::vector<UserId>> participants;
  if (!get_string(body, "id", id, why) || !get_string(body, "title", title, why) ||
      !get_object_text(body, "settings", settings, why) ||
      !get_object_text(body, "meta", meta, why) || !get_participants(body, participants, why)) {
    co_return bad_request(call.req, why);
  }
  if (id && !is_valid_id(*id)) co_return bad_request(call.req, "invalid conversation id");
  if (call.restricted() && participants && !participants->empty()) {
    co_return forbidden(call.req, "creating a conversation with participants needs an admin");
  }
  // A user naming the id would learn whether a conversation they may not see exists (409
  // against 201): a hidden one must answer as a missing one does (docs/security.md), and
  // only a refusal that does not look can. Users get a fresh unguessable id instead.
  if (call.restricted() && id) {
    co_return forbidden(call.req, "choosing a conversation id needs an admin; leave id out");
  }
  // Each creation is a durable write: 10,000 took 7.3 s from one client (issue 14).
  if (!call.admin) {
    if (const long wait = hub_.take_creation(call.user, address); wait > 0) {
      stats_.rest_rate_limited.fetch_add(1, std::memory_order_relaxed);
      auto res = error_response(call.req, http::status::too_many_requests, "rate_limited",
                                "too many conversations created; retry after " +
                                    std::to_string(wait) + " s");
      res.set(http::field::retry_after, std::to_string(wait));
      co_return res;
    }
  }
  store::NewConversation nc;
  nc.id = id.value_or(new_short_id());
  nc.title = title.value_or("");
  nc.participants = participants.value_or(std::vector<UserId>{});
  nc.settings = settings.value_or("{}");
  nc.meta = meta.value_or("{}");
  nc.created_at = now_ms();
  const Start<Conversation> start = [this, nc](Done<Conversation> done) {
    hub_.archive().create(nc, std::move(done));
  };
  auto r = co_await await_result<Conversation>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  co_return json_response(call.req, http::status::created, conversation_to_json(*r));
}

asio::awaitable<Response> RestEndpoint::get_conversation(Call& call, const std::string& id) {
  auto limit = call.int_param("limit");
  if (limit && *limit < 0) co_return bad_request(call.req, "limit must be a non-negative integer");
  // The access rule is the archive's: the page (or the stream's head) answers not_found for a
  // conversation the caller may not see. Without `limit`, every message: streamed, as the json export is (the same document).
  // Built in memory, four concurrent GETs of a 92.5 MB conversation peaked at 1.4 GB and
  // left 756 MB held (issue 14).
  if (!limit) co_return co_await stream_conversation(call, id, ExportFormat::json, false);
  // The latest `limit`, clamped like every history page, from the one pager.
  const auto n = std::clamp<std::size_t>(static_cast<std::size_t>(*limit), 0,
                                         hub_.options().limits.max_history_limit);
  const Start<hub::Archive::Page> start = [this, viewer = viewer_of(call), id,
                                           n](Done<hub::Archive::Page> done) {
    hub_.archive().page(viewer, id, hub::Archive::PageQuery{std::nullopt, std::nullopt, n},
                        std::move(done));
  };
  auto r = co_await await_result<hub::Archive::Page>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  auto o = conversation_to_json(r->conversation);
  json::array arr;
  arr.reserve(r->messages.size());
  for (const auto& m : r->messages) arr.emplace_back(message_json(m));
  o.emplace("messages", std::move(arr));
  co_return json_response(call.req, http::status::ok, o);
}

asio::awaitable<Response> RestEndpoint::put_conversation(Call& call, const std::string& id) {
  if (call.restricted()) co_return forbidden(call.req, "saving a whole conversation needs an admin");
  std::optional<Response> err;
  auto body = body_object(call.req, err);
  if (!body) co_return std::move(*err);
  std::string why;
  std::optional<std::string> title, settings, meta;
  std::optional<std::vector<UserId>> participants;
  if (!get_string(*body, "title", title, why) ||
      !get_object_text(*body, "settings", settings, why) ||
      !get_object_text(*body, "meta", meta, why) || !get_participants(*body, participants, why)) {
    co_return bad_request(call.req, why);
  }
  store::WholeConversation whole;
  whole.id = id;
  whole.title = title.value_or("");
  whole.settings = settings.value_or("{}");
  whole.meta = meta.value_or("{}");
  whole.participants = participants.value_or(std::vector<UserId>{});
  whole.created_at = get_time(*body, "created_at").value_or(0);
  whole.updated_at = get_time(*body, "updated_at").value_or(0);
  if (const auto* msgs = body->if_contains("messages")) {
    if (!msgs->is_array()) co_return bad_request(call.req, "messages must be an array");
    whole.messages.reserve(msgs->get_array().size());
    for (const auto& v : msgs->get_array()) {
      NewMessage m;
      m.conversation = id;
      if (!whole_message(v, m, why)) co_return bad_request(call.req, why);
      if (m.content.size() > options_.max_content_bytes) {
        co_return error_response(call.req, http::status::payload_too_large, "too_large",
                                 "a message is larger than the content limit");
      }
      whole.messages.push_back(std::move(m));
    }
  }
  // The live room follows (Archive::replace).
  const Start<Conversation> start = [this, whole = std::move(whole)](Done<Conversation> done) {
    hub_.archive().replace(whole, std::move(done));
  };
  auto r = co_await await_result<Conversation>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  co_return json_response(call.req, http::status::ok, conversation_to_json(*r));
}

asio::awaitable<Response> RestEndpoint::patch_conversation(Call& call, const std::string& id) {
  std::optional<Response> err;
  auto body = body_object(call.req, err);
  if (!body) co_return std::move(*err);
  std::string why;
  store::ConversationPatch patch;
  if (!get_string(*body, "title", patch.title, why) ||
      !get_object_text(*body, "settings", patch.settings, why) ||
      !get_object_text(*body, "meta", patch.meta, why) ||
      !get_participants(*body, patch.participants, why)) {
    co_return bad_request(call.req, why);
  }
  if (const auto* a = body->if_contains("is_active"); a && !a->is_null()) {
    if (!a->is_bool()) co_return bad_request(call.req, "is_active must be a boolean");
    patch.is_active = a->get_bool();
  }
  if (auto v = co_await check_visible(call, id); !v) {
    co_return error_from(call.req, v.error(), "conversation");
  }
  if (call.restricted() && patch.participants) {
    co_return forbidden(call.req, "changing participants needs an admin");
  }
  // The live room reloads its participants (Archive::update).
  const Start<Conversation> start = [this, id, patch](Done<Conversation> done) {
    hub_.archive().update(id, patch, std::move(done));
  };
  auto r = co_await await_result<Conversation>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  co_return json_response(call.req, http::status::ok, conversation_to_json(*r));
}

asio::awaitable<Response> RestEndpoint::delete_conversation(Call& call, const std::string& id) {
  if (call.restricted()) co_return forbidden(call.req, "deleting a conversation needs an admin");
  const Start<void> start = [this, id](Done<void> done) {
    hub_.archive().remove(id, std::move(done));
  };
  auto r = co_await await_result<void>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  Response res{http::status::no_content, call.req.version()};
  res.keep_alive(call.req.keep_alive());
  co_return res;
}

asio::awaitable<Response> RestEndpoint::list_messages(Call& call, const std::string& id) {
  auto before = call.int_param("before");
  auto after = call.int_param("after");
  auto limit = call.int_param("limit");
  if ((before && *before < 0) || (after && *after < 0) || (limit && *limit < 0)) {
    co_return bad_request(call.req, "before, after and limit must be non-negative integers");
  }
  // limit=0 is "the default page", as on /ws and Socket.IO (protocol::history_limit).
  const std::size_t n = protocol::history_limit(
      limit ? std::optional<std::size_t>(static_cast<std::size_t>(*limit)) : std::nullopt,
      hub_.options().limits);
  hub::Archive::PageQuery query{after ? std::optional<Seq>(*after) : std::nullopt,
                                before ? std::optional<Seq>(*before) : std::nullopt, n};
  const Start<hub::Archive::Page> start = [this, viewer = viewer_of(call), id,
                                           query](Done<hub::Archive::Page> done) {
    hub_.archive().page(viewer, id, query, std::move(done));
  };
  auto r = co_await await_result<hub::Archive::Page>(start);
  if (!r) co_return error_from(call.req, r.error(), "conversation");
  co_return json_response(call.req, http::status::ok,
                          history_json(id, r->messages, r->has_more, r->conversation.last_seq));
}

// A command refused by protocol::check: 413 for sizes, 400 for the rest.
static Response rule_error(const net::Request& req, boost::system::error_code ec,
                           const std::string& why) {
  if (ec == Errc::too_large) {
    return error_response(req, http::status::payload_too_large, "too_large", why);
  }
  return bad_request(req, why);
}

asio::awaitable<Response> RestEndpoint::post_message(Call& call, const std::string& id) {
  std::optional<Response> err;
  auto body = body_object(call.req, err);
  if (!body) co_return std::move(*err);
  std::string why;
  std::optional<std::string> content, kind, client_id, meta;
  if (!get_string(*body, "content", content, why) || !get_string(*body, "kind", kind, why) ||
      !get_string(*body, "client_id", client_id, why) ||
      !get_object_text(*body, "meta", meta, why)) {
    co_return bad_request(call.req, why);
  }
  NewMessage m;
  m.conversation = id;
  const auto* sender = body->if_contains("sender");
  if (!sender || !sender->is_object())
    co_return bad_request(call.req, "sender {id, name, role} is required");
  {
    std::optional<std::string> sid, sname, srole;
    const auto& so = sender->get_object();
    if (!get_string(so, "id", sid, why) || !get_string(so, "name", sname, why) ||
        !get_string(so, "role", srole, why)) {
      co_return bad_request(call.req, "sender." + why);
    }
    if (!sid || !is_valid_id(*sid)) co_return bad_request(call.req, "sender.id is required");
    m.sender = Sender{*sid, sname.value_or(""), srole.value_or("bot")};
  }
  if (call.restricted()) {
    // A user posts as themselves, whatever the body says.
    m.sender = Sender{call.user.id, call.user.name.empty() ? m.sender.name : call.user.name,
                      call.user.role};
  }
  if (!content) co_return bad_request(call.req, "content is required");
  // The same rules as a send over /ws or Socket.IO (protocol::check), then the same hub
  // operation.
  protocol::Command cmd;
  cmd.op = protocol::Op::send;
  cmd.conversation = id;
  cmd.content = std::move(*content);
  cmd.kind = kind.value_or("text");
  cmd.meta = meta.value_or("{}");
  cmd.client_id = std::move(client_id);
  if (auto ec = protocol::check(cmd, hub_.options().limits, why)) co_return rule_error(call.req, ec, why);
  m.content = std::move(cmd.content);
  m.kind = std::move(cmd.kind);
  m.meta = std::move(cmd.meta);
  m.client_id = std::move(cmd.client_id);
  if (auto v = co_await check_visible(call, id, true); !v) {
    co_return error_from(call.req, v.error(), "conversation");
  }
  std::function<void(std::function<void(Result<Appended>)>)> job9 =
      [this, m = std::move(m)](std::function<void(Result<Appended>)> done) mutable {
        hub_.post_message(std::move(m), done);
      };
  auto r = co_await await_result<Appended>(job9);
  if (!r) co_return error_from(call.req, r.error(), "message");
  co_return json_response(call.req, r->duplicate ? http::status::ok : http::status::created,
                          message_json(r->message));
}

asio::awaitable<Response> RestEndpoint::change_message(Call& call, const std::string& id, Seq seq) {
  if (auto v = co_await check_visible(call, id); !v) {
    co_return error_from(call.req, v.error(), "conversation");
  }
  // Users change only their own messages; admins (and open mode) any.
  std::optional<UserId> by;
  if (call.restricted()) by = call.user.id;
  Result<StoredMessage> r = Errc::internal;
  if (call.req.method() == http::verb::patch) {
    std::optional<Response> err;
    auto body = body_object(call.req, err);
    if (!body) co_return std::move(*err);
    std::string why;
    std::optional<std::string> content;
    if (!get_string(*body, "content", content, why)) co_return bad_request(call.req, why);
    if (!content) co_return bad_request(call.req, "content is required");
    protocol::Command cmd;
    cmd.op = protocol::Op::edit;
    cmd.conversation = id;
    cmd.seq = seq;
    cmd.content = *content;
    if (auto ec = protocol::check(cmd, hub_.options().limits, why)) {
      co_return rule_error(call.req, ec, why);
    }
    std::function<void(std::function<void(Result<StoredMessage>)>)> job10 =
        [&](std::function<void(Result<StoredMessage>)> done) {
          hub_.edit_message(id, seq, *content, by, done);
        };
    r = co_await await_result<StoredMessage>(job10);
    if (!r) co_return error_from(call.req, r.error(), "message");
    co_return json_response(call.req, http::status::ok, message_json(*r));
  }
  std::function<void(std::function<void(Result<StoredMessage>)>)> job11 =
      [&](std::function<void(Result<StoredMessage>)> done) {
        hub_.delete_message(id, seq, by, done);
      };
  r = co_await await_result<StoredMessage>(job11);
  if (!r) co_return error_from(call.req, r.error(), "message");
  Response res{http::status::no_content, call.req.version()};
  res.keep_alive(call.req.keep_alive());
  co_return res;
}

asio::awaitable<Response> RestEndpoint::export_conversation(Call& call, const std::string& id) {
  auto format = parse_export_format(call.param("format"));
  if (!format) co_return bad_request(call.req, "format must be json, jsonl, markdown or csv");
  if (auto v = co_await check_visible(call, id); !v) {
    co_return error_from(call.req, v.error(), "conversation");
  }
  co_return co_await stream_conversation(call, id, *format, true);
}

asio::awaitable<Response> RestEndpoint::stream_conversation(Call& call, const std::string& id,
                                                            ExportFormat format, bool download) {
  constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
  // A page per reader job: the reader thread is never held while a slow client reads, and
  // a page of 256 messages is at most 16 MiB at the 64 KiB content limit (about 100 KB for
  // ordinary chat). Built whole, one export of a 92.5 MB conversation added 178 MB of RSS.
  constexpr std::size_t kPage = 256;
  if (streams_.fetch_add(1, std::memory_order_relaxed) >= options_.max_streams) {
    streams_.fetch_sub(1, std::memory_order_relaxed);
    auto res = error_response(call.req, http::status::service_unavailable, "unavailable",
                              "too many exports at once; retry shortly");
    res.set(http::field::retry_after, "1");
    co_return res;
  }
  struct Release {
    std::atomic<std::size_t>& n;
    ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }
  } release{streams_};

  const auto viewer = viewer_of(call);
  const Start<Conversation> head_start = [this, viewer, id](Done<Conversation> done) {
    hub_.archive().conversation(viewer, id, std::move(done));
  };
  auto conv = co_await await_result<Conversation>(head_start);
  if (!conv) co_return error_from(call.req, conv.error(), "conversation");

  http::response<http::empty_body> head{http::status::ok, call.req.version()};
  head.set(http::field::content_type, download ? export_content_type(format)
                                               : std::string_view("application/json"));
  head.set(http::field::cache_control, "no-store");
  if (download) {
    head.set(http::field::content_disposition, "attachment; filename=\"conversation-" + id + "." +
                                                   std::string(export_extension(format)) + "\"");
  }
  if (!call.cors_origin.empty()) {
    head.set(http::field::access_control_allow_origin, call.cors_origin);
    head.set(http::field::vary, "Origin");
    head.set(http::field::access_control_expose_headers, "Content-Disposition");
  }
  net::set_standard_headers(head);
  head.chunked(true);
  head.keep_alive(false);  // the HTTP session ends after a streamed response
  auto& stream = call.ctx->stream;
  call.streamed = true;
  // A reader that stops reading is dropped after a minute without progress.
  stream.expires_after(std::chrono::seconds(60));
  http::response_serializer<http::empty_body> serializer{head};
  if (auto [ec, n] = co_await http::async_write_header(stream, serializer, kNoThrow); ec) {
    co_return Response{};
  }
  std::string buf;
  export_head(buf, *conv, format);
  Seq after = 0;
  bool first = true;
  const Seq last = conv->last_seq;  // what the head announced; later messages wait for next time
  for (bool done = false; !done;) {
    // The one pager; access was settled by the head (a page re-checks it: a conversation
    // restricted mid-export stops the export there).
    const Start<hub::Archive::Page> page_start = [this, viewer, id,
                                                  after](Done<hub::Archive::Page> cb) {
      hub_.archive().page(viewer, id, hub::Archive::PageQuery{after, std::nullopt, kPage},
                          std::move(cb));
    };
    auto page = co_await await_result<hub::Archive::Page>(page_start);
    if (!page) {
      // The status is sent: end without the last chunk, so the client sees it incomplete.
      spdlog::warn("export of {}: stopped after seq {}: {}", id, after, page.error().message());
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      co_return Response{};
    }
    done = !page->has_more;
    for (const auto& m : page->messages) {
      if (m.seq > last) {
        done = true;
        break;
      }
      export_message(buf, m, format, first);
      first = false;
      after = m.seq;
    }
    page->messages.clear();
    if (done) export_tail(buf, format);
    if (buf.empty()) continue;
    stream.expires_after(std::chrono::seconds(60));
    auto [ec, n] = co_await asio::async_write(stream, http::make_chunk(asio::buffer(buf)), kNoThrow);
    if (ec) co_return Response{};
    buf.clear();
    if (buf.capacity() > 1024 * 1024) buf.shrink_to_fit();
  }
  stream.expires_after(std::chrono::seconds(60));
  (void)co_await asio::async_write(stream, http::make_chunk_last(), kNoThrow);
  co_return Response{};
}

asio::awaitable<Response> RestEndpoint::search(Call& call) {
  store::SearchQuery q;
  q.text = call.param("q");
  if (q.text.empty()) co_return bad_request(call.req, "q is required");
  if (auto conv = call.param("conversation"); !conv.empty()) {
    if (!is_valid_id(conv)) co_return bad_request(call.req, "invalid conversation id");
    q.conversation = conv;
  }
  auto limit = call.int_param("limit");
  if (limit && *limit < 0) co_return bad_request(call.req, "limit must be a non-negative integer");
  q.limit = std::clamp<std::size_t>(limit ? static_cast<std::size_t>(*limit) : 20, 1, 200);
  if (q.conversation) {
    if (auto v = co_await check_visible(call, *q.conversation); !v) {
      co_return error_from(call.req, v.error(), "conversation");
    }
  }
  // A search in one conversation was checked above; across conversations the archive keeps
  // only hits the caller may see, after catching the index up (read-your-writes).
  const Start<std::vector<store::SearchHit>> start =
      [this, viewer = viewer_of(call), q](Done<std::vector<store::SearchHit>> done) {
        hub_.archive().search(viewer, q, std::move(done));
      };
  auto hits = co_await await_result<std::vector<store::SearchHit>>(start);
  if (!hits) co_return error_from(call.req, hits.error(), "search");
  json::array arr;
  for (const auto& h : *hits) {
    json::object o;
    o.emplace("conversation", h.message.conversation);
    o.emplace("seq", h.message.seq);
    o.emplace("snippet", h.snippet);
    o.emplace("sender", h.message.sender.id);
    o.emplace("created_at", format_rfc3339(h.message.created_at));
    o.emplace("message", message_json(h.message));
    arr.emplace_back(std::move(o));
  }
  json::object o;
  o.emplace("hits", std::move(arr));
  co_return json_response(call.req, http::status::ok, o);
}

// An app's back end keeps Parley's users (names, avatars) in step with its own database.
asio::awaitable<Response> RestEndpoint::put_user(Call& call, const std::string& id) {
  if (!is_valid_id(id)) co_return bad_request(call.req, "invalid user id");
  if (call.restricted()) co_return forbidden(call.req, "changing users needs an admin");
  std::optional<Response> err;
  auto body = body_object(call.req, err);
  if (!body) co_return std::move(*err);
  std::string why;
  std::optional<std::string> name, avatar, role;
  if (!get_string(*body, "name", name, why) || !get_string(*body, "avatar", avatar, why) ||
      !get_string(*body, "role", role, why)) {
    co_return bad_request(call.req, why);
  }
  if (name.value_or("").size() > 256 || avatar.value_or("").size() > 2048 ||
      role.value_or("").size() > 64) {
    co_return bad_request(call.req, "name, avatar or role is too long");
  }
  User u{id, name.value_or(""), avatar.value_or(""), role.value_or(""), std::nullopt};
  const Start<void> start = [this, u](Done<void> done) {
    hub_.archive().save_user(u, std::move(done));
  };
  if (auto r = co_await await_result<void>(start); !r) {
    co_return error_from(call.req, r.error(), "user");
  }
  co_return co_await get_user(call, id);
}

asio::awaitable<Response> RestEndpoint::get_user(Call& call, const std::string& id) {
  if (!is_valid_id(id)) co_return bad_request(call.req, "invalid user id");
  // Ordered after the user's own auth (Archive::user), so a client that authenticated and
  // then asks finds itself.
  const Start<User> start = [this, id](Done<User> done) { hub_.archive().user(id, std::move(done)); };
  auto u = co_await await_result<User>(start);
  if (!u) co_return error_from(call.req, u.error(), "user");
  // Token mode: whether someone is online, and when they were last seen, is told to
  // themselves, admins and users who share a conversation with them; anyone else gets
  // the profile with both null.
  bool presence = !call.restricted() || id == call.user.id;
  if (!presence) {
    const Start<bool> shared = [this, me = call.user, them = id](Done<bool> done) {
      hub_.archive().share_conversation(me, them, std::move(done));
    };
    auto r = co_await await_result<bool>(shared);
    if (!r) co_return error_from(call.req, r.error(), "user");
    presence = *r;
  }
  json::object o;
  o.emplace("id", u->id);
  o.emplace("name", u->name);
  o.emplace("avatar", u->avatar);
  o.emplace("role", u->role);
  if (!presence) {
    o.emplace("status", nullptr);
    o.emplace("last_seen", nullptr);
  } else {
    o.emplace("status", hub_.is_online(id) ? "online" : "offline");
    if (u->last_seen) {
      o.emplace("last_seen", format_rfc3339(*u->last_seen));
    } else {
      o.emplace("last_seen", nullptr);
    }
  }
  co_return json_response(call.req, http::status::ok, o);
}

}  // namespace parley::api
