#include "protocol/command_rules.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/ids.hpp"

namespace parley::protocol {

bool is_known_kind(std::string_view kind) noexcept {
  return kind == "text" || kind == "image" || kind == "file" || kind == "system";
}

std::size_t history_limit(std::optional<std::size_t> requested, const Limits& limits) noexcept {
  // The default is capped too: a deployment may set the largest page below it.
  if (!requested || *requested == 0) {
    return std::min(limits.default_history_limit, limits.max_history_limit);
  }
  return std::min(*requested, limits.max_history_limit);
}

namespace {

boost::system::error_code fail(Errc code, std::string& why, std::string text) {
  why = std::move(text);
  return make_error_code(code);
}

boost::system::error_code check_content(const std::string& content, const Limits& limits,
                                        std::string& why) {
  if (content.size() > limits.max_content_bytes) {
    return fail(Errc::too_large, why,
                "content is larger than " + std::to_string(limits.max_content_bytes) + " bytes");
  }
  return {};
}

}  // namespace

boost::system::error_code check(Command& cmd, const Limits& limits, std::string& why) {
  if (cmd.op != Op::auth && cmd.op != Op::ping && !is_valid_id(cmd.conversation)) {
    return fail(Errc::invalid_argument, why,
                "conversation must be 1-128 characters of letters, digits and -_.:@");
  }
  switch (cmd.op) {
    case Op::send:
      if (cmd.kind.empty()) cmd.kind = "text";
      if (!is_known_kind(cmd.kind)) {
        return fail(Errc::invalid_argument, why, "kind must be text, image, file or system");
      }
      if (cmd.client_id && cmd.client_id->size() > kMaxClientIdBytes) {
        return fail(Errc::invalid_argument, why,
                    "client_id is longer than " + std::to_string(kMaxClientIdBytes) + " bytes");
      }
      if (cmd.meta.size() > limits.max_meta_bytes) {
        return fail(Errc::too_large, why,
                    "meta is larger than " + std::to_string(limits.max_meta_bytes) + " bytes");
      }
      return check_content(cmd.content, limits, why);
    case Op::edit:
      if (cmd.seq < 1) return fail(Errc::invalid_argument, why, "seq is required");
      return check_content(cmd.content, limits, why);
    case Op::remove:
      if (cmd.seq < 1) return fail(Errc::invalid_argument, why, "seq is required");
      return {};
    case Op::read:  // 0: nothing read yet
      if (cmd.seq < 0) return fail(Errc::invalid_argument, why, "seq must not be negative");
      return {};
    case Op::join:
    case Op::history:
      cmd.limit = history_limit(cmd.limit, limits);
      return {};
    case Op::typing:  // the text being typed, shown live, is held to the content limit
      if (cmd.typing_text && cmd.typing_text->size() > limits.max_content_bytes) {
        return fail(Errc::too_large, why,
                    "text is larger than " + std::to_string(limits.max_content_bytes) + " bytes");
      }
      return {};
    case Op::auth:
    case Op::leave:
    case Op::ping:
      return {};
  }
  return {};
}

}  // namespace parley::protocol
