// libFuzzer target: the native protocol's frame decoder (protocol/native/json_codec), then
// every encoder fed with what it decoded. Checks that decoding never crashes and that every
// frame the server would send back (the reply, an error echoing the ref, the message event)
// is JSON that parses again: a number written back as `Infinity` traps.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/native/json_codec.hpp"

namespace json = boost::json;
using namespace parley;
using namespace parley::protocol;

namespace {

void must_parse(const std::string& text) {
  boost::system::error_code ec;
  (void)json::parse(text, ec);
  if (ec) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  native::Limits limits;
  limits.max_content_bytes = 512;  // reach the too_large paths with small inputs
  limits.max_meta_bytes = 256;
  limits.max_history_limit = 50;
  std::string ref;
  std::string why;
  // What /ws does: the shape decoded, then the rules every endpoint shares.
  auto decoded = native::decode(text, ref, why);
  if (decoded) {
    if (auto ec = protocol::check(decoded->command, limits, why)) decoded = ec;
  }
  must_parse(native::encode_error(ref, Errc::invalid_argument, why));
  if (!decoded) return 0;
  const Command& c = decoded->command;
  if (c.content.size() > limits.max_content_bytes || c.meta.size() > limits.max_meta_bytes) {
    __builtin_trap();
  }
  if (c.limit && (*c.limit == 0 || *c.limit > limits.max_history_limit)) __builtin_trap();

  auto m = std::make_shared<StoredMessage>();
  m->id = "0123456789abcdef0123456789abcdef";
  m->conversation = c.conversation;
  m->seq = c.seq;
  m->sender = {c.identity.id, c.identity.name, c.identity.role};
  m->kind = c.kind;
  m->content = c.content;
  m->meta = c.meta;
  m->client_id = c.client_id;
  Reply r;
  r.conversation = c.conversation;
  r.message = m;
  r.messages = {m};
  r.user = c.identity;
  for (auto type : {ReplyType::ok, ReplyType::auth_ok, ReplyType::ack, ReplyType::history,
                    ReplyType::pong}) {
    r.type = type;
    must_parse(native::encode_reply(decoded->ref, r));
  }
  Event e;
  e.type = EventType::message;
  e.message = m;
  e.conversation = c.conversation;
  e.user = c.identity;
  e.seq = c.seq;
  must_parse(native::encode_event(e));
  e.type = EventType::typing;
  must_parse(native::encode_event(e));
  return 0;
}
