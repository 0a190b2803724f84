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
  // Not an event for members: the conversation `event.conversation` was changed in the store
  // by a REST PATCH, PUT or DELETE on the publishing server (its participants restricted,
  // say), so every server's live room reloads it and drops the members it no longer admits.
  bool changed = false;
};

std::string encode_bus_event(std::string_view origin, const protocol::Event& event);
// The payload of BusEvent::changed.
std::string encode_bus_change(std::string_view origin, std::string_view conversation);
[[nodiscard]] std::optional<BusEvent> decode_bus_event(std::string_view payload);

}  // namespace parley::bus
