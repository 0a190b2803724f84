#include "core/ids.hpp"

#include <array>
#include <random>

#include "core/time.hpp"

namespace parley {
namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  return engine;
}

void append_hex(std::string& out, std::uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out.push_back(kHex[(v >> (i * 4)) & 0xf]);
}

}  // namespace

MessageId new_message_id() {
  std::string id;
  id.reserve(32);
  append_hex(id, static_cast<std::uint64_t>(now_ms()), 12);
  append_hex(id, rng()(), 16);
  append_hex(id, rng()() & 0xffff, 4);
  return id;
}

std::string new_short_id() {
  std::string id;
  id.reserve(16);
  append_hex(id, rng()(), 16);
  return id;
}

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  // Ids end up as path segments (REST URLs, export file names): "." and ".." would be
  // read as this folder and its parent by whatever resolves them.
  if (id == "." || id == "..") return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
    if (!ok) return false;
  }
  return true;
}

}  // namespace parley
