// Encodes room events for each wire format. Pure functions: no sockets, no clocks.
#pragma once

#include <string>

#include "protocol/command.hpp"

namespace parley::protocol {

// The frame payload of `event` in `format` (for Socket.IO: the Socket.IO packet text that
// an Engine.IO message packet carries, without the Engine.IO "4" type). Empty when that
// vocabulary has no such event: the member is then skipped.
std::string encode_event(WireFormat format, const Event& event);

// Whether the members of the actor's own user (the reader of a read event) get `event` in
// `format`. radio-istic sends messages-read with socket.to(room): not to the reader.
bool echoes_to_actor(WireFormat format, const Event& event) noexcept;

// The list of online users (with what is known of them) for the subscribers of user status
// that speak `format`, sent after each status change; empty when that vocabulary has none
// (radio-istic's `online-users`).
std::string encode_online_users(WireFormat format, const std::vector<User>& users);

}  // namespace parley::protocol
