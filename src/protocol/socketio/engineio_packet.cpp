#include "protocol/socketio/engineio_packet.hpp"

#include <array>

namespace parley::protocol::engineio {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<signed char, 256> make_reverse() {
  std::array<signed char, 256> r{};
  for (auto& v : r) v = -1;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    r[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
  }
  return r;
}
constexpr auto kReverse = make_reverse();

bool is_packet_type(char c) noexcept { return c >= '0' && c <= '6'; }

}  // namespace

OutPacket make_packet(PacketType type, std::string data, bool binary) {
  OutPacket p;
  p.type = type;
  if (!data.empty()) p.data = std::make_shared<const std::string>(std::move(data));
  p.binary = binary;
  return p;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = at(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  // Strip up to two '=' of padding; the rest must be alphabet characters.
  std::size_t n = text.size();
  if (n % 4 == 0 && n >= 1 && text[n - 1] == '=') --n;
  if (n % 4 == 3 && n >= 1 && text[n - 1] == '=') --n;
  if (n % 4 == 1) return Errc::invalid_argument;
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const signed char v = kReverse[static_cast<unsigned char>(text[i])];
    if (v < 0) return Errc::invalid_argument;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

Result<Packet> decode_packet(std::string_view text, bool polling_record) {
  if (text.empty()) return Errc::invalid_argument;
  Packet p;
  if (polling_record && text[0] == 'b') {
    auto bytes = base64_decode(text.substr(1));
    if (!bytes) return bytes.error();
    p.type = PacketType::message;
    p.data = std::move(*bytes);
    p.binary = true;
    return p;
  }
  if (!is_packet_type(text[0])) return Errc::invalid_argument;
  p.type = static_cast<PacketType>(text[0]);
  p.data.assign(text.substr(1));
  return p;
}

Packet decode_binary_frame(std::string_view bytes) {
  Packet p;
  p.type = PacketType::message;
  p.data.assign(bytes);
  p.binary = true;
  return p;
}

Result<std::vector<Packet>> decode_payload(std::string_view body, std::size_t max_packets) {
  if (body.empty()) return Errc::invalid_argument;
  std::vector<Packet> packets;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = body.find(kRecordSeparator, start);
    const std::string_view record =
        body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (packets.size() == max_packets) return Errc::too_large;
    auto p = decode_packet(record, true);
    if (!p) return p.error();
    packets.push_back(std::move(*p));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return packets;
}

std::string encode_text_frame(const OutPacket& p) {
  std::string out;
  out.reserve(p.size());
  out += static_cast<char>(p.type);
  if (p.data) out += *p.data;
  return out;
}

void append_payload(std::string& out, const std::vector<OutPacket>& packets) {
  std::size_t total = out.size();
  for (const auto& p : packets) total += p.size() + 1 + (p.binary ? p.size() / 3 + 4 : 0);
  out.reserve(total);
  bool first = true;
  for (const auto& p : packets) {
    if (!first) out += kRecordSeparator;
    first = false;
    if (p.binary) {
      out += 'b';
      out += base64_encode(p.data ? std::string_view(*p.data) : std::string_view());
    } else {
      out += static_cast<char>(p.type);
      if (p.data) out += *p.data;
    }
  }
}

std::string error_body(ErrorCode code) {
  const char* message = "Bad request";
  switch (code) {
    case ErrorCode::unknown_transport:
      message = "Transport unknown";
      break;
    case ErrorCode::unknown_sid:
      message = "Session ID unknown";
      break;
    case ErrorCode::bad_handshake_method:
      message = "Bad handshake method";
      break;
    case ErrorCode::bad_request:
      message = "Bad request";
      break;
    case ErrorCode::forbidden:
      message = "Forbidden";
      break;
    case ErrorCode::unsupported_protocol_version:
      message = "Unsupported protocol version";
      break;
  }
  return "{\"code\":" + std::to_string(static_cast<int>(code)) + ",\"message\":\"" + message +
         "\"}";
}

}  // namespace parley::protocol::engineio
