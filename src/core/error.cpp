#include "core/error.hpp"

namespace parley {
namespace {

class ParleyCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "parley"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::not_found:
        return "not found";
      case Errc::already_exists:
        return "already exists";
      case Errc::invalid_argument:
        return "invalid argument";
      case Errc::unauthenticated:
        return "not authenticated";
      case Errc::permission_denied:
        return "permission denied";
      case Errc::conflict:
        return "conflict";
      case Errc::unavailable:
        return "storage unavailable";
      case Errc::data_loss:
        return "data loss";
      case Errc::too_slow:
        return "client too slow";
      case Errc::too_large:
        return "too large";
      case Errc::rate_limited:
        return "rate limited";
      case Errc::internal:
        return "internal error";
    }
    return "unknown error";
  }
};

}  // namespace

const boost::system::error_category& parley_category() noexcept {
  static const ParleyCategory category;
  return category;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), parley_category()};
}

const char* wire_code(const boost::system::error_code& ec) noexcept {
  if (ec.category() != parley_category()) return "internal";
  switch (static_cast<Errc>(ec.value())) {
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "conflict";
    case Errc::conflict:
      return "conflict";
    case Errc::invalid_argument:
      return "bad_request";
    case Errc::unauthenticated:
      return "unauthorized";
    case Errc::permission_denied:
      return "forbidden";
    case Errc::unavailable:
      return "unavailable";
    case Errc::too_large:
      return "too_large";
    case Errc::rate_limited:
      return "rate_limited";
    case Errc::too_slow:
      return "rate_limited";
    case Errc::data_loss:
      return "internal";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace parley
