#include "protocol/socketio/vocabulary.hpp"

#include <boost/json/parse.hpp>

#include "core/ids.hpp"
#include "core/time.hpp"
#include "protocol/socketio/socketio_events.hpp"
#include "protocol/socketio/socketio_packet.hpp"

namespace parley::protocol::socketio::detail {
namespace json = boost::json;

bool valid_conversation(const std::string& id, std::string_view key, std::string& why) {
  if (is_valid_id(id)) return true;
  why = std::string(key) + " must be 1-128 characters of letters, digits and -_.:@";
  return false;
}

bool argument(const json::array& args, std::string_view string_key, json::object& out,
              std::string& why) {
  if (args.size() < 2 || args[1].is_null()) {
    why = "the event needs an object argument";
    return false;
  }
  if (args[1].is_object()) {
    out = args[1].get_object();
    return true;
  }
  if (!string_key.empty() && (args[1].is_string() || args[1].is_int64() || args[1].is_uint64())) {
    out.emplace(string_key, args[1]);
    return true;
  }
  why = "the event argument must be an object";
  return false;
}

std::string timestamp(TimeMs t) { return format_rfc3339(t); }

json::value seq_value(Seq seq) { return seq == 0 ? json::value(nullptr) : json::value(seq); }

json::value meta_avatar(const StoredMessage& m) {
  if (m.meta.empty() || m.meta == "{}") return nullptr;
  boost::system::error_code ec;
  json::value meta = json::parse(m.meta, ec);
  if (ec || !meta.is_object()) return nullptr;
  if (const auto* a = meta.get_object().if_contains(kAvatarMetaKey); a && a->is_string()) {
    return *a;
  }
  return nullptr;
}

std::string event_packet(std::string_view name, json::value arg) {
  json::array args;
  args.reserve(2);
  args.emplace_back(name);
  args.emplace_back(std::move(arg));
  return socketio::encode_event("/", args);
}

}  // namespace parley::protocol::socketio::detail
