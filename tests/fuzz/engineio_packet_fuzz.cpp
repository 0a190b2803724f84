// libFuzzer target: the Engine.IO packet, payload and base64 decoders. Checks that decoding
// never crashes and that what decodes re-encodes to a payload that decodes the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/socketio/engineio_packet.hpp"

namespace eio = parley::protocol::engineio;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)eio::decode_packet(text, false);
  (void)eio::decode_packet(text, true);
  (void)eio::base64_decode(text);
  auto packets = eio::decode_payload(text, 64);
  if (!packets) return 0;
  std::vector<eio::OutPacket> out;
  for (const auto& p : *packets) out.push_back(eio::make_packet(p.type, p.data, p.binary));
  std::string body;
  eio::append_payload(body, out);
  auto again = eio::decode_payload(body, 64);
  if (!again || *again != *packets) __builtin_trap();
  return 0;
}
