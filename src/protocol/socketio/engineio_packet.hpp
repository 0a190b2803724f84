// Engine.IO v4 packets and HTTP long-polling payloads (socketio/engine.io-protocol): the
// framing under Socket.IO. A packet is a one-character type and its data; over WebSocket a
// binary message is sent as a bare binary frame, over polling as `b` + base64, and a polling
// body joins packets with the record separator 0x1e. Pure functions: no I/O, no clocks,
// never throw on bad input (errors are values), so every decoder here is fuzzable.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace parley::protocol::engineio {

enum class PacketType : char {
  open = '0',
  close = '1',
  ping = '2',
  pong = '3',
  message = '4',
  upgrade = '5',
  noop = '6',
};

inline constexpr char kRecordSeparator = '\x1e';
inline constexpr int kProtocolVersion = 4;

// One decoded packet. `binary` only for message packets that carried bytes.
struct Packet {
  PacketType type = PacketType::noop;
  std::string data;
  bool binary = false;

  friend bool operator==(const Packet&, const Packet&) = default;
};

// One packet to send. `data` is shared so that a fan-out frame is not copied per recipient.
struct OutPacket {
  PacketType type = PacketType::message;
  std::shared_ptr<const std::string> data;  // may be null: no data
  bool binary = false;

  std::size_t size() const noexcept { return 1 + (data ? data->size() : 0); }
};

OutPacket make_packet(PacketType type, std::string data = {}, bool binary = false);

// Decodes one text WebSocket frame (`polling_record` false) or one record of a polling body
// (true; there `b<base64>` is a binary message). Errc::invalid_argument when the type is
// unknown or the base64 is malformed.
[[nodiscard]] Result<Packet> decode_packet(std::string_view text, bool polling_record);

// A binary WebSocket frame: always a message packet.
Packet decode_binary_frame(std::string_view bytes);

// Splits a polling POST body into packets. Errc::invalid_argument for an empty body, an
// empty record or any bad packet; Errc::too_large when it holds more than `max_packets`.
[[nodiscard]] Result<std::vector<Packet>> decode_payload(std::string_view body,
                                                         std::size_t max_packets = 4096);

// A text frame for WebSocket: the type character then the data. Requires: !p.binary.
std::string encode_text_frame(const OutPacket& p);

// Appends `packets` as one polling response body (record-separated, binaries as b+base64).
void append_payload(std::string& out, const std::vector<OutPacket>& packets);

// Base64 (RFC 4648, standard alphabet). Decoding accepts missing padding, nothing else.
std::string base64_encode(std::string_view bytes);
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

// The Engine.IO error body sent with HTTP 400: {"code":N,"message":"..."}.
enum class ErrorCode : int {
  unknown_transport = 0,
  unknown_sid = 1,
  bad_handshake_method = 2,
  bad_request = 3,
  forbidden = 4,
  unsupported_protocol_version = 5,
};
std::string error_body(ErrorCode code);

}  // namespace parley::protocol::engineio
