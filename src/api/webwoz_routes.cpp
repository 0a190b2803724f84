#include "api/webwoz_routes.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <filesystem>

#include "api/await.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "net/http_server.hpp"
#include "net/request_target.hpp"
#include "protocol/webwoz.hpp"

namespace parley::api {

namespace asio = boost::asio;
namespace json = boost::json;
namespace http = boost::beast::http;
namespace webwoz = protocol::webwoz;
using net::Response;

struct WebWozEndpoint::Call {
  const net::Request& req;
  std::vector<std::string> segments;
};

namespace {

// Flask's jsonify: a JSON body with application/json.
Response app_json(const net::Request& req, http::status status, const json::value& body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response app_error(const net::Request& req, http::status status, std::string_view message) {
  json::object o;
  o.emplace("error", message);
  return app_json(req, status, o);
}

Response method_not_allowed(const net::Request& req) {
  return app_error(req, http::status::method_not_allowed,
                   "The method is not allowed for the requested URL.");
}

Response storage_error(const net::Request& req, const boost::system::error_code& ec) {
  spdlog::warn("webwoz: storage error: {}", ec.message());
  return app_error(req,
                   ec == Errc::unavailable ? http::status::service_unavailable
                                           : http::status::internal_server_error,
                   ec == Errc::unavailable ? "storage is unavailable" : "storage error");
}

// request.get_json(silent=True) or {}: anything but a JSON object reads as {}.
json::object body_object(const net::Request& req) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.get_object());
}

// A string member, or nullopt when absent, null or not a string.
std::optional<std::string> str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// --- Template changes, as the app's routes make them on its TEMPLATES dict ----------------
// The set is a list in the dict's order; a category's entries are contiguous (they are
// inserted after the category's last one), so templates_object() rebuilds the same dict.

struct TemplateOutcome {
  http::status status = http::status::ok;
  json::object body;
  bool changed = false;
};

TemplateOutcome outcome(http::status status, std::string_view key, std::string_view value,
                        bool changed = false) {
  TemplateOutcome o;
  o.status = status;
  o.body.emplace(key, value);
  o.changed = changed;
  return o;
}

bool has_name(const std::vector<Template>& set, std::string_view name) {
  return std::any_of(set.begin(), set.end(), [&](const Template& t) { return t.category == name; });
}

bool is_top_level(const std::vector<Template>& set, std::string_view name) {
  return std::any_of(set.begin(), set.end(),
                     [&](const Template& t) { return t.category == name && t.key.empty(); });
}

// TEMPLATES[name] = entries: in place of what `name` held (Python keeps a key's position on
// assignment), else at the end.
void assign_name(std::vector<Template>& set, const std::string& name,
                 std::vector<Template> entries) {
  auto first = std::find_if(set.begin(), set.end(),
                            [&](const Template& t) { return t.category == name; });
  const auto at = first - set.begin();
  std::erase_if(set, [&](const Template& t) { return t.category == name; });
  set.insert(set.begin() + std::min<std::ptrdiff_t>(at, std::ssize(set)), entries.begin(),
             entries.end());
}

// TEMPLATES.setdefault(category, {})[key] = value.
void put_item(std::vector<Template>& set, const std::string& category, const std::string& key,
              const std::string& value) {
  for (Template& t : set) {
    if (t.category == category && t.key == key) {
      t.value = value;
      return;
    }
  }
  // After the category's last entry; a new category goes at the end.
  auto last = std::find_if(set.rbegin(), set.rend(),
                           [&](const Template& t) { return t.category == category; });
  set.insert(last == set.rend() ? set.end() : last.base(), Template{category, key, value});
}

// The change a request asks for, applied to `set`. Runs on the storage writer thread.
TemplateOutcome change_templates(std::vector<Template>& set, http::verb method,
                                 const std::vector<std::string>& s, const json::object& body) {
  using http::status;
  if (s.size() == 2 && method == http::verb::post) {  // POST /api/templates {key, value}
    const auto key = str(body, "key");
    const auto value = str(body, "value");
    if (!key || key->empty() || !value || value->empty()) {
      return outcome(status::bad_request, "error", "Both 'key' and 'value' are required.");
    }
    if (has_name(set, *key)) return outcome(status::conflict, "error", "Template already exists.");
    set.push_back(Template{*key, "", *value});
    return outcome(status::created, "status", "created", true);
  }
  if (s.size() == 3 && s[2] == "item" && method == http::verb::post) {
    // POST /api/templates/item {category?, key, value}
    auto category = str(body, "category");
    if (!category || category->empty()) category = "General";
    const auto key = str(body, "key");
    const auto value = str(body, "value");
    if (!key || key->empty() || !value || value->empty()) {
      return outcome(status::bad_request, "error", "'key' and 'value' required");
    }
    const bool exists = std::any_of(set.begin(), set.end(), [&](const Template& t) {
      return t.category == *category && t.key == *key;
    });
    if (exists || is_top_level(set, *category)) {
      return outcome(status::conflict, "error", "Template already exists");
    }
    put_item(set, *category, *key, *value);
    return outcome(status::created, "status", "created", true);
  }
  if (s.size() == 3 && method == http::verb::put) {  // PUT /api/templates/<key> {value}
    const json::value* value = body.if_contains("value");
    if (!value || value->is_null()) return outcome(status::bad_request, "error", "'value' is required.");
    if (value->is_string()) {
      assign_name(set, s[2], {Template{s[2], "", std::string(value->get_string())}});
    } else {
      // A whole category: the app takes any JSON; Parley keeps templates as text.
      std::string why;
      json::object wrapped;
      wrapped.emplace(s[2], *value);
      auto entries = webwoz::templates_from_json(wrapped, why);
      if (!entries || !value->is_object() || value->get_object().empty()) {
        return outcome(status::bad_request, "error",
                       "'value' must be a string or an object of strings.");
      }
      assign_name(set, s[2], std::move(*entries));
    }
    return outcome(status::ok, "status", "updated", true);
  }
  if (s.size() == 3 && method == http::verb::delete_) {  // DELETE /api/templates/<key>
    if (!has_name(set, s[2])) return outcome(status::not_found, "error", "Template not found.");
    std::erase_if(set, [&](const Template& t) { return t.category == s[2]; });
    return outcome(status::ok, "status", "deleted", true);
  }
  if (s.size() == 4 && method == http::verb::put) {  // PUT /api/templates/<category>/<key>
    const json::value* value = body.if_contains("value");
    if (!value || value->is_null()) return outcome(status::bad_request, "error", "'value' required");
    if (!value->is_string()) {
      return outcome(status::bad_request, "error", "'value' must be a string");
    }
    if (is_top_level(set, s[2])) {
      return outcome(status::conflict, "error", "'" + s[2] + "' is a template, not a category");
    }
    put_item(set, s[2], s[3], std::string(value->get_string()));
    return outcome(status::ok, "status", "updated", true);
  }
  if (s.size() == 4 && method == http::verb::delete_) {  // DELETE /api/templates/<category>/<key>
    const auto before = set.size();
    std::erase_if(set, [&](const Template& t) { return t.category == s[2] && t.key == s[3]; });
    if (set.size() == before) return outcome(status::not_found, "error", "Not found");
    return outcome(status::ok, "status", "deleted", true);  // an emptied category is gone
  }
  return outcome(status::method_not_allowed, "error",
                 "The method is not allowed for the requested URL.");
}

// One conversation's stored messages, oldest first, without deleted ones.
Result<std::vector<StoredMessage>> read_all(const hub::Archive::Stores& c, const std::string& room) {
  std::vector<StoredMessage> out;
  auto ok = c.messages.for_each_message(room, 0, [&](const StoredMessage& m) {
    if (!m.deleted) out.push_back(m);
    return true;
  });
  if (!ok) return ok.error();
  return out;
}

}  // namespace

WebWozEndpoint::WebWozEndpoint(hub::Hub& hub, net::Endpoint& parley_rest, WebWozOptions options)
    : hub_(hub), parley_rest_(parley_rest), options_(std::move(options)) {}

asio::awaitable<std::optional<Response>> WebWozEndpoint::serve(net::HttpContext& ctx) {
  auto target = net::parse_request_target(ctx.request.target());
  if (!target) {
    co_return app_error(ctx.request, http::status::bad_request, "malformed request target");
  }
  Call call{ctx.request, std::move(target->segments)};
  co_return co_await route(ctx, call);
}

asio::awaitable<std::optional<Response>> WebWozEndpoint::route(net::HttpContext& ctx, Call& call) {
  const auto& s = call.segments;
  const auto method = call.req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  if (s.size() == 1 && s[0] == "health") {
    if (!get) co_return method_not_allowed(call.req);
    co_return co_await health(ctx, call);
  }
  if (s.size() >= 2 && s[0] == "api") {
    if (s[1] == "new_room" && s.size() == 2) {
      if (method != http::verb::post) co_return method_not_allowed(call.req);
      co_return co_await new_room(call);
    }
    if (s[1] == "conversations") {
      if (s.size() == 2 || (s.size() == 3 && s[2] == "stats")) {
        if (!get) co_return method_not_allowed(call.req);
        co_return co_await list_conversations(call, s.size() == 3);
      }
      if (s.size() == 3 && get) co_return co_await get_conversation(call, s[2], false);
      if (s.size() == 3 && method == http::verb::delete_) {
        co_return co_await delete_conversation(call, s[2]);
      }
      if (s.size() == 4 && s[3] == "export" && get) {
        co_return co_await get_conversation(call, s[2], true);
      }
      if (s.size() <= 4) co_return method_not_allowed(call.req);
      co_return app_error(call.req, http::status::not_found, "Not Found");
    }
    if (s[1] == "templates" && s.size() <= 4) co_return co_await templates(call);
    if (s[1] == "bot") co_return bot(call);
  }
  if (s.empty() || s[0] == "api") {
    // Parley's own API under the WebWOz paths it does not take (/api/search, /api/users...).
    co_return co_await parley_rest_.serve(ctx);
  }
  co_return app_error(call.req, http::status::not_found, "Not Found");
}

asio::awaitable<Response> WebWozEndpoint::new_room(Call& call) {
  // uuid.uuid4().hex[:8], again while taken (reserved here, or stored).
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string id = new_short_id().substr(0, 8);
    {
      std::lock_guard lock(rooms_mu_);
      if (!reserved_rooms_.insert(id).second) continue;
    }
    hub::Archive::Job<bool> job = [id](const hub::Archive::Stores& c) -> Result<bool> {
      auto conv = c.conversations.get_conversation(id);
      if (conv) return true;
      if (conv.error() == Errc::not_found) return false;
      return Result<bool>(boost::system::in_place_error, conv.error());
    };
    auto taken = co_await archive_read<bool>(hub_.archive(), job);
    if (!taken || *taken) {
      std::lock_guard lock(rooms_mu_);
      reserved_rooms_.erase(id);
      if (!taken) co_return storage_error(call.req, taken.error());
      continue;
    }
    json::object o;
    o.emplace("room", id);
    co_return app_json(call.req, http::status::ok, o);
  }
  co_return app_error(call.req, http::status::service_unavailable, "no free room id");
}

asio::awaitable<Response> WebWozEndpoint::health(net::HttpContext& ctx, Call& call) {
  // Parley's own fields first (its status code too: 503 when storage is down), then the
  // app's on top; where both have a field, the app's shape wins and Parley's is kept under
  // another name (database -> database_status, timestamp in the app's format).
  auto own = co_await parley_rest_.serve(ctx);
  json::object o;
  http::status status = http::status::ok;
  if (own) {
    status = own->result();
    boost::system::error_code ec;
    auto v = json::parse(own->body(), ec);
    if (!ec && v.is_object()) o = std::move(v.get_object());
  }
  const bool up = status == http::status::ok;
  auto& archive = hub_.archive();
  const std::string_view kind = archive.database_kind();
  if (const auto* db = o.if_contains("database"); db && db->is_string()) {
    json::value status_text = *db;  // copied first: the insertion may move o's storage
    o["database_status"] = std::move(status_text);
  }
  const bool have_dir = !options_.frontend_dir.empty();
  auto dir_exists = [&](const char* sub) {
    std::error_code ec;
    return have_dir && std::filesystem::is_directory(
                           std::filesystem::path(options_.frontend_dir) / sub, ec);
  };
  std::error_code ec;
  const bool data_dir_exists = std::filesystem::is_directory(options_.data_dir, ec);
  if (!o.contains("status") || (o["status"].is_string() && o["status"].get_string() == "healthy")) {
    o["status"] = "healthy";
  }
  o["timestamp"] = webwoz::timestamp(now_ms());
  o["bot_available"] = false;
  o["static_dir_exists"] = dir_exists(".");
  o["participant_dir_exists"] = dir_exists("participant");
  o["wizard_dir_exists"] = dir_exists("wizard");
  o["assets_dir_exists"] = dir_exists("static");
  o["data_dir"] = options_.data_dir;
  o["data_dir_exists"] = data_dir_exists;
  o["conversations_dir_exists"] = kind != "sqlite" || data_dir_exists;
  if (!o.contains("active_conversations")) o["active_conversations"] = hub_.active_rooms();
  if (!o.contains("saved_conversations")) o["saved_conversations"] = 0;
  o["persistent_storage"] = archive.persistent() && up;
  json::object db;
  db.emplace("available", up);
  db.emplace("using_postgres", kind == "postgresql");
  db.emplace("database_url_configured", options_.database_url_configured);
  o["database"] = std::move(db);
  co_return app_json(call.req, status, o);
}

asio::awaitable<Response> WebWozEndpoint::list_conversations(Call& call, bool stats) {
  // The app lists its conversation files: rooms with at least one message, newest
  // last_updated first (Parley's list order).
  hub::Archive::Job<json::array> job = [](const hub::Archive::Stores& c) -> Result<json::array> {
    json::array out;
    store::ListQuery q;
    q.limit = 500;
    for (;;) {
      auto page = c.listings.list_conversations(q);
      if (!page) return page.error();
      for (const auto& summary : page->conversations) {
        const Conversation& conv = summary.conversation;
        if (conv.message_count <= 0) continue;
        json::object o;
        o.emplace("room_id", conv.id);
        o.emplace("created_at", webwoz::timestamp(conv.created_at));
        o.emplace("last_updated", webwoz::timestamp(conv.updated_at));
        o.emplace("message_count", conv.message_count);
        out.emplace_back(std::move(o));
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    return out;
  };
  auto list = co_await archive_read<json::array>(hub_.archive(), job);
  if (!list) co_return storage_error(call.req, list.error());
  json::object o;
  if (!stats) {
    const auto count = list->size();
    o.emplace("conversations", std::move(*list));
    o.emplace("total_count", count);
    co_return app_json(call.req, http::status::ok, o);
  }
  std::int64_t total = 0;
  for (const auto& c : *list) total += c.as_object().at("message_count").as_int64();
  const auto n = static_cast<std::int64_t>(list->size());
  o.emplace("total_conversations", n);
  o.emplace("total_messages", total);
  if (n > 0) {
    o.emplace("average_messages_per_conversation", static_cast<double>(total) / static_cast<double>(n));
  } else {
    o.emplace("average_messages_per_conversation", 0);
  }
  o.emplace("data_directory", options_.data_dir);
  // The app's conversations/ folder of JSON files: Parley keeps them in its database.
  o.emplace("conversations_directory", options_.data_dir);
  o.emplace("storage_available", hub_.archive().database_up());
  co_return app_json(call.req, http::status::ok, o);
}

asio::awaitable<Response> WebWozEndpoint::get_conversation(Call& call, const std::string& room,
                                                           bool as_export) {
  if (!is_valid_id(room)) co_return app_error(call.req, http::status::not_found, "Conversation not found");
  hub::Archive::Job<std::vector<StoredMessage>> job = [room](const hub::Archive::Stores& c) { return read_all(c, room); };
  auto messages = co_await archive_read<std::vector<StoredMessage>>(hub_.archive(), job);
  if (!messages && messages.error() != Errc::not_found) {
    co_return storage_error(call.req, messages.error());
  }
  if (!messages || messages->empty()) {
    co_return app_error(call.req, http::status::not_found, "Conversation not found");
  }
  json::array list;
  list.reserve(messages->size());
  for (const auto& m : *messages) list.emplace_back(webwoz::message(m));
  json::object o;
  o.emplace("room_id", room);
  if (as_export) o.emplace("exported_at", webwoz::timestamp(now_ms()));
  o.emplace("message_count", messages->size());
  o.emplace("messages", std::move(list));
  if (!as_export) co_return app_json(call.req, http::status::ok, o);
  Response res{http::status::ok, call.req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::content_disposition, "attachment; filename=conversation_" + room + ".json");
  res.body() = webwoz::pretty(o);
  res.keep_alive(call.req.keep_alive());
  res.prepare_payload();
  co_return res;
}

asio::awaitable<Response> WebWozEndpoint::delete_conversation(Call& call, const std::string& room) {
  if (!is_valid_id(room)) co_return app_error(call.req, http::status::not_found, "Conversation not found");
  hub::Archive::Job<bool> job = [room](const hub::Archive::Stores& c) -> Result<bool> {
    auto conv = c.conversations.get_conversation(room);
    if (!conv) {
      if (conv.error() == Errc::not_found) return false;
      return Result<bool>(boost::system::in_place_error, conv.error());
    }
    if (conv->message_count <= 0) return false;  // the app has no file for it
    if (auto ok = c.conversations.delete_conversation(room); !ok) {
      return Result<bool>(boost::system::in_place_error, ok.error());
    }
    return true;
  };
  auto deleted = co_await archive_write<bool>(hub_.archive(), job);
  if (!deleted) co_return storage_error(call.req, deleted.error());
  if (!*deleted) co_return app_error(call.req, http::status::not_found, "Conversation not found");
  hub_.changed(room);  // here and on the other servers
  {
    std::lock_guard lock(rooms_mu_);
    reserved_rooms_.erase(room);
  }
  json::object o;
  o.emplace("status", "deleted");
  o.emplace("room_id", room);
  co_return app_json(call.req, http::status::ok, o);
}

asio::awaitable<Response> WebWozEndpoint::templates(Call& call) {
  const auto method = call.req.method();
  if (call.segments.size() == 2 &&
      (method == http::verb::get || method == http::verb::head)) {
    hub::Archive::Job<std::vector<Template>> job = [](const hub::Archive::Stores& c) { return c.templates.list_templates(); };
    auto set = co_await archive_read<std::vector<Template>>(hub_.archive(), job);
    if (!set) co_return storage_error(call.req, set.error());
    co_return app_json(call.req, http::status::ok, webwoz::templates_object(*set));
  }
  // Read, change and replace on the writer thread, then broadcast there: one change at a
  // time, each committed before anyone hears of it, broadcasts in commit order.
  const json::object body = body_object(call.req);
  const std::vector<std::string> segments = call.segments;
  const auto broadcast = options_.broadcast_templates;
  hub::Archive::Job<TemplateOutcome> job = [method, segments, body, broadcast](const hub::Archive::Stores& c)
      -> Result<TemplateOutcome> {
    auto set = c.templates.list_templates();
    if (!set) return set.error();
    TemplateOutcome result = change_templates(*set, method, segments, body);
    if (!result.changed) return result;
    if (auto ok = c.templates.replace_templates(*set); !ok) return ok.error();
    if (broadcast) broadcast(json::serialize(webwoz::templates_object(*set)));
    return result;
  };
  auto result = co_await archive_write<TemplateOutcome>(hub_.archive(), job);
  if (!result) co_return storage_error(call.req, result.error());
  co_return app_json(call.req, result->status, result->body);
}

Response WebWozEndpoint::bot(Call& call) {
  // The app's answers when BOT_AVAILABLE is false (its bot is Python code Parley does not
  // run): 200 with an error status, so the wizard's BotControls shows "Bot not available".
  const auto& s = call.segments;
  const auto method = call.req.method();
  json::object o;
  if (s.size() == 3 && s[2] == "types") {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed(call.req);
    o.emplace("rule", false);
    o.emplace("ai", false);
    o.emplace("message", "Bot service is not available.");
  } else if (s.size() == 4 && s[3] == "status") {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed(call.req);
    o.emplace("active", false);
    o.emplace("available", false);
    o.emplace("progress", "Bot not available");
  } else if (s.size() == 4 && s[3] == "start") {
    if (method != http::verb::post) return method_not_allowed(call.req);
    o.emplace("status", "error");
    o.emplace("message", "Bot service is not available. Please check the server configuration.");
  } else if (s.size() == 4 && s[3] == "stop") {
    if (method != http::verb::post) return method_not_allowed(call.req);
    o.emplace("status", "error");
    o.emplace("message", "Bot service is not available.");
  } else {
    return app_error(call.req, http::status::not_found, "Not Found");
  }
  return app_json(call.req, http::status::ok, o);
}

}  // namespace parley::api
