// Decides who a connection is. Open mode (the default for local use): the client states its
// user id (and name, role, avatar). Token mode: JwtAuthenticator (hub/jwt_authenticator.hpp). Thread-safe, no I/O:
// front ends call it synchronously on their strand, so an `auth` followed at once by a
// `join` is applied in order.
#pragma once

#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/model.hpp"

namespace parley::hub {

struct AuthRequest {
  std::string token;  // from the auth op, ?token=, Authorization: Bearer, Socket.IO auth
  User claimed;       // open mode: what the client says it is
  // Token mode: the user as the server already knows them (stored name and avatar), for a
  // token that carries neither (radio-istic signs only `{ id }`). Set by the server, never
  // from what the client sends; ignored in open mode.
  User known;
};

// Who a connection is, and until when (token mode: the token's `exp`). A front end that
// honours `expires_at` tells the client (error `unauthorized`) and closes it then.
struct Identity {
  User user;
  std::optional<TimeMs> expires_at;  // ms since the epoch, leeway included; nullopt: never
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The user, or Errc::unauthenticated / invalid_argument with `why` filled (`why` is safe
  // to send to the client; it never contains the token).
  [[nodiscard]] virtual Result<User> authenticate(const AuthRequest& request,
                                                  std::string& why) const = 0;
  // authenticate() plus the moment the identity stops being valid.
  [[nodiscard]] virtual Result<Identity> identify(const AuthRequest& request,
                                                  std::string& why) const {
    auto user = authenticate(request, why);
    if (!user) return user.error();
    return Identity{std::move(*user), std::nullopt};
  }
  // True when a connection must authenticate with a token (token mode). Then, and only
  // then, a user with role "admin" is trusted as an administrator.
  virtual bool requires_token() const noexcept = 0;
};

// Open mode: any valid user id is accepted as stated.
class OpenAuthenticator final : public Authenticator {
 public:
  Result<User> authenticate(const AuthRequest& request, std::string& why) const override;
  bool requires_token() const noexcept override { return false; }
};

}  // namespace parley::hub
