#include "net/engineio/socketio_endpoint.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "core/log.hpp"
#include "core/time.hpp"
#include "net/engineio/socketio_server.hpp"
#include "hub/client.hpp"
#include "protocol/socketio/socketio_events.hpp"
#include "protocol/socketio/socketio_packet.hpp"
#include "store/storage.hpp"

namespace parley::net::engineio {

namespace asio = boost::asio;
namespace json = boost::json;
using protocol::Command;
using protocol::Op;
using protocol::Reply;
using protocol::ReplyType;
using protocol::WireFormat;
using protocol::socketio::ChatRequest;
using AckId = std::optional<std::uint64_t>;

namespace {

// A string, or a number taken as its decimal text (apps send numeric user ids).
std::string id_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64() || v->is_uint64()) return json::serialize(*v);
  return {};
}

std::string str_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// One client's socket on the default namespace: a hub session speaking both vocabularies.
class ChatSocket final : public hub::Client, public SioSocket {
 public:
  ChatSocket(hub::Hub& hub, const hub::Authenticator& auth, const SocketIoOptions& options,
             const std::shared_ptr<EioSocket>& engine)
      : hub::Client(hub, auth,
                    hub::ClientOptions{options.limits, options.rate_per_s, options.rate_burst},
                    engine->strand()),
        engine_(engine),
        strand_(engine->strand()) {}

  // hub::Session. Thread-safe. Over a WebSocket the frames go straight into its connection
  // (one write per batch, the room's frame shared, not copied); over polling, to the
  // session's queue on its strand.
  void deliver(const hub::Frame& frame) override {
    if (disconnected_.load(std::memory_order_relaxed)) return;
    if (auto e = engine_.lock()) e->deliver(frame);
  }
  void deliver_batch(std::span<const hub::Frame> frames) override {
    if (disconnected_.load(std::memory_order_relaxed)) return;
    if (auto e = engine_.lock()) e->deliver_batch(frames);
  }
  // A DeliveryScope deferred the WebSocket's write (EioSocket::set_scope_session).
  void wake() override {
    if (auto e = engine_.lock()) e->wake_delivery();
  }

  // The CONNECT payload: {token?, userId?, name?, avatar?, role?}. Authenticates when it
  // names anyone; false with `why` when that fails (the CONNECT is refused).
  bool connect(const json::value& auth, const HandshakeInfo& info, std::string& why) {
    if (auth.is_object()) {
      const auto& o = auth.get_object();
      token_ = str_field(o, "token");
      claim_.id = id_field(o, "userId");
      if (claim_.id.empty()) claim_.id = id_field(o, "user");
      claim_.name = str_field(o, "name");
      claim_.avatar = str_field(o, "avatar");
      claim_.role = str_field(o, "role");
    }
    if (token_.empty()) token_ = info.token;
    if (claim_.id.empty() && token_.empty()) return true;  // may authenticate later
    boost::system::error_code ec;
    return authenticate(claim_, token_, ec, why);
  }

  void on_event(json::array args, AckId ack_id, std::vector<std::string> attachments) override {
    ChatRequest req;
    if (!args.empty() && args[0].is_string()) req.event = std::string(args[0].get_string());
    if (!admit()) {
      reply(req, ack_id, Reply::make_error(Errc::rate_limited, "too many messages: slow down"));
      return;
    }
    if (!attachments.empty()) {
      reply(req, ack_id,
            Reply::make_error(Errc::invalid_argument,
                              "binary attachments are not supported by chat events"));
      return;
    }
    std::string why;
    auto decoded = protocol::socketio::decode_request(args, why);
    if (!decoded) {
      if (decoded.error() == Errc::not_found) why = "unknown event: " + req.event;
      reply(req, ack_id, Reply::make_error(decoded.error(), why));
      return;
    }
    run(std::move(*decoded), ack_id);
  }

  void on_disconnect(std::string_view /*reason*/) override {
    if (disconnected_.exchange(true)) return;
    end();
  }

 private:
  std::shared_ptr<ChatSocket> self() {
    return std::static_pointer_cast<ChatSocket>(hub::Session::shared_from_this());
  }

  // Thread-safe. Replies and room deliveries take the same path (EioSocket::deliver, which
  // keeps the order of its calls whether it writes to the WebSocket directly or posts to the
  // strand), so they reach the client in the order they were made: a join's history, made
  // on the room's strand before the socket became a member, precedes every live event of
  // that room.
  void emit_text(std::string text) {
    if (text.empty()) return;
    if (auto e = engine_.lock()) e->deliver(std::make_shared<const std::string>(std::move(text)));
  }

  // Sends what the client gets for `r`: the vocabulary's event (if any), then the ack.
  // Thread-safe (pure encoding, then emit_text).
  void reply(const ChatRequest& req, AckId ack_id, const Reply& r) {
    if (disconnected_.load(std::memory_order_relaxed)) return;
    emit_text(protocol::socketio::encode_reply_event(req, r));
    if (ack_id) {
      json::array args;
      args.emplace_back(protocol::socketio::ack_payload(req, r));
      emit_text(protocol::socketio::encode_ack("/", *ack_id, args));
    }
  }

  bool authenticate(User claimed, const std::string& token, boost::system::error_code& ec,
                    std::string& why) {
    auto user = hub::Client::authenticate(hub::AuthRequest{token, std::move(claimed)}, why);
    if (!user) ec = user.error();
    return static_cast<bool>(user);
  }

  // hub::Client: the token expired. The client gets `error` {code: unauthorized} and the
  // connection is closed (it reconnects and must present a fresh token).
  void on_expired(std::string_view why) override {
    if (disconnected_.load(std::memory_order_relaxed)) return;
    ChatRequest req;
    req.event = "authenticate";
    reply(req, std::nullopt, Reply::make_error(Errc::unauthenticated, std::string(why)));
    if (auto e = engine_.lock()) e->post_close(std::string(why));  // after the error, in order
  }

  void subscribe_status() {
    if (subscribed_) return;
    subscribed_ = true;
    hub().subscribe_user_status(self());
  }

  // The Wizard-of-Oz app has no login: a socket speaks as the role of its last join or
  // *_message event, under the handshake's user id if it gave one, else the role itself.
  bool ensure_role(const ChatRequest& req, AckId ack_id) {
    if (!is_authenticated()) {
      User claimed = claim_;
      if (req.claimed_user) claimed.id = *req.claimed_user;
      if (claimed.id.empty()) claimed.id = req.role;
      if (!req.command.identity.name.empty()) claimed.name = req.command.identity.name;
      if (claimed.name.empty()) claimed.name = req.role;
      claimed.role = req.role;
      boost::system::error_code ec;
      std::string why;
      if (!authenticate(std::move(claimed), token_, ec, why)) {
        reply(req, ack_id, Reply::make_error(ec, why));
        return false;
      }
    }
    // In token mode the token's role stands (a client must not promote itself, e.g. to
    // "admin"); in open mode the role is whatever the WoZ event says.
    if (!requires_token() && user().role != req.role) {
      User u = user();
      u.role = req.role;
      set_user(std::move(u));
    }
    return true;
  }

  void run(ChatRequest req, AckId ack_id) {
    Command& c = req.command;
    switch (c.op) {
      case Op::auth: {
        User claimed = std::move(c.identity);
        const std::string token = c.token.empty() ? token_ : c.token;
        boost::system::error_code ec;
        std::string why;
        if (!authenticate(std::move(claimed), token, ec, why)) {
          reply(req, ack_id, Reply::make_error(ec, why));
          return;
        }
        subscribe_status();
        Reply ok;
        ok.type = ReplyType::auth_ok;
        ok.user = user();
        reply(req, ack_id, ok);
        return;
      }
      case Op::join:
        if (req.format == WireFormat::sio_woz) {
          if (!ensure_role(req, ack_id)) return;
        } else {
          if (!is_authenticated() && (req.claimed_user || !claim_.id.empty())) {
            User claimed = claim_;
            if (req.claimed_user) claimed.id = *req.claimed_user;
            boost::system::error_code ec;
            std::string why;
            if (!authenticate(std::move(claimed), token_, ec, why)) {
              reply(req, ack_id, Reply::make_error(ec, why));
              return;
            }
          }
          subscribe_status();
        }
        break;
      case Op::send:
        if (req.format == WireFormat::sio_woz) {
          if (!ensure_role(req, ack_id)) return;
        } else if (is_authenticated() && !user().avatar.empty()) {
          add_avatar(c);
        }
        break;
      case Op::read:
        if (req.message_id) {
          resolve_and_handle(std::move(req), ack_id);
          return;
        }
        break;
      case Op::typing: {
        // The hub answers nothing for typing; acknowledge here.
        const bool authed = is_authenticated();
        handle(req, ack_id);
        if (ack_id) {
          reply(req, ack_id,
                authed ? Reply{} : Reply::make_error(Errc::unauthenticated, "authenticate first"));
        }
        return;
      }
      default:
        break;
    }
    handle(std::move(req), ack_id);
  }

  void add_avatar(Command& c) {
    boost::system::error_code ec;
    json::value meta = json::parse(c.meta, ec);
    if (ec || !meta.is_object()) return;
    auto& o = meta.get_object();
    if (o.contains(protocol::socketio::kAvatarMetaKey)) return;
    o.emplace(protocol::socketio::kAvatarMetaKey, user().avatar);
    c.meta = json::serialize(meta);
  }

  void handle(ChatRequest req, AckId ack_id) {
    Command cmd = std::move(req.command);
    req.command = Command{};
    req.command.op = cmd.op;
    submit(req.format, std::move(cmd), [self = self(), req = std::move(req), ack_id](Reply r) {
      self->reply(req, ack_id, r);
    });
  }

  // mark-as-read {messageId}: find its seq, then mark as read up to it.
  void resolve_and_handle(ChatRequest req, AckId ack_id) {
    if (!is_authenticated()) {
      reply(req, ack_id, Reply::make_error(Errc::unauthenticated, "authenticate first"));
      return;
    }
    hub().storage().read([self = self(), req = std::move(req), ack_id](store::Connection& c) {
      Seq found = 0;
      const std::string& wanted = *req.message_id;
      auto r = c.for_each_message(req.command.conversation, 0, [&](const StoredMessage& m) {
        if (m.id != wanted) return true;
        found = m.seq;
        return false;
      });
      const bool failed = !r;
      asio::post(self->strand_, [self, req, ack_id, found, failed]() mutable {
        if (found == 0) {
          self->reply(req, ack_id,
                      failed ? Reply::make_error(Errc::unavailable, "storage unavailable")
                             : Reply::make_error(Errc::not_found, "no such message"));
          return;
        }
        req.command.seq = found;
        req.message_id.reset();
        self->handle(std::move(req), ack_id);
      });
    });
  }

  std::weak_ptr<EioSocket> engine_;
  Strand strand_;
  std::string token_;  // from the CONNECT payload or the handshake (?token=, Bearer)
  User claim_;         // who the CONNECT payload says the client is
  bool subscribed_ = false;
  std::atomic<bool> disconnected_{false};
};

class ChatApp final : public SioApp {
 public:
  ChatApp(hub::Hub& hub, const hub::Authenticator& auth, SocketIoOptions options)
      : hub_(hub), auth_(auth), options_(std::move(options)) {}

  std::shared_ptr<SioSocket> connect(SioConnection& connection, std::string_view nsp,
                                     const json::value& auth, std::string& error) override {
    if (nsp != "/" || !connection.engine()) {
      error = "Invalid namespace";
      return nullptr;
    }
    auto socket = std::make_shared<ChatSocket>(hub_, auth_, options_,
                                               connection.engine()->shared_from_this());
    std::string why;
    if (!socket->connect(auth, connection.handshake(), why)) {
      error = why.empty() ? std::string("unauthorized") : why;
      return nullptr;
    }
    connection.engine()->set_scope_session(socket);
    return socket;
  }

 private:
  hub::Hub& hub_;
  const hub::Authenticator& auth_;
  const SocketIoOptions options_;
};

}  // namespace

SocketIoEndpoint::SocketIoEndpoint(asio::any_io_executor executor, hub::Hub& hub,
                                   const hub::Authenticator& auth, NetStats& stats,
                                   SocketIoOptions options)
    : engine_(std::move(executor),
              socketio_handlers(std::make_shared<ChatApp>(hub, auth, options),
                                options.engine.connect_timeout),
              options.engine, &stats) {}

}  // namespace parley::net::engineio
