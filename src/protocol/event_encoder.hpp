// Encodes room events for each wire format. Pure functions: no sockets, no clocks.
#pragma once

#include <string>

#include "protocol/command.hpp"

namespace parley::protocol {

// The frame payload of `event` in `format` (for Socket.IO: the Socket.IO packet text that
// an Engine.IO message packet carries, without the Engine.IO "4" type). Empty when that
// vocabulary has no such event: the member is then skipped.
std::string encode_event(WireFormat format, const Event& event);

}  // namespace parley::protocol
