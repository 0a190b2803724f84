// Token mode: a connection is whoever a JSON Web Token (RFC 7519, compact JWS) says it is.
// HS256 with a shared secret (JWT_SECRET) and/or RS256 / ES256 with a public key
// (JWT_PUBLIC_KEY). Every primitive is OpenSSL's; JSON is Boost.JSON. The header's `alg`
// must be one the configuration enables: `none`, and HS256 when only a public key is
// configured (the RS/HS confusion), are refused. Immutable after create(): thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "hub/authenticator.hpp"

namespace parley::hub {

struct JwtOptions {
  std::string secret;      // HS256 key (raw bytes); empty: HS256 disabled
  std::string public_key;  // PEM text (SubjectPublicKeyInfo) or a path to one; RSA or P-256
  std::chrono::seconds leeway{30};  // clock skew tolerated on exp and nbf
  std::string issuer;               // when set, `iss` must equal it
  std::string audience;             // when set, `aud` (string or array) must contain it
  // The claim naming the user. Empty: `sub`, or `id` when the token has no `sub` (tokens
  // made like radio-istic's `jwt.sign({ id }, JWT_SECRET)`). Set: that claim only.
  std::string user_claim;
};

class JwtAuthenticator final : public Authenticator {
 public:
  // Loads the keys; Errc::invalid_argument with `why` when neither key is usable.
  [[nodiscard]] static Result<std::unique_ptr<JwtAuthenticator>> create(const JwtOptions& options,
                                                                        std::string& why);
  ~JwtAuthenticator() override;

  Result<User> authenticate(const AuthRequest& request, std::string& why) const override;
  Result<Identity> identify(const AuthRequest& request, std::string& why) const override;
  bool requires_token() const noexcept override { return true; }

  // Verifies `token` as of `now` (ms since the epoch): the user and the token's expiry, or
  // Errc::unauthenticated with `why` (safe to show the client; never contains the token).
  [[nodiscard]] Result<Identity> verify(std::string_view token, TimeMs now, std::string& why) const;

 private:
  struct Keys;
  explicit JwtAuthenticator(JwtOptions options, std::unique_ptr<Keys> keys);
  JwtOptions options_;
  std::unique_ptr<Keys> keys_;
};

// Compares secrets (ADMIN_TOKEN) in time independent of where they differ (CRYPTO_memcmp).
bool constant_time_equals(std::string_view a, std::string_view b) noexcept;

namespace jwt {
// RFC 4648 §5 without padding. decode: nullopt on any character outside the alphabet or
// an impossible length.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
}  // namespace jwt

}  // namespace parley::hub
