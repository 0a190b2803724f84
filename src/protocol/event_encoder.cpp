#include "protocol/event_encoder.hpp"

#include "protocol/native/json_codec.hpp"
#include "protocol/socketio/socketio_events.hpp"

namespace parley::protocol {

const char* op_name(Op op) noexcept {
  switch (op) {
    case Op::auth:
      return "auth";
    case Op::join:
      return "join";
    case Op::leave:
      return "leave";
    case Op::send:
      return "send";
    case Op::edit:
      return "edit";
    case Op::remove:
      return "delete";
    case Op::read:
      return "read";
    case Op::typing:
      return "typing";
    case Op::history:
      return "history";
    case Op::ping:
      return "ping";
  }
  return "?";
}

std::string encode_event(WireFormat format, const Event& event) {
  switch (format) {
    case WireFormat::native:
      return native::encode_event(event);
    case WireFormat::sio_messaging:
    case WireFormat::sio_woz:
      return socketio::encode_event(format, event);
  }
  return {};
}

}  // namespace parley::protocol
