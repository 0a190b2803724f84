// libFuzzer target: the chat vocabularies' request decoder and reply encoders, fed with any
// JSON array (as a Socket.IO EVENT's arguments would be).
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/socketio/socketio_events.hpp"

namespace sio = parley::protocol::socketio;
using namespace parley::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return 0;
  std::string why;
  auto req = sio::decode_request(v.get_array(), why);
  if (!req) return 0;
  // Encode every kind of reply for the decoded request.
  auto m =
      std::make_shared<const parley::StoredMessage>(parley::StoredMessage{"id",
                                                                          req->command.conversation,
                                                                          1,
                                                                          {"u", "n", req->role},
                                                                          "text",
                                                                          req->command.content,
                                                                          req->command.meta,
                                                                          0,
                                                                          std::nullopt,
                                                                          false,
                                                                          req->command.client_id});
  for (auto type : {ReplyType::ok, ReplyType::auth_ok, ReplyType::ack, ReplyType::history,
                    ReplyType::error, ReplyType::pong}) {
    Reply r;
    r.type = type;
    r.conversation = req->command.conversation;
    r.message = m;
    r.messages = {m};
    (void)sio::encode_reply_event(*req, r);
    (void)sio::ack_payload(*req, r);
  }
  Event e;
  e.message = m;
  (void)sio::encode_event(req->format, e);
  return 0;
}
