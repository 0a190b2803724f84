// The server side of RFC 6455 framing for the native endpoint, once Beast has done the
// opening handshake. It exists so that the session owns every byte written to its socket:
// all queued frames (and control frames) go out in one write, instead of one composed Beast
// write and one syscall per frame, and an idle connection holds no read or write buffer.
//
// `FrameReader` is a pure, incremental parser of client frames (masked, possibly
// fragmented, control frames interleaved), fed whatever bytes arrived. Beast's own helpers
// do the parts a library already does: unmasking, close-payload validation, UTF-8 checking.
#pragma once

#include <array>
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace parley::net::ws {

enum class Opcode : std::uint8_t { cont = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// Close codes the server sends (RFC 6455 §7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t bad_payload = 1007;  // invalid UTF-8 in a text message
inline constexpr std::uint16_t policy_error = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

// Appends one unmasked, final server frame carrying `payload` to `out`.
void append_frame(std::string& out, Opcode op, std::string_view payload);
// The same with `prefix` (when not 0) as the payload's first byte: Engine.IO's packet type
// before a Socket.IO packet encoded once for a whole room.
void append_frame(std::string& out, Opcode op, char prefix, std::string_view payload);

// The payload of a close frame: the code in network order, then the reason (≤ 123 bytes).
std::string close_payload(std::uint16_t code, std::string_view reason = {});

class FrameReader {
 public:
  // What the reader found. Called from inside `feed`; the views are valid only during the
  // call.
  class Handler {
   public:
    // A complete text or binary message of at most `limit` bytes.
    virtual void on_message(std::string_view payload, bool binary) = 0;
    // A message over `limit` bytes (at most the hard cap): read to its end and discarded.
    virtual void on_oversized(std::uint64_t size) = 0;
    virtual void on_ping(std::string_view payload) = 0;
    virtual void on_pong() = 0;
    // A close frame; `code` is 0 when it carried none. The reader reads nothing after it.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
    // Asked between frames by a feed that can stop (see feed): true stops it there.
    virtual bool paused() const { return false; }

   protected:
    ~Handler() = default;
  };

  // `limit`: the largest message delivered; `hard_cap`: a message over it fails the
  // connection (1009) instead of being discarded.
  FrameReader(std::size_t limit, std::size_t hard_cap) : limit_(limit), hard_cap_(hard_cap) {}

  // Consumes `data`, unmasking it in place. Returns false once the connection must fail:
  // then `failure_code()` and `failure_reason()` say which close to send, and every later
  // call returns false at once. After a close frame the reader ignores what follows.
  // With `consumed`, the feed stops at the first frame boundary where handler.paused() is
  // true and says how many bytes it took: the rest is untouched wire bytes, to be fed
  // later (a held connection, WsConnection::hold_input). Without it, everything is taken.
  bool feed(std::span<char> data, Handler& handler, std::size_t* consumed = nullptr);

  std::uint16_t failure_code() const noexcept { return failure_code_; }
  const char* failure_reason() const noexcept { return failure_reason_; }
  bool closed() const noexcept { return closed_; }

 private:
  bool fail(std::uint16_t code, const char* why);
  bool parse_header(Handler& handler);  // header_ is complete
  // The frame's payload is complete; `direct` is it when it arrived in one piece.
  bool end_frame(Handler& handler, std::string_view direct);

  const std::size_t limit_;
  const std::size_t hard_cap_;

  // The frame being read.
  unsigned char header_[14]{};
  std::uint8_t header_have_ = 0;
  std::uint8_t header_need_ = 2;
  bool in_payload_ = false;
  Opcode frame_op_ = Opcode::cont;
  bool frame_fin_ = false;
  std::uint64_t frame_left_ = 0;
  std::uint64_t frame_size_ = 0;
  std::array<unsigned char, 4> key_{};  // rotated by Beast's mask_inplace as the payload arrives

  // The message being assembled (text or binary, possibly fragmented).
  bool in_message_ = false;
  bool message_binary_ = false;
  bool discarding_ = false;       // over the limit: read to its end, not kept
  std::uint64_t message_size_ = 0;  // bytes so far, discarded ones included
  std::string message_;           // empty (and unallocated) unless a message spans reads
  boost::beast::websocket::detail::utf8_checker utf8_;

  std::string control_;  // a control frame's payload when it spans reads (≤ 125 bytes)

  bool closed_ = false;
  std::uint16_t failure_code_ = 0;
  const char* failure_reason_ = "";
};

}  // namespace parley::net::ws
