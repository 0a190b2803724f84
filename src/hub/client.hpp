// One client of the hub, whatever carries its bytes (the native WebSocket at /ws, a Socket.IO
// socket speaking either app's vocabulary): who it is (auth, re-auth, the token's expiry),
// how fast it may send (its rate bucket), and the one gate every command passes before the
// hub applies it (protocol::check). Transports derive from it and only move bytes; a
// vocabulary only maps names and shapes onto Commands and Replies (tinode keeps one Session
// for every transport the same way, server/session.go).
//
// Threads: a Client lives on its transport's strand (the executor given at construction);
// every member function Requires: running on that strand, except what Session makes
// thread-safe (deliver, the joined-room record).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/token_bucket.hpp"
#include "hub/authenticator.hpp"
#include "hub/hub.hpp"
#include "hub/session.hpp"
#include "protocol/command_rules.hpp"

namespace parley::hub {

// An endpoint's rules for its clients, made once per endpoint and shared by its clients
// (a copy in every client was 80 bytes of each idle connection, issue 13).
struct ClientOptions {
  protocol::Limits limits;  // content, meta and history limits, the same on every endpoint
  double rate_per_s = 0;    // commands a second (token bucket); 0: unlimited
  double rate_burst = 0;
};

class Client : public Session {
 public:
  // `address`: the peer's (Session::address); `strand`: the transport's, for the token
  // mode's deadline (the transport answers Session::strand() itself).
  Client(Hub& hub, const Authenticator& auth, std::shared_ptr<const ClientOptions> options,
         std::string address, const boost::asio::any_io_executor& strand);
  ~Client() override = default;

  // Authenticates the client, or re-authenticates it as the same user. Open mode: a repeated
  // auth keeps the name, avatar and role it does not restate. Token mode: the token decides
  // the whole identity and its expiry is armed (a refresh moves it). The first success tells
  // the hub (Hub::authenticated). Returns the user, or an error with `why` fit for the client
  // (never the token): Errc::unauthenticated, or invalid_argument for another user.
  Result<User> authenticate(AuthRequest request, std::string& why);

  // Token mode: the client must authenticate within `timeout`, else on_expired() is called.
  void require_auth_within(std::chrono::steady_clock::duration timeout);

  // One token of the rate bucket; false when the client is over its rate (the command is
  // refused with Errc::rate_limited and dropped; the connection stays).
  bool admit() noexcept { return bucket_.take(); }

  // The gate: check()s `cmd` (sizes, kinds, limits), then hands it to the hub. `reply` gets
  // exactly one Reply (none for typing that passes the check), on any thread. `cmd` is never
  // an auth (authenticate() is the way in).
  void submit(protocol::WireFormat format, protocol::Command cmd, Hub::ReplyFn reply);

  // The transport ended: leaves every room, once (cancels the expiry).
  void end();

  bool requires_token() const noexcept { return auth_.requires_token(); }
  const protocol::Limits& limits() const noexcept { return options_->limits; }
  Hub& hub() noexcept { return hub_; }

 protected:
  // The token expired or no auth came in time: the transport tells the client
  // (`unauthorized`, `why`) and closes. Runs on the strand.
  virtual void on_expired(std::string_view why) = 0;

 private:
  void arm(std::chrono::steady_clock::time_point when, const char* why);

  Hub& hub_;
  const Authenticator& auth_;
  const std::shared_ptr<const ClientOptions> options_;  // the endpoint's
  TokenBucket bucket_;
  // Token mode only: the auth timeout, then the token's expiry. An open-mode client has
  // none (it was 120 bytes, and an 88-byte copy of a Socket.IO session's strand, on every
  // idle connection).
  std::unique_ptr<boost::asio::steady_timer> deadline_;
  bool ended_ = false;
};

}  // namespace parley::hub
