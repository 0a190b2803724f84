// The HTTP API of PROTOCOL.md: health, metrics, conversations, messages, export, search,
// users. Each request runs as a coroutine on its connection's strand; storage work goes to
// the Storage threads and message changes go through the Hub (so rooms see them).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "api/export.hpp"
#include "core/client_rate_limiter.hpp"
#include "hub/authenticator.hpp"
#include "hub/hub.hpp"
#include "net/endpoint.hpp"
#include "net/origin_policy.hpp"
#include "net/stats.hpp"

namespace parley::api {

struct RestOptions {
  std::size_t max_content_bytes = 64 * 1024;
  std::string version = "0.1.0";
  // Token mode when `auth` requires tokens: every /api/ call needs `Authorization: Bearer`
  // with a JWT (a user; role "admin" is an administrator) or exactly `admin_token`.
  const hub::Authenticator* auth = nullptr;
  std::string admin_token;
  net::OriginPolicy origins;  // CORS
  // Requests per second per client on /api/ (a user id when authenticated, else the peer
  // address; token bucket of `rate_burst`); 0: unlimited. Over it: 429 rate_limited.
  double rate_per_s = 0;
  double rate_burst = 0;
  // POST /api/conversations counts against the hub's creation budget
  // (hub::Hub::Options::conversations_per_min, shared with joins of new ids). Token mode:
  // only administrators (ADMIN_TOKEN, role "admin": the app's back end) create conversations
  // by POST; users get 403 (hub::Hub::Options::admins_create_only, set alike).
  bool admins_create_only = false;
  // Responses streamed from storage a page at a time (exports, a whole conversation)
  // served at once; more get 503 with Retry-After. Each holds one page (256 messages).
  std::size_t max_streams = 8;
};

class RestEndpoint final : public net::Endpoint {
 public:
  RestEndpoint(hub::Hub& hub, net::NetStats& stats, RestOptions options);
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;

 private:
  hub::Hub& hub_;
  net::NetStats& stats_;
  RestOptions options_;
  ClientRateLimiter limiter_;
  std::atomic<std::size_t> streams_{0};  // streamed responses under way
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  struct Call;
  boost::asio::awaitable<net::Response> route(Call& call);
  // Token mode: empty when the caller may see conversation `id`; Errc::not_found when it
  // does not exist or has participants without the caller (existence is not revealed).
  // `missing_ok`: a conversation that does not exist yet passes.
  boost::asio::awaitable<Result<void>> check_visible(Call& call, const std::string& id,
                                                     bool missing_ok = false);
  static hub::Archive::Viewer viewer_of(const Call& call);
  boost::asio::awaitable<net::Response> health(Call& call);
  net::Response metrics(Call& call);
  boost::asio::awaitable<net::Response> list_conversations(Call& call);
  boost::asio::awaitable<net::Response> create_conversation(Call& call,
                                                            const std::string& address);
  boost::asio::awaitable<net::Response> get_conversation(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> put_conversation(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> patch_conversation(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> delete_conversation(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> list_messages(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> post_message(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> change_message(Call& call, const std::string& id, Seq seq);
  boost::asio::awaitable<net::Response> export_conversation(Call& call, const std::string& id);
  // Writes conversation `id` as `format` to the connection in chunks, a page of messages
  // at a time (constant memory, however long the conversation), and marks the call
  // streamed. `download`: with Content-Disposition (the export).
  boost::asio::awaitable<net::Response> stream_conversation(Call& call, const std::string& id,
                                                            ExportFormat format, bool download);
  boost::asio::awaitable<net::Response> search(Call& call);
  boost::asio::awaitable<net::Response> get_user(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> put_user(Call& call, const std::string& id);
};

}  // namespace parley::api
