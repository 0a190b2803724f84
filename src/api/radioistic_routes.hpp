// radio-istic's chat REST API (dhia-ui/radio-istic at b5e67e5, backend-api/routes/chat.js),
// served by Parley under the app's own paths (/api/chat/...) with the app's request and
// response shapes, so an operator routes /api/chat/ to Parley and the rest of the app's API
// stays where it is. Every call needs the app's JWT (`Authorization: Bearer`, verified by the
// token-mode Authenticator: AUTH_MODE=token, JWT_SECRET) naming a user Parley knows.
//
// Reads go to storage readers, as Parley's own REST API does; everything that changes a
// conversation's messages or read state goes through the Hub (post_message, delete_message,
// mark_read), so live members see it and nothing is answered before it is committed. The
// mapping of the app's model onto Parley's (names, groups, read state) is in
// docs/socketio.md, "radio-istic". Runs on the connection's strand, like RestEndpoint.
#pragma once

#include "api/rest_endpoint.hpp"

namespace parley::api {

class RadioisticEndpoint final : public net::Endpoint {
 public:
  // Uses `options`' auth, origins (CORS), rate limits and content limit.
  RadioisticEndpoint(hub::Hub& hub, RestOptions options);
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;

 private:
  struct Call;
  boost::asio::awaitable<net::Response> route(Call& call);
  boost::asio::awaitable<net::Response> list_conversations(Call& call);
  boost::asio::awaitable<net::Response> get_conversation(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> create_conversation(Call& call);
  boost::asio::awaitable<net::Response> send_message(Call& call);
  boost::asio::awaitable<net::Response> mark_read(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> delete_message(Call& call, const std::string& id);
  boost::asio::awaitable<net::Response> unread_count(Call& call);

  hub::Hub& hub_;
  RestOptions options_;
  ClientRateLimiter limiter_;
};

}  // namespace parley::api
