#include "hub/client.hpp"

#include "core/log.hpp"
#include "core/time.hpp"

namespace parley::hub {

Client::Client(Hub& hub, const Authenticator& auth, std::shared_ptr<const ClientOptions> options,
               std::string address, const boost::asio::any_io_executor& strand)
    : hub_(hub),
      auth_(auth),
      options_(std::move(options)),
      bucket_(options_->rate_per_s, options_->rate_burst),
      deadline_(auth.requires_token() ? std::make_unique<boost::asio::steady_timer>(strand)
                                      : nullptr) {
  set_address(std::move(address));
}

Result<User> Client::authenticate(AuthRequest request, std::string& why) {
  const bool restated_role = !request.claimed.role.empty();
  auto identity = auth_.identify(request, why);
  if (!identity) {
    if (auth_.requires_token()) {
      spdlog::info("client {}: authentication refused: {}", id(), why);
    }
    return identity.error();
  }
  User user = std::move(identity->user);
  const bool first = !is_authenticated();
  if (!first && user.id != this->user().id) {
    why = "already authenticated as another user";
    return Errc::invalid_argument;
  }
  if (auth_.requires_token()) {
    if (user.id == request.known.id) {  // the token's own claims win; the store fills the rest
      if (user.name.empty()) user.name = request.known.name;
      if (user.avatar.empty()) user.avatar = request.known.avatar;
    }
    if (identity->expires_at) {
      const auto left = std::chrono::milliseconds(*identity->expires_at - now_ms());
      arm(std::chrono::steady_clock::now() + left, "token expired");
    } else if (deadline_) {
      deadline_->cancel();
    }
  } else if (!first) {  // a repeated auth keeps what it does not restate
    if (user.name.empty()) user.name = this->user().name;
    if (user.avatar.empty()) user.avatar = this->user().avatar;
    if (!restated_role) user.role = this->user().role;
  }
  set_user(user);
  if (first) hub_.authenticated(shared_from_this());
  return user;
}

void Client::require_auth_within(std::chrono::steady_clock::duration timeout) {
  if (auth_.requires_token() && !is_authenticated()) {
    arm(std::chrono::steady_clock::now() + timeout, "authenticate first: timed out");
  }
}

void Client::arm(std::chrono::steady_clock::time_point when, const char* why) {
  if (!deadline_) return;  // open mode: nothing expires
  deadline_->expires_at(when);
  std::weak_ptr<Session> weak = shared_from_this();
  deadline_->async_wait([weak, why](boost::system::error_code ec) {
    if (ec) return;  // re-armed, or the client ended
    auto self = std::static_pointer_cast<Client>(weak.lock());
    if (!self || self->ended_) return;
    spdlog::info("client {}: {}, closed", self->id(), why);
    self->on_expired(why);
  });
}

void Client::submit(protocol::WireFormat format, protocol::Command cmd, Hub::ReplyFn reply) {
  std::string why;
  if (auto ec = protocol::check(cmd, options_->limits, why)) {
    reply(protocol::Reply::make_error(ec, std::move(why)));
    return;
  }
  hub_.handle(shared_from_this(), format, std::move(cmd), std::move(reply));
}

void Client::end() {
  if (ended_) return;
  ended_ = true;
  if (deadline_) deadline_->cancel();
  hub_.disconnect(shared_from_this());
}

}  // namespace parley::hub
