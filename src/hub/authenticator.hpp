// Decides who a connection is. Open mode (the default for local use): the client states its
// user id (and name, role, avatar). Token mode (JWT) plugs in here. Thread-safe, no I/O:
// front ends call it synchronously on their strand, so an `auth` followed at once by a
// `join` is applied in order.
#pragma once

#include <string>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley::hub {

struct AuthRequest {
  std::string token;  // from the auth op, ?token=, Authorization: Bearer, Socket.IO auth
  User claimed;       // open mode: what the client says it is
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The user, or Errc::unauthenticated / invalid_argument with `why` filled.
  [[nodiscard]] virtual Result<User> authenticate(const AuthRequest& request,
                                                  std::string& why) const = 0;
  // True when a connection must authenticate with a token.
  virtual bool requires_token() const noexcept = 0;
};

// Open mode: any valid user id is accepted as stated.
class OpenAuthenticator final : public Authenticator {
 public:
  Result<User> authenticate(const AuthRequest& request, std::string& why) const override;
  bool requires_token() const noexcept override { return false; }
};

}  // namespace parley::hub
