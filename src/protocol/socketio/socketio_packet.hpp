// Socket.IO v5 packets (socketio/socket.io-protocol), carried in Engine.IO message packets:
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
// Binary packets (BINARY_EVENT, BINARY_ACK) keep their `{"_placeholder":true,"num":N}`
// objects in `data` and carry the N following Engine.IO binary messages in `attachments`, so
// a packet decodes and re-encodes to the same bytes. Pure: no I/O; never throws.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace parley::protocol::socketio {

enum class PacketType : std::uint8_t {
  connect = 0,
  disconnect = 1,
  event = 2,
  ack = 3,
  connect_error = 4,
  binary_event = 5,
  binary_ack = 6,
};

struct Packet {
  PacketType type = PacketType::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> id;  // ack id
  bool has_data = false;            // false: no payload at all (`data` is null)
  boost::json::value data;
  std::size_t attachment_count = 0;      // binary packets: attachments announced
  std::vector<std::string> attachments;  // binary packets: their bytes, in order

  bool is_binary() const noexcept {
    return type == PacketType::binary_event || type == PacketType::binary_ack;
  }
  // True once a binary packet has received all its announced attachments.
  bool is_complete() const noexcept { return attachments.size() == attachment_count; }
};

struct Limits {
  std::size_t max_attachments = 16;
  std::size_t max_namespace_bytes = 256;
};

// Decodes the text part of a packet and validates its payload as socket.io-parser does
// (CONNECT: object; DISCONNECT: none; EVENT: array starting with a non-reserved name;
// ACK: array; CONNECT_ERROR: object or string). Errc::invalid_argument with `why` filled
// on any violation. Binary packets come back with attachment_count set and no attachments.
[[nodiscard]] Result<Packet> decode(std::string_view text, std::string& why,
                                    const Limits& limits = {});

// True when every `{"_placeholder":true,"num":N}` in `data` has an integer 0 <= N < count
// (socket.io-parser's reconstructPacket rule).
bool placeholders_valid(const boost::json::value& data, std::size_t count);

// The text part of `packet`; binary packets announce attachments.size() attachments (the
// caller sends those as binary messages after it).
std::string encode(const Packet& packet);

// Shorthands for what servers send.
std::string encode_event(std::string_view nsp, const boost::json::array& args,
                         std::optional<std::uint64_t> ack_id = std::nullopt);
std::string encode_ack(std::string_view nsp, std::uint64_t id, const boost::json::array& args);
std::string encode_connect(std::string_view nsp, const boost::json::object& data);
std::string encode_connect_error(std::string_view nsp, std::string_view message);

}  // namespace parley::protocol::socketio
