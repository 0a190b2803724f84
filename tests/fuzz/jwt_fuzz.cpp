// libFuzzer target: JWT parsing and verification (hub/jwt_authenticator) with HS256 and
// ES256 both configured, an issuer and an audience. The first byte picks the mode:
//   even: the rest is a compact token, verified as given (the alg switch, base64url, the
//         ES256 r||s signature conversion, every refusal before the signature)
//   odd:  the rest is "header JSON\npayload JSON"; the harness signs it with the HS256 key,
//         so the claims checks behind the signature are reached too
// Checks: nothing crashes; an accepted token has a valid sub and a finite expiry; base64url
// round-trips.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ids.hpp"
#include "hub/jwt_authenticator.hpp"

using namespace parley;
using namespace parley::hub;

namespace {

constexpr std::string_view kSecret = "fuzzing-secret-fuzzing-secret-32";
constexpr TimeMs kNow = 1795343400000;  // 2026-11-22T10:30:00Z

std::string ec_public_pem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  if (!key || !bio || PEM_write_bio_PUBKEY(bio, key) != 1) __builtin_trap();
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio, &p);
  std::string pem(p, static_cast<std::size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

const JwtAuthenticator& authenticator() {
  static const auto auth = [] {
    JwtOptions o;
    o.secret = std::string(kSecret);
    o.public_key = ec_public_pem();
    o.issuer = "https://issuer.example";
    o.audience = "parley";
    std::string why;
    auto a = JwtAuthenticator::create(o, why);
    if (!a) __builtin_trap();
    return std::move(*a);
  }();
  return *auth;
}

std::string hs256_sign(std::string_view header, std::string_view payload) {
  std::string input = jwt::base64url_encode(header) + "." + jwt::base64url_encode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, kSecret.data(), kSecret.size(),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                 sizeof mac, &len)) {
    __builtin_trap();
  }
  return input + "." +
         jwt::base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  if (data[0] % 2 == 0) {
    token.assign(rest);
    if (auto bytes = jwt::base64url_decode(rest)) {
      if (jwt::base64url_decode(jwt::base64url_encode(*bytes)) != *bytes) __builtin_trap();
    }
  } else {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return 0;
    token = hs256_sign(rest.substr(0, nl), rest.substr(nl + 1));
  }
  std::string why;
  auto id = authenticator().verify(token, kNow, why);
  if (!id) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  if (!is_valid_id(id->user.id) || id->user.role.empty() || !id->expires_at ||
      *id->expires_at < kNow) {
    __builtin_trap();
  }
  return 0;
}
