#include "hub/authenticator.hpp"

namespace parley::hub {

Result<User> OpenAuthenticator::authenticate(const AuthRequest& request, std::string& why) const {
  const User& c = request.claimed;
  if (c.id.empty()) {
    why = "user is required";
    return Errc::unauthenticated;
  }
  if (!is_valid_id(c.id)) {
    why = "user must be 1-128 characters of letters, digits and -_.:@";
    return Errc::invalid_argument;
  }
  if (c.name.size() > 200 || c.role.size() > 64 || c.avatar.size() > 2048) {
    why = "name, role or avatar is too long";
    return Errc::invalid_argument;
  }
  User u = c;
  if (u.role.empty()) u.role = "user";
  return u;
}

}  // namespace parley::hub
