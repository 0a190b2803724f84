// The native protocol of PROTOCOL.md: one JSON object per WebSocket text frame. Decoding
// validates shape, types and UTF-8 (Boost.JSON rejects invalid UTF-8) and never throws;
// encoding produces the exact objects PROTOCOL.md lists. Pure: no I/O, no clocks.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "protocol/command.hpp"
#include "protocol/command_rules.hpp"

namespace parley::protocol::native {

// The limits are the rules' (protocol/command_rules.hpp): decode() reads shapes and types;
// the client layer checks sizes, kinds and history limits for every endpoint alike.
using Limits = protocol::Limits;

struct Decoded {
  Command command;
  // The request's ref: the JSON text of its value as the client wrote it (any value; a number
  // keeps every digit, an object its members), for the reply to carry byte for byte. Empty
  // when absent or null.
  std::string ref;
};

// Decodes one frame's shape and types. On failure the error is Errc::invalid_argument, `ref`
// is filled if the frame carried one, and `why` says what was wrong in words fit for the
// client. Sizes, kinds and limits are check()ed by the client layer, not here.
Result<Decoded> decode(std::string_view frame, std::string& ref, std::string& why);

boost::json::object message_to_json(const StoredMessage& m);

// `ref`: Decoded::ref (JSON text, written as is), empty for none.
std::string encode_reply(std::string_view ref, const Reply& reply);
std::string encode_error(std::string_view ref, const boost::system::error_code& ec,
                         std::string_view message);
std::string encode_event(const Event& event);

}  // namespace parley::protocol::native
