#include "hub/jwt_authenticator.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json/parse.hpp>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/ids.hpp"

namespace parley::hub {

namespace json = boost::json;

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  // The length is not secret (a fixed-size token); the contents are.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace jwt {

std::string base64url_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string in;
  in.reserve(text.size() + 3);
  for (char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      in.push_back(c);
    } else if (c == '-') {
      in.push_back('+');
    } else if (c == '_') {
      in.push_back('/');
    } else {
      return std::nullopt;  // padding, whitespace and the standard alphabet are not base64url
    }
  }
  const std::size_t pad = (4 - in.size() % 4) % 4;
  in.append(pad, '=');
  if (in.empty()) return std::string();
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0 || static_cast<std::size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);  // EVP_DecodeBlock counts padding as zeros
  return out;
}

}  // namespace jwt

namespace {

constexpr std::size_t kMaxTokenBytes = 8 * 1024;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

enum class Alg { hs256, rs256, es256 };

// PEM text, PEM with literal "\n" (as environment variables often carry it), or a path.
std::optional<std::string> pem_text(const std::string& value) {
  if (value.find("-----BEGIN") != std::string::npos) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == 'n') {
        out.push_back('\n');
        ++i;
      } else {
        out.push_back(value[i]);
      }
    }
    return out;
  }
  std::ifstream in(value, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// exp/nbf: NumericDate, seconds (fractions allowed) since the epoch.
bool numeric_date(const json::value& v, double& out) {
  if (v.is_int64()) {
    out = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    out = static_cast<double>(v.get_uint64());
  } else if (v.is_double()) {
    out = v.get_double();
  } else {
    return false;
  }
  return std::isfinite(out);
}

bool optional_string(const json::object& o, std::string_view key, std::size_t max,
                     std::string& out) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string() || v->get_string().size() > max) return false;
  out.assign(v->get_string().data(), v->get_string().size());
  return true;
}

}  // namespace

struct JwtAuthenticator::Keys {
  PkeyPtr pkey;
  std::optional<Alg> pkey_alg;  // rs256 or es256, from the key's type
};

JwtAuthenticator::JwtAuthenticator(JwtOptions options, std::unique_ptr<Keys> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}

JwtAuthenticator::~JwtAuthenticator() = default;

Result<std::unique_ptr<JwtAuthenticator>> JwtAuthenticator::create(const JwtOptions& options,
                                                                   std::string& why) {
  auto keys = std::make_unique<Keys>();
  if (!options.public_key.empty()) {
    auto pem = pem_text(options.public_key);
    if (!pem) {
      why = "JWT_PUBLIC_KEY is neither PEM text nor a readable file";
      return Errc::invalid_argument;
    }
    BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
    if (!bio) return Errc::internal;
    keys->pkey.reset(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!keys->pkey) {
      why = "JWT_PUBLIC_KEY is not a PEM public key (-----BEGIN PUBLIC KEY-----)";
      return Errc::invalid_argument;
    }
    if (EVP_PKEY_is_a(keys->pkey.get(), "RSA")) {
      if (EVP_PKEY_get_bits(keys->pkey.get()) < 2048) {
        why = "JWT_PUBLIC_KEY: RSA keys must have at least 2048 bits";
        return Errc::invalid_argument;
      }
      keys->pkey_alg = Alg::rs256;
    } else if (EVP_PKEY_is_a(keys->pkey.get(), "EC")) {
      char group[64] = {};
      std::size_t len = 0;
      if (!EVP_PKEY_get_group_name(keys->pkey.get(), group, sizeof group, &len) ||
          (std::string_view(group) != "prime256v1" && std::string_view(group) != "P-256")) {
        why = "JWT_PUBLIC_KEY: EC keys must be on P-256 (ES256)";
        return Errc::invalid_argument;
      }
      keys->pkey_alg = Alg::es256;
    } else {
      why = "JWT_PUBLIC_KEY must be an RSA or P-256 EC key";
      return Errc::invalid_argument;
    }
  }
  if (options.secret.empty() && !keys->pkey) {
    why = "token mode needs JWT_SECRET or JWT_PUBLIC_KEY";
    return Errc::invalid_argument;
  }
  return std::unique_ptr<JwtAuthenticator>(new JwtAuthenticator(options, std::move(keys)));
}

Result<User> JwtAuthenticator::authenticate(const AuthRequest& request, std::string& why) const {
  auto id = identify(request, why);
  if (!id) return id.error();
  return std::move(id->user);
}

Result<Identity> JwtAuthenticator::identify(const AuthRequest& request, std::string& why) const {
  if (request.token.empty()) {
    why = "a token is required";
    return Errc::unauthenticated;
  }
  return verify(request.token, now_ms(), why);
}

Result<Identity> JwtAuthenticator::verify(std::string_view token, TimeMs now,
                                          std::string& why) const {
  auto fail = [&why](const char* reason) -> Result<Identity> {
    why = reason;
    return Errc::unauthenticated;
  };
  if (token.size() > kMaxTokenBytes) return fail("invalid token");
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail("invalid token");
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail("invalid token");
  }
  const std::string_view signing_input = token.substr(0, dot2);
  auto header_text = jwt::base64url_decode(token.substr(0, dot1));
  auto payload_text = jwt::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = jwt::base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return fail("invalid token");

  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return fail("invalid token");
  const auto& h = header.get_object();
  const auto* alg_v = h.if_contains("alg");
  if (!alg_v || !alg_v->is_string()) return fail("invalid token");
  if (h.contains("crit")) return fail("unsupported token");  // no extension is understood
  const std::string_view alg_name = alg_v->get_string();
  Alg alg;
  if (alg_name == "HS256" && !options_.secret.empty()) {
    alg = Alg::hs256;
  } else if (alg_name == "RS256" && keys_->pkey_alg == Alg::rs256) {
    alg = Alg::rs256;
  } else if (alg_name == "ES256" && keys_->pkey_alg == Alg::es256) {
    alg = Alg::es256;
  } else {
    return fail("token algorithm not accepted");
  }

  // Signature first: nothing in the payload is looked at before it is authentic.
  bool good = false;
  if (alg == Alg::hs256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t mac_len = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, options_.secret.data(),
                   options_.secret.size(),
                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                   signing_input.size(), mac, sizeof mac, &mac_len)) {
      return fail("invalid token");
    }
    good = mac_len == signature->size() && CRYPTO_memcmp(mac, signature->data(), mac_len) == 0;
  } else {
    std::string der;
    const unsigned char* sig = reinterpret_cast<const unsigned char*>(signature->data());
    std::size_t sig_len = signature->size();
    if (alg == Alg::es256) {
      // JWS carries ES256 as raw r || s (RFC 7518 §3.4); OpenSSL verifies DER.
      if (signature->size() != 64) return fail("invalid token signature");
      ECDSA_SIG* es = ECDSA_SIG_new();
      BIGNUM* r = BN_bin2bn(sig, 32, nullptr);
      BIGNUM* s = BN_bin2bn(sig + 32, 32, nullptr);
      if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return fail("invalid token");
      }
      unsigned char* out = nullptr;
      const int n = i2d_ECDSA_SIG(es, &out);
      ECDSA_SIG_free(es);
      if (n <= 0) return fail("invalid token");
      der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
      OPENSSL_free(out);
      sig = reinterpret_cast<const unsigned char*>(der.data());
      sig_len = der.size();
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return fail("invalid token");
    good = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, keys_->pkey.get()) == 1 &&
           EVP_DigestVerify(ctx, sig, sig_len,
                            reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
  }
  if (!good) return fail("invalid token signature");

  json::value payload = json::parse(*payload_text, ec);
  if (ec || !payload.is_object()) return fail("invalid token");
  const auto& p = payload.get_object();
  const double now_s = static_cast<double>(now) / 1000.0;
  const double leeway = static_cast<double>(options_.leeway.count());
  const auto* exp_v = p.if_contains("exp");
  double exp = 0;
  if (!exp_v || !numeric_date(*exp_v, exp)) return fail("token has no valid exp");
  if (now_s > exp + leeway) return fail("token expired");
  if (const auto* nbf_v = p.if_contains("nbf")) {
    double nbf = 0;
    if (!numeric_date(*nbf_v, nbf)) return fail("invalid token");
    if (now_s + leeway < nbf) return fail("token not yet valid");
  }
  if (!options_.issuer.empty()) {
    const auto* iss = p.if_contains("iss");
    if (!iss || !iss->is_string() || iss->get_string() != options_.issuer) {
      return fail("token issuer not accepted");
    }
  }
  if (!options_.audience.empty()) {
    const auto* aud = p.if_contains("aud");
    bool found = false;
    if (aud && aud->is_string()) found = aud->get_string() == options_.audience;
    if (aud && aud->is_array()) {
      for (const auto& a : aud->get_array()) {
        if (a.is_string() && a.get_string() == options_.audience) found = true;
      }
    }
    if (!found) return fail("token audience not accepted");
  }
  // The user: `sub` (RFC 7519), else `id` (apps that sign `{ id }`), or the configured claim.
  // A number is taken as its decimal text (apps with integer user ids).
  std::string_view claim = options_.user_claim;
  if (claim.empty()) claim = p.contains("sub") ? "sub" : "id";
  const auto* sub = p.if_contains(claim);
  std::string user_id;
  if (sub && sub->is_string()) {
    user_id.assign(sub->get_string().data(), sub->get_string().size());
  } else if (sub && (sub->is_int64() || sub->is_uint64())) {
    user_id = sub->is_int64() ? std::to_string(sub->get_int64()) : std::to_string(sub->get_uint64());
  }
  if (!is_valid_id(user_id)) {
    return fail(options_.user_claim.empty() ? "token sub (or id) must be a user id"
                                            : "token user claim must be a user id");
  }
  Identity id;
  id.user.id = std::move(user_id);
  if (!optional_string(p, "name", 200, id.user.name) ||
      !optional_string(p, "role", 64, id.user.role) ||
      !optional_string(p, "avatar", 2048, id.user.avatar)) {
    return fail("token name, role or avatar is invalid");
  }
  if (id.user.role.empty()) id.user.role = "user";
  // One rule for every front end: an `exp` far away (1e308 is a valid NumericDate) means
  // "not for a century". Capped at 9e15 ms, /ws turned it into a steady_clock deadline of
  // ~9e21 ns, which overflowed into the past: closed 1008 right after a successful auth
  // while REST, which arms no timer, accepted the token. A century is 3.2e18 ns: it fits.
  constexpr double kCenturyS = 100.0 * 365.25 * 86400.0;
  const double until = std::min(exp + leeway, now_s + kCenturyS) * 1000.0;
  id.expires_at = static_cast<TimeMs>(until);
  return id;
}

}  // namespace parley::hub
