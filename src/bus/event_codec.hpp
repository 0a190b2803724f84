// The bus payload: one hub Event (protocol/command.hpp) as JSON, with the id of the server
// that published it, so a server ignores its own events.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/command.hpp"

namespace parley::bus {

struct BusEvent {
  std::string origin;  // the publishing server's id
  protocol::Event event;
};

std::string encode_bus_event(std::string_view origin, const protocol::Event& event);
[[nodiscard]] std::optional<BusEvent> decode_bus_event(std::string_view payload);

}  // namespace parley::bus
