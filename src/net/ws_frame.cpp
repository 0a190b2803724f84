#include "net/ws_frame.hpp"

#include <algorithm>
#include <boost/beast/core/flat_static_buffer.hpp>
#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/detail/mask.hpp>

namespace parley::net::ws {

namespace beast = boost::beast;
namespace detail = beast::websocket::detail;

void append_frame(std::string& out, Opcode op, std::string_view payload) {
  append_frame(out, op, '\0', payload);
}

void append_frame(std::string& out, Opcode op, char prefix, std::string_view payload) {
  detail::frame_header fh{};
  fh.op = static_cast<detail::opcode>(op);
  fh.fin = true;
  fh.mask = false;  // server frames are never masked
  fh.rsv1 = fh.rsv2 = fh.rsv3 = false;
  fh.len = payload.size() + (prefix ? 1 : 0);
  fh.key = 0;
  beast::flat_static_buffer<14> header;
  detail::write(header, fh);
  const auto data = header.data();
  out.append(static_cast<const char*>(data.data()), data.size());
  if (prefix) out.push_back(prefix);
  out.append(payload);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xff));
  out.append(reason.substr(0, 123));
  return out;
}

bool FrameReader::fail(std::uint16_t code, const char* why) {
  failure_code_ = code;
  failure_reason_ = why;
  message_ = std::string();
  control_ = std::string();
  return false;
}

bool FrameReader::parse_header(Handler&) {
  const unsigned char b0 = header_[0];
  const unsigned char b1 = header_[1];
  if (b0 & 0x70) return fail(close_code::protocol_error, "reserved bits set");
  const auto op = static_cast<detail::opcode>(b0 & 0x0f);
  if (detail::is_reserved(op)) return fail(close_code::protocol_error, "unknown opcode");
  if (!(b1 & 0x80)) return fail(close_code::protocol_error, "client frames must be masked");
  std::uint64_t len = b1 & 0x7f;
  std::size_t at = 2;
  if (len == 126) {
    len = (std::uint64_t{header_[2]} << 8) | header_[3];
    if (len < 126) return fail(close_code::protocol_error, "frame length not minimally encoded");
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | header_[i];
    if (len >> 63) return fail(close_code::protocol_error, "frame length over 2^63");
    if (len <= 0xffff) return fail(close_code::protocol_error, "frame length not minimally encoded");
    at = 10;
  }
  std::copy_n(header_ + at, 4, key_.begin());
  const bool fin = (b0 & 0x80) != 0;

  if (detail::is_control(op)) {
    if (!fin) return fail(close_code::protocol_error, "fragmented control frame");
    if (len > 125) return fail(close_code::protocol_error, "control frame over 125 bytes");
  } else {
    if (op == detail::opcode::cont) {
      if (!in_message_) return fail(close_code::protocol_error, "continuation without a message");
    } else {
      if (in_message_) return fail(close_code::protocol_error, "message before the last one ended");
      in_message_ = true;
      message_binary_ = op == detail::opcode::binary;
      message_size_ = 0;
      discarding_ = false;
      utf8_.reset();
    }
    message_size_ += len;
    if (message_size_ > hard_cap_) return fail(close_code::too_big, "message over the hard cap");
    if (!discarding_ && message_size_ > limit_) {
      discarding_ = true;
      message_ = std::string();
    }
  }
  frame_op_ = static_cast<Opcode>(op);
  frame_fin_ = fin;
  frame_left_ = frame_size_ = len;
  in_payload_ = true;
  return true;
}

bool FrameReader::end_frame(Handler& handler, std::string_view direct) {
  in_payload_ = false;
  const auto op = static_cast<detail::opcode>(frame_op_);
  if (detail::is_control(op)) {
    const std::string_view payload = control_.empty() ? direct : std::string_view(control_);
    if (op == detail::opcode::ping) {
      handler.on_ping(payload);
    } else if (op == detail::opcode::pong) {
      handler.on_pong();
    } else {
      beast::websocket::close_reason reason;
      boost::system::error_code ec;
      detail::read_close(reason, boost::asio::const_buffer(payload.data(), payload.size()), ec);
      if (ec == beast::websocket::error::bad_close_payload) {
        return fail(close_code::bad_payload, "close reason is not UTF-8");
      }
      if (ec) return fail(close_code::protocol_error, "malformed close frame");
      closed_ = true;
      handler.on_close(reason.code, std::string_view(reason.reason.data(), reason.reason.size()));
    }
    control_.clear();
    return true;
  }
  if (!frame_fin_) return true;
  // The message is complete.
  in_message_ = false;
  if (discarding_) {
    discarding_ = false;
    handler.on_oversized(message_size_);
  } else {
    if (!message_binary_ && !utf8_.finish()) {
      return fail(close_code::bad_payload, "text message is not valid UTF-8");
    }
    const std::string_view payload = message_.empty() ? direct : std::string_view(message_);
    handler.on_message(payload, message_binary_);
  }
  message_ = std::string();  // an idle connection keeps no buffer
  return true;
}

bool FrameReader::feed(std::span<char> data, Handler& handler, std::size_t* consumed) {
  if (consumed) *consumed = data.size();
  if (failure_code_ != 0) return false;
  char* p = data.data();
  std::size_t n = data.size();
  while (n > 0 && !closed_) {
    if (!in_payload_) {
      if (consumed && header_have_ == 0 && handler.paused()) {
        *consumed = data.size() - n;  // a frame boundary: the rest is as it came
        return true;
      }
      while (header_have_ < header_need_ && n > 0) {
        header_[header_have_++] = static_cast<unsigned char>(*p++);
        --n;
        if (header_have_ == 2) {
          const unsigned len7 = header_[1] & 0x7f;
          header_need_ = static_cast<std::uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
                                                   ((header_[1] & 0x80) ? 4 : 0));
        }
      }
      if (header_have_ < header_need_) break;
      header_have_ = 0;
      header_need_ = 2;
      if (!parse_header(handler)) return false;
      if (frame_left_ == 0) {
        if (!end_frame(handler, {})) return false;
        continue;
      }
      if (n == 0) break;
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n, frame_left_));
    char* chunk = p;
    p += take;
    n -= take;
    frame_left_ -= take;
    const bool whole = take == frame_size_;  // the frame's payload arrived in one piece
    std::string_view direct;
    if (detail::is_control(static_cast<detail::opcode>(frame_op_))) {
      detail::mask_inplace(boost::asio::mutable_buffer(chunk, take), key_);
      if (whole) {
        direct = std::string_view(chunk, take);
      } else {
        control_.append(chunk, take);
      }
    } else if (!discarding_) {
      detail::mask_inplace(boost::asio::mutable_buffer(chunk, take), key_);
      if (!message_binary_ &&
          !utf8_.write(reinterpret_cast<const std::uint8_t*>(chunk), take)) {
        return fail(close_code::bad_payload, "text message is not valid UTF-8");
      }
      if (whole && frame_fin_ && message_.empty()) {
        direct = std::string_view(chunk, take);
      } else {
        message_.append(chunk, take);
      }
    }
    if (frame_left_ == 0 && !end_frame(handler, direct)) return false;
  }
  return failure_code_ == 0;
}

}  // namespace parley::net::ws
