// libFuzzer target: client WebSocket frames as both WebSocket endpoints read them (/ws and
// Engine.IO's websocket transport share net/ws_frame through net/ws_connection: headers,
// masking, fragmentation, control frames, limits, UTF-8). The first byte picks how the rest
// is cut into reads; the reader must report the same events and the same failure whether it
// gets the bytes in one piece or in many, must never deliver a message over its limit, and
// must never deliver a text message that is not UTF-8. Each text message then goes where
// Engine.IO sends it (its packet decoder): a packet that decodes re-encodes to the same text,
// and the server's frame for it written with the packet type as a prefix byte (how a room's
// Socket.IO frame is written without a copy) is the frame of the whole text.
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/ws_frame.hpp"
#include "protocol/socketio/engineio_packet.hpp"

using namespace parley::net::ws;

namespace {

constexpr std::size_t kLimit = 300;
constexpr std::size_t kHardCap = 2000;

struct Recorder : FrameReader::Handler {
  std::vector<std::string> events;
  void on_message(std::string_view p, bool binary) override {
    if (p.size() > kLimit) __builtin_trap();
    if (!binary && !p.empty() &&
        !boost::beast::websocket::detail::check_utf8(p.data(), p.size())) {
      __builtin_trap();
    }
    events.push_back((binary ? "b:" : "t:") + std::string(p));
    if (!binary) engineio_round_trip(p);
  }
  static void engineio_round_trip(std::string_view text) {
    namespace eio = parley::protocol::engineio;
    auto packet = eio::decode_packet(text, false);
    if (!packet || packet->binary) return;
    const auto out = eio::make_packet(packet->type, packet->data);
    if (eio::encode_text_frame(out) != text) __builtin_trap();
    std::string whole, prefixed;
    append_frame(whole, Opcode::text, text);
    append_frame(prefixed, Opcode::text, static_cast<char>(packet->type), packet->data);
    if (whole != prefixed) __builtin_trap();
  }
  void on_oversized(std::uint64_t size) override {
    if (size <= kLimit || size > kHardCap) __builtin_trap();
    events.push_back("o:" + std::to_string(size));
  }
  void on_ping(std::string_view p) override {
    if (p.size() > 125) __builtin_trap();
    events.push_back("ping:" + std::string(p));
  }
  void on_pong() override { events.push_back("pong"); }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

struct Outcome {
  std::vector<std::string> events;
  std::uint16_t failure = 0;
  bool closed = false;
};

Outcome run(std::string bytes, std::size_t piece) {
  FrameReader reader(kLimit, kHardCap);
  Recorder rec;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    const std::size_t n = std::min(piece, bytes.size() - at);
    if (!reader.feed(std::span<char>(bytes.data() + at, n), rec)) break;
  }
  return {std::move(rec.events), reader.failure_code(), reader.closed()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 17;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = run(bytes, bytes.size() + 1);
  const Outcome pieces = run(bytes, piece);
  if (whole.events != pieces.events || whole.failure != pieces.failure ||
      whole.closed != pieces.closed) {
    __builtin_trap();
  }
  return 0;
}
