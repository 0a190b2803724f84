#include "hub/jwt_authenticator.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>

namespace parley::hub {
namespace {

using jwt::base64url_decode;
using jwt::base64url_encode;

constexpr TimeMs kNow = 1'800'000'000'000;  // ms
constexpr std::int64_t kNowS = kNow / 1000;
const std::string kSecret = "test-secret-that-is-long-enough-for-hs256!";

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey rsa_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})); }
Pkey ec_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string hs256(std::string_view input, const std::string& secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
            &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string sign_with(EVP_PKEY* key, std::string_view input, bool ecdsa_raw) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!ecdsa_raw) return sig;
  // DER -> raw r || s, 32 bytes each.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

std::string payload(std::int64_t exp_offset = 3600, std::string extra = "") {
  return R"({"sub":"alice","name":"Alice","role":"wizard","exp":)" +
         std::to_string(kNowS + exp_offset) + extra + "}";
}

std::string make_token(std::string_view alg, const std::string& body, EVP_PKEY* key = nullptr,
                       const std::string& secret = kSecret) {
  const std::string input =
      base64url_encode(R"({"alg":")" + std::string(alg) + R"(","typ":"JWT"})") + "." +
      base64url_encode(body);
  std::string sig;
  if (alg == "HS256") sig = hs256(input, secret);
  if (alg == "RS256") sig = sign_with(key, input, false);
  if (alg == "ES256") sig = sign_with(key, input, true);
  return input + "." + base64url_encode(sig);
}

std::unique_ptr<JwtAuthenticator> make_auth(JwtOptions o) {
  std::string why;
  auto a = JwtAuthenticator::create(o, why);
  EXPECT_TRUE(a.has_value()) << why;
  return a ? std::move(*a) : nullptr;
}

std::unique_ptr<JwtAuthenticator> hs_auth() {
  JwtOptions o;
  o.secret = kSecret;
  return make_auth(o);
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    auto text = base64url_encode(bytes);
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
    auto back = base64url_decode(text);
    ASSERT_TRUE(back) << i;
    EXPECT_EQ(*back, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
  EXPECT_FALSE(base64url_decode("ab+c"));
  EXPECT_FALSE(base64url_decode("abc="));
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_FALSE(base64url_decode("ab c"));
}

TEST(Jwt, Hs256GivesTheUserAndExpiry) {
  auto auth = hs_auth();
  std::string why;
  auto id = auth->verify(make_token("HS256", payload()), kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.id, "alice");
  EXPECT_EQ(id->user.name, "Alice");
  EXPECT_EQ(id->user.role, "wizard");
  EXPECT_EQ(id->expires_at, (kNowS + 3600 + 30) * 1000);
}

TEST(Jwt, AFarExpiryIsADeadlineEveryClockCanHold) {
  auto auth = hs_auth();
  std::string why;
  auto id = auth->verify(make_token("HS256", R"({"sub":"bob","exp":1e308})"), kNow, why);
  ASSERT_TRUE(id) << why;
  ASSERT_TRUE(id->expires_at);
  // What /ws does with it: a steady_clock deadline that must lie in the future (it used to
  // overflow into the past and close the connection at once).
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(*id->expires_at - kNow);
  EXPECT_GT(deadline, start + std::chrono::hours(24 * 365 * 50));
}

TEST(Jwt, RoleDefaultsToUserAndAvatarIsRead) {
  auto auth = hs_auth();
  std::string why;
  auto id = auth->verify(make_token("HS256", R"({"sub":"bob","avatar":"https://x/a.png","exp":)" +
                                                 std::to_string(kNowS + 60) + "}"),
                         kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.role, "user");
  EXPECT_EQ(id->user.avatar, "https://x/a.png");
}

// radio-istic's backend-api/routes/auth.js: jwt.sign({ id }, JWT_SECRET, { expiresIn: '7d' })
// gives {"id":"<ObjectId hex>","iat":...,"exp":...}, HS256, no `sub`.
TEST(Jwt, TokenWithoutSubTakesItsUserFromId) {
  auto auth = hs_auth();
  std::string why;
  const std::string body = R"({"id":"6913545869844e4b34528347","iat":)" +
                           std::to_string(kNowS) + R"(,"exp":)" +
                           std::to_string(kNowS + 7 * 86400) + "}";
  auto id = auth->verify(make_token("HS256", body), kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.id, "6913545869844e4b34528347");
  EXPECT_EQ(id->user.role, "user");
  // `sub` wins when both are there; a numeric id is its decimal text.
  id = auth->verify(make_token("HS256", payload(3600, R"(,"id":"other")")), kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.id, "alice");
  id = auth->verify(
      make_token("HS256", R"({"id":42,"exp":)" + std::to_string(kNowS + 60) + "}"), kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.id, "42");
  // Neither: refused.
  EXPECT_FALSE(auth->verify(make_token("HS256", R"({"exp":)" + std::to_string(kNowS + 60) + "}"),
                            kNow, why));
}

TEST(Jwt, UserClaimNamesAnotherClaimAndOnlyThatOne) {
  JwtOptions o;
  o.secret = kSecret;
  o.user_claim = "uid";
  auto auth = make_auth(o);
  std::string why;
  auto id = auth->verify(make_token("HS256", payload(3600, R"(,"uid":"u-7")")), kNow, why);
  ASSERT_TRUE(id) << why;
  EXPECT_EQ(id->user.id, "u-7");
  // Configured claim absent: `sub` is not a fallback.
  EXPECT_FALSE(auth->verify(make_token("HS256", payload()), kNow, why));
  EXPECT_EQ(why, "token user claim must be a user id");
}

TEST(Jwt, ExpiryAndNotBeforeHonourTheLeeway) {
  auto auth = hs_auth();
  std::string why;
  EXPECT_TRUE(auth->verify(make_token("HS256", payload(-20)), kNow, why));  // within 30 s
  auto expired = auth->verify(make_token("HS256", payload(-31)), kNow, why);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error(), Errc::unauthenticated);
  EXPECT_EQ(why, "token expired");
  EXPECT_TRUE(auth->verify(
      make_token("HS256", payload(3600, ",\"nbf\":" + std::to_string(kNowS + 20))), kNow, why));
  EXPECT_FALSE(auth->verify(
      make_token("HS256", payload(3600, ",\"nbf\":" + std::to_string(kNowS + 31))), kNow, why));
  EXPECT_EQ(why, "token not yet valid");
  // exp is required.
  EXPECT_FALSE(auth->verify(make_token("HS256", R"({"sub":"alice"})"), kNow, why));
  EXPECT_FALSE(auth->verify(make_token("HS256", R"({"sub":"alice","exp":"soon"})"), kNow, why));
}

TEST(Jwt, WrongKeyIsRefused) {
  auto auth = hs_auth();
  std::string why;
  EXPECT_FALSE(auth->verify(make_token("HS256", payload(), nullptr, "another-secret"), kNow, why));
  EXPECT_EQ(why, "invalid token signature");
}

TEST(Jwt, NoneAndUnconfiguredAlgorithmsAreRefused) {
  auto auth = hs_auth();
  std::string why;
  const std::string unsigned_token =
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(payload()) + ".";
  EXPECT_FALSE(auth->verify(unsigned_token, kNow, why));
  EXPECT_EQ(why, "token algorithm not accepted");
  const std::string none_upper =
      base64url_encode(R"({"alg":"NONE"})") + "." + base64url_encode(payload()) + ".";
  EXPECT_FALSE(auth->verify(none_upper, kNow, why));
  auto rsa = rsa_key();
  EXPECT_FALSE(auth->verify(make_token("RS256", payload(), rsa.get()), kNow, why));
  EXPECT_EQ(why, "token algorithm not accepted");
}

TEST(Jwt, HmacWithThePublicKeyAsSecretIsRefused) {
  // The RS256/HS256 confusion: a public-key configuration never accepts HS256.
  auto rsa = rsa_key();
  JwtOptions o;
  o.public_key = public_pem(rsa.get());
  auto auth = make_auth(o);
  std::string why;
  EXPECT_FALSE(auth->verify(make_token("HS256", payload(), nullptr, o.public_key), kNow, why));
  EXPECT_EQ(why, "token algorithm not accepted");
}

TEST(Jwt, TamperedPayloadIsRefused) {
  auto auth = hs_auth();
  std::string why;
  auto token = make_token("HS256", payload());
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  std::string forged = payload();
  forged.replace(forged.find("alice"), 5, "admin");
  token.replace(d1 + 1, d2 - d1 - 1, base64url_encode(forged));
  EXPECT_FALSE(auth->verify(token, kNow, why));
  EXPECT_EQ(why, "invalid token signature");
}

TEST(Jwt, GarbageIsRefusedWithoutCrashing) {
  auto auth = hs_auth();
  std::string why;
  const std::string good = make_token("HS256", payload());
  for (std::string bad : {std::string(), std::string("."), std::string(".."), std::string("..."),
                          std::string("a.b.c"), std::string("eyJ.eyJ.sig"), good + ".x",
                          std::string(9000, 'a'), std::string("\0\xff.\x01.", 6),
                          base64url_encode("[1]") + "." + base64url_encode("{}") + ".",
                          base64url_encode("{\"alg\":7}") + ".e30.",
                          base64url_encode(R"({"alg":"HS256","crit":["x"]})") + ".e30.AAAA"}) {
    EXPECT_FALSE(auth->verify(bad, kNow, why)) << bad;
  }
  // Every prefix and every single-character corruption of a good token.
  for (std::size_t i = 0; i < good.size(); ++i) {
    EXPECT_FALSE(auth->verify(good.substr(0, i), kNow, why));
    std::string c = good;
    c[i] = c[i] == 'A' ? 'B' : 'A';
    auto r = auth->verify(c, kNow, why);
    if (r) {
      EXPECT_EQ(r->user.id, "alice");  // only base64 slack bits may survive
    }
  }
  // Signed but not sensible payloads.
  EXPECT_FALSE(auth->verify(make_token("HS256", "[]"), kNow, why));
  EXPECT_FALSE(auth->verify(make_token("HS256", "not json"), kNow, why));
  EXPECT_FALSE(auth->verify(make_token("HS256", R"({"exp":99999999999})"), kNow, why));
  EXPECT_FALSE(auth->verify(make_token("HS256", R"({"sub":"a b","exp":99999999999})"), kNow, why));
  EXPECT_FALSE(
      auth->verify(make_token("HS256", R"({"sub":"a","role":5,"exp":99999999999})"), kNow, why));
}

TEST(Jwt, Rs256AndEs256Verify) {
  auto rsa = rsa_key();
  auto ec = ec_key();
  for (auto* key : {rsa.get(), ec.get()}) {
    const bool is_ec = key == ec.get();
    JwtOptions o;
    o.public_key = public_pem(key);
    auto auth = make_auth(o);
    std::string why;
    auto good = make_token(is_ec ? "ES256" : "RS256", payload(), key);
    auto id = auth->verify(good, kNow, why);
    ASSERT_TRUE(id) << why;
    EXPECT_EQ(id->user.id, "alice");
    // Another key of the same type does not verify.
    auto other = is_ec ? ec_key() : rsa_key();
    EXPECT_FALSE(
        auth->verify(make_token(is_ec ? "ES256" : "RS256", payload(), other.get()), kNow, why));
    // The other asymmetric family is not accepted either.
    EXPECT_FALSE(auth->verify(
        make_token(is_ec ? "RS256" : "ES256", payload(), is_ec ? rsa.get() : ec.get()), kNow, why));
    EXPECT_EQ(why, "token algorithm not accepted");
    // Expired tokens are refused with a valid signature too.
    EXPECT_FALSE(
        auth->verify(make_token(is_ec ? "ES256" : "RS256", payload(-100), key), kNow, why));
    EXPECT_EQ(why, "token expired");
  }
}

TEST(Jwt, PublicKeyFromAFileAndEscapedNewlines) {
  auto ec = ec_key();
  const std::string pem = public_pem(ec.get());
  const std::string path = ::testing::TempDir() + "/parley_jwt_test_key.pem";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(pem.data(), 1, pem.size(), f);
    std::fclose(f);
  }
  JwtOptions o;
  o.public_key = path;
  auto auth = make_auth(o);
  std::string why;
  EXPECT_TRUE(auth->verify(make_token("ES256", payload(), ec.get()), kNow, why)) << why;
  std::string escaped;
  for (char c : pem) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
  o.public_key = escaped;
  auth = make_auth(o);
  EXPECT_TRUE(auth->verify(make_token("ES256", payload(), ec.get()), kNow, why)) << why;
  std::remove(path.c_str());
}

TEST(Jwt, ConfigurationErrors) {
  std::string why;
  EXPECT_FALSE(JwtAuthenticator::create(JwtOptions{}, why));
  JwtOptions o;
  o.public_key = "/nonexistent/key.pem";
  EXPECT_FALSE(JwtAuthenticator::create(o, why));
  o.public_key = "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n";
  EXPECT_FALSE(JwtAuthenticator::create(o, why));
}

TEST(Jwt, IssuerAudienceAndMissingToken) {
  JwtOptions o;
  o.secret = kSecret;
  o.issuer = "https://issuer";
  o.audience = "parley";
  auto auth = make_auth(o);
  std::string why;
  EXPECT_FALSE(auth->verify(make_token("HS256", payload()), kNow, why));
  EXPECT_TRUE(auth->verify(
      make_token("HS256", payload(3600, R"(,"iss":"https://issuer","aud":["x","parley"])")), kNow,
      why))
      << why;
  EXPECT_FALSE(auth->identify(AuthRequest{"", User{"alice", "", "", "", std::nullopt}, {}}, why));
  EXPECT_EQ(why, "a token is required");
}

}  // namespace
}  // namespace parley::hub
