#include "net/engineio/socketio_endpoint.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <memory>

#include "core/log.hpp"
#include "core/time.hpp"
#include "net/engineio/socketio_server.hpp"
#include "hub/client.hpp"
#include "protocol/socketio/radioistic_model.hpp"
#include "protocol/socketio/radioistic_vocabulary.hpp"
#include "protocol/socketio/socketio_events.hpp"
#include "protocol/socketio/webwoz_vocabulary.hpp"
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
             std::shared_ptr<const hub::ClientOptions> client_options,
             const std::shared_ptr<EioSocket>& engine, std::string address)
      : hub::Client(hub, auth, std::move(client_options), std::move(address), engine->strand()),
        token_at_connect_(options.token_at_connect && auth.requires_token()),
        strand_(engine->strand()),
        engine_(engine) {}

  // The engine's strand (kept typed: 24 bytes, where an any_io_executor is 56).
  boost::asio::any_io_executor strand() const override { return strand_; }

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
  bool deliver_lazy(const hub::Frame& frame) override {
    if (disconnected_.load(std::memory_order_relaxed)) return false;
    auto e = engine_.lock();
    return e && e->deliver_lazy(frame);
  }
  void end_lull() override {
    if (auto e = engine_.lock()) e->end_lull();
  }
  void hold_input(bool held) override {
    if (auto e = engine_.lock()) e->hold_input(held);
  }
  // A DeliveryScope deferred the WebSocket's write (EioSocket::set_scope_session).
  void wake() override {
    if (auto e = engine_.lock()) e->wake_delivery();
  }

  // The CONNECT payload: {token?, userId?, name?, avatar?, role?} (read before connect()).
  void parse(const json::value& auth, const HandshakeInfo& info) {
    if (auth.is_object()) {
      const auto& o = auth.get_object();
      token_ = str_field(o, "token");
      User claim;
      claim.id = id_field(o, "userId");
      if (claim.id.empty()) claim.id = id_field(o, "user");
      claim.name = str_field(o, "name");
      claim.avatar = str_field(o, "avatar");
      claim.role = str_field(o, "role");
      if (!claim.id.empty() || !claim.name.empty() || !claim.avatar.empty() ||
          !claim.role.empty()) {
        claim_ = std::make_unique<User>(std::move(claim));
      }
    }
    if (token_.empty()) token_ = info.token;
  }
  const std::string& token() const noexcept { return token_; }

  // Authenticates when the CONNECT names anyone; false with `why` when that fails (the
  // CONNECT is refused). `known`: the stored user, for a token without name or avatar.
  bool connect(std::string& why, const User& known = {}) {
    if (claim().id.empty() && token_.empty()) {
      if (!token_at_connect_) return true;  // may authenticate later
      why = "a token is required";
      return false;
    }
    auto user = hub::Client::authenticate(hub::AuthRequest{token_, claim(), known}, why);
    if (!user) return false;
    claim_.reset();  // only an unauthenticated socket's later events read it
    // Authenticated at once. A token at connect is how radio-istic's clients come
    // (auth.token): such a socket follows every user's status and gets the online list on
    // connect (websocket-server.js:80-86). An open-mode claim ({userId, name}) identifies
    // without following it until the socket asks (`authenticate`): that stream costs every
    // subscriber a whole online list per connect, O(N^2) in the sockets (300 claim-only idle
    // sockets queued 4 MB each and were closed as slow; 19,000 would need 16 GB).
    if (!token_.empty()) subscribe_status();
    return true;
  }

  // SioSocket: the CONNECT was answered. radio-istic's io.emit('online-users') reaches the
  // new socket too.
  void on_connected() override {
    if (!subscribed_) return;
    emit_text(protocol::socketio::radioistic::encode_online_users(hub().presence().online_list()));
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
    if (decoded->event == "get-online-users") {  // websocket-server.js:316-319
      // Asking for the list is asking to keep it current (a claim-only socket starts here).
      if (is_authenticated()) subscribe_status();
      emit_text(protocol::socketio::radioistic::encode_online_users(hub().presence().online_list()));
      if (ack_id) reply(*decoded, ack_id, Reply{});
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

  // Sends what the client gets for `r`: the vocabulary's event (if any), then the ack, as
  // one delivery (one lock of the connection's queue for both packets of a send's reply).
  // Thread-safe (pure encoding, then deliver_batch).
  void reply(const ChatRequest& req, AckId ack_id, const Reply& r) {
    if (disconnected_.load(std::memory_order_relaxed)) return;
    std::vector<hub::Frame> frames;
    for (auto& event : protocol::socketio::encode_reply_events(req, r)) {
      if (!event.empty()) frames.push_back(std::make_shared<const std::string>(std::move(event)));
    }
    if (ack_id) {
      json::array args;
      args.emplace_back(protocol::socketio::ack_payload(req, r));
      frames.push_back(std::make_shared<const std::string>(
          protocol::socketio::encode_ack("/", *ack_id, args)));
    }
    if (frames.empty()) return;
    if (auto e = engine_.lock()) e->deliver_batch(frames);
  }

  bool authenticate(User claimed, const std::string& token, boost::system::error_code& ec,
                    std::string& why) {
    auto user = hub::Client::authenticate(hub::AuthRequest{token, std::move(claimed), {}}, why);
    if (!user) {
      ec = user.error();
      return false;
    }
    claim_.reset();
    return true;
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
      User claimed = claim();
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
      case Op::leave:
        // WebWOz's wizard leaves {room: "previous"} before its first join: nothing to leave
        // and no one to be yet, so nothing to say (the app answers nothing either).
        if (req.format == WireFormat::sio_woz && !is_authenticated()) {
          if (ack_id) reply(req, ack_id, Reply{});
          return;
        }
        break;
      case Op::join:
        if (req.format == WireFormat::sio_woz) {
          if (!ensure_role(req, ack_id)) return;
        } else {
          if (!is_authenticated() && (req.claimed_user || !claim().id.empty())) {
            User claimed = claim();
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
        } else {
          if (req.event == "send-message") {
            // models/Message.js: content trimmed, required, at most 2000 characters; a message
            // it refuses is a message-error (websocket-server.js:227-233).
            if (auto bad = protocol::radioistic::normalize_content(c.content)) {
              reply(req, ack_id,
                    Reply::make_error(Errc::invalid_argument,
                                      "Message validation failed: content: " + *bad));
              return;
            }
          }
          if (is_authenticated() && !user().avatar.empty()) add_avatar(c);
        }
        break;
      case Op::read:
        if (req.message_id || !req.message_ids.empty()) {
          resolve_and_handle(std::move(req), ack_id);
          return;
        }
        break;
      case Op::typing: {
        // WebWOz's participant_typing comes from a socket that joined as a participant.
        if (req.format == WireFormat::sio_woz && !ensure_role(req, ack_id)) return;
        if (req.recipient) {
          // websocket-server.js:241-250, 263-269: to the recipient's sockets only.
          if (!is_authenticated()) {
            reply(req, ack_id, Reply::make_error(Errc::unauthenticated, "authenticate first"));
            return;
          }
          to_user(*req.recipient, protocol::socketio::radioistic::encode_typing(
                                      c.conversation, user(), c.on));
          if (ack_id) reply(req, ack_id, Reply{});
          return;
        }
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
    req.command.conversation = cmd.conversation;
    if (is_authenticated()) req.actor = user().id;
    const bool radio = req.format == WireFormat::sio_messaging;
    const bool wizard_join = protocol::socketio::webwoz::is_wizard_join(req);
    // Captured here (the user is the strand's); the reply may run on any thread. Only what
    // the reply needs it for (a notification's sender, a join's read mark) pays for the copy.
    const bool needs_me = radio && (req.recipient || cmd.op == Op::join);
    User me = needs_me && is_authenticated() ? user() : User{};
    submit(req.format, std::move(cmd),
           [self = self(), req = std::move(req), ack_id, radio, wizard_join,
            me = std::move(me)](Reply r) {
             self->reply(req, ack_id, r);
             if (wizard_join && r.type == ReplyType::history) {
               self->send_wizard_extras(r.conversation);
             }
             if (!radio) return;
             if (r.type == ReplyType::ack && r.message && !r.duplicate && req.recipient) {
               // websocket-server.js:214-223: the recipient's sockets, joined or not.
               self->to_user(*req.recipient,
                             protocol::socketio::radioistic::encode_notification(*r.message, me));
             }
             if (r.type == ReplyType::history && req.event == "join-conversation" &&
                 r.last_seq > r.read_seq.value_or(0)) {
               // Lines 138-148: joining marks everything in the conversation read.
               self->hub().mark_read(me, r.conversation, r.last_seq, [](Result<Seq>) {});
             }
           });
  }

  // WebWOz: after a wizard's join history, `templates` then `bot_status_changed`, as the
  // app's on_join sends them. The templates are read on the storage writer thread, in order
  // with template changes, and emitted from there: a change committed before this read is
  // in it (and its own broadcast went out before), one committed after is broadcast after.
  void send_wizard_extras(const ConversationId& room) {
    hub().archive().templates([self = self(), room](Result<std::vector<Template>> set) {
      if (!set) {
        spdlog::warn("socket.io session {}: cannot read templates: {}", self->id(),
                     set.error().message());
        return;
      }
      self->emit_text(protocol::socketio::webwoz::encode_templates(*set));
      self->emit_text(protocol::socketio::webwoz::encode_bot_status(room));
    });
  }

  // Delivers `text` to every Socket.IO socket of `user` on this server.
  void to_user(const UserId& user, std::string text) {
    if (text.empty()) return;
    auto frame = std::make_shared<const std::string>(std::move(text));
    for (const auto& s : hub().presence().sessions_of(user)) {
      if (dynamic_cast<ChatSocket*>(s.get())) s->deliver(frame);
    }
  }

  // mark-as-read {messageIds} (or Parley's {messageId}): their seqs in that conversation, the
  // highest of which becomes the read state; the ids travel with the read event.
  void resolve_and_handle(ChatRequest req, AckId ack_id) {
    if (!is_authenticated()) {
      reply(req, ack_id, Reply::make_error(Errc::unauthenticated, "authenticate first"));
      return;
    }
    if (req.message_id) req.message_ids.push_back(*req.message_id);
    struct Found {
      Seq seq = 0;
      bool failed = false;  // a lookup failed for another reason than a missing message
      std::vector<MessageId> ids;
    };
    hub::Archive::Job<Found> job = [conversation = req.command.conversation,
                                    wanted = req.message_ids](const hub::Archive::Stores& c) {
      Found out;
      for (const auto& id : wanted) {
        auto m = c.messages.find_message(id);
        if (!m) {
          out.failed = out.failed || m.error() != Errc::not_found;
          continue;
        }
        if (m->conversation != conversation) continue;
        out.seq = std::max(out.seq, m->seq);
        out.ids.push_back(id);
      }
      return Result<Found>(std::move(out));
    };
    hub().archive().read<Found>(std::move(job), [self = self(), req = std::move(req),
                                                 ack_id](Result<Found> r) mutable {
      const Seq found = r ? r->seq : 0;
      const bool failed = !r || r->failed;
      std::vector<MessageId> ids = r ? std::move(r->ids) : std::vector<MessageId>{};
      auto engine = self->engine_.lock();
      if (!engine) return;  // the session is gone: no one to answer
      asio::post(engine->strand(), [self, req = std::move(req), ack_id, found, failed,
                                 ids = std::move(ids)]() mutable {
        if (found == 0) {
          self->reply(req, ack_id,
                      failed ? Reply::make_error(Errc::unavailable, "storage unavailable")
                             : Reply::make_error(Errc::not_found, "no such message"));
          return;
        }
        req.command.seq = found;
        req.command.message_ids = std::move(ids);
        req.message_id.reset();
        req.message_ids.clear();
        self->handle(std::move(req), ack_id);
      });
    });
  }

  const bool token_at_connect_;
  const Strand strand_;
  std::weak_ptr<EioSocket> engine_;
  // Who the CONNECT payload says the client is; null when it says nothing, and released once
  // the socket is authenticated (nothing reads it then): 144 bytes on every idle socket.
  const User& claim() const noexcept {
    static const User kNobody;
    return claim_ ? *claim_ : kNobody;
  }

  std::string token_;  // from the CONNECT payload or the handshake (?token=, Bearer)
  std::unique_ptr<User> claim_;
  bool subscribed_ = false;
  std::atomic<bool> disconnected_{false};
};

class ChatApp final : public SioApp {
 public:
  ChatApp(hub::Hub& hub, const hub::Authenticator& auth, SocketIoOptions options)
      : hub_(hub),
        auth_(auth),
        options_(std::move(options)),
        client_options_(std::make_shared<const hub::ClientOptions>(
            hub::ClientOptions{options_.limits, options_.rate_per_s, options_.rate_burst})) {}

  std::shared_ptr<SioSocket> connect(SioConnection& connection, std::string_view nsp,
                                     const json::value& auth, std::string& error) override {
    std::shared_ptr<SioSocket> out;
    connect_async(connection, nsp, auth, [&](std::shared_ptr<SioSocket> s, std::string e) {
      out = std::move(s);
      error = std::move(e);
    });
    return out;  // (only the synchronous paths reach here; SioConnection calls connect_async)
  }

  void connect_async(SioConnection& connection, std::string_view nsp, const json::value& auth,
                     ConnectDone done) override {
    if (nsp != "/" || !connection.engine()) {
      done(nullptr, "Invalid namespace");
      return;
    }
    auto socket =
        std::make_shared<ChatSocket>(hub_, auth_, options_, client_options_,
                                     connection.engine()->shared_from_this(),
                                     connection.handshake().remote_address);
    socket->parse(auth, connection.handshake());
    // Room batches over its WebSocket wake the socket once per DeliveryScope (a weak
    // reference: a refused CONNECT leaves nothing behind).
    connection.engine()->set_scope_session(socket);
    if (auth_.requires_token() && !socket->token().empty()) {
      std::string why;
      auto identity = auth_.identify(hub::AuthRequest{socket->token(), {}, {}}, why);
      if (!identity) {
        // websocket-server.js:58-62 answers every verification failure the same way.
        spdlog::info("socket.io: authentication refused: {}", why);
        done(nullptr, "Authentication failed");
        return;
      }
      if (identity->user.name.empty() || identity->user.avatar.empty()) {
        // A token without a name (radio-istic signs only { id }): the user's stored name and
        // avatar, as the app's server reads its user from the database (lines 41-56).
        hub_.archive().user(identity->user.id, [socket, strand = connection.engine()->strand(),
                                                 done = std::move(done)](
                                                    Result<User> known) mutable {
          User user = known ? std::move(*known) : User{};
          asio::post(strand, [socket, user = std::move(user), done = std::move(done)]() mutable {
            std::string refused;
            if (!socket->connect(refused, user)) {
              done(nullptr, "Authentication failed");
              return;
            }
            done(socket, {});
          });
        });
        return;
      }
    }
    std::string why;
    if (!socket->connect(why)) {
      done(nullptr, why.empty() ? std::string("unauthorized") : why);
      return;
    }
    done(socket, {});
  }

 private:
  hub::Hub& hub_;
  const hub::Authenticator& auth_;
  const SocketIoOptions options_;
  const std::shared_ptr<const hub::ClientOptions> client_options_;  // shared by every socket
};

}  // namespace

SocketIoEndpoint::SocketIoEndpoint(asio::io_context::executor_type executor, hub::Hub& hub,
                                   const hub::Authenticator& auth, NetStats& stats,
                                   SocketIoOptions options)
    : engine_(std::move(executor),
              socketio_handlers(std::make_shared<ChatApp>(hub, auth, options),
                                options.engine.connect_timeout),
              options.engine, &stats) {}

void SocketIoEndpoint::emit_to_all(std::string_view event, std::string_view arg_json) {
  boost::system::error_code ec;
  json::value arg = json::parse(arg_json, ec);
  if (ec) return;
  json::array args;
  args.emplace_back(event);
  args.emplace_back(std::move(arg));
  engine_.post_to_all(
      std::make_shared<const std::string>(protocol::socketio::encode_event("/", args)));
}

}  // namespace parley::net::engineio
