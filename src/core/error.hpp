// Parley's error codes. Expected failures travel as values (`Result<T>`); exceptions are
// reserved for bugs and start-up. The codes join Boost.System's error_code through
// `parley_category()`, so `ec == Errc::not_found` reads naturally at every edge.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <type_traits>

namespace parley {

enum class Errc {
  not_found = 1,
  already_exists,
  invalid_argument,
  unauthenticated,
  permission_denied,
  conflict,
  unavailable,
  data_loss,
  too_slow,
  too_large,
  rate_limited,
  internal,
};

const boost::system::error_category& parley_category() noexcept;
boost::system::error_code make_error_code(Errc e) noexcept;

template <class T = void>
using Result = boost::system::result<T>;

// The wire name of an error ("not_found", "bad_request", ...), as PROTOCOL.md lists them.
// Codes from other categories map to "internal" (or "unavailable" for I/O errors).
const char* wire_code(const boost::system::error_code& ec) noexcept;

}  // namespace parley

template <>
struct boost::system::is_error_code_enum<parley::Errc> : std::true_type {};
