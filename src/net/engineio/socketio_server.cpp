#include "net/engineio/socketio_server.hpp"

#include <boost/json/object.hpp>

#include "core/log.hpp"

namespace parley::net::engineio {

namespace asio = boost::asio;
namespace json = boost::json;

SioConnection::SioConnection(std::shared_ptr<SioApp> app, HandshakeInfo info,
                             std::chrono::milliseconds connect_timeout)
    : app_(std::move(app)), info_(std::move(info)), connect_timeout_(connect_timeout) {}

SioConnection::~SioConnection() = default;

void SioConnection::on_open(EioSocket& socket) {
  engine_ = &socket;
  // A client that joins no namespace in time is closed (Socket.IO's connectTimeout). The
  // timer dies with this handler, which outlives the session's open state.
  connect_timer_ = std::make_unique<StrandTimer>(socket.strand(), connect_timeout_);
  connect_timer_->async_wait([this, weak = socket.weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto s = weak.lock();
    if (!s || !s->is_open()) return;
    if (namespaces_.empty()) s->close("connect timeout");
  });
}

void SioConnection::on_close(EioSocket& /*socket*/, std::string_view reason) {
  connect_timer_.reset();  // its wait completes with operation_aborted
  auto namespaces = std::move(namespaces_);
  namespaces_.clear();
  for (auto& [nsp, s] : namespaces) s->on_disconnect(reason);
  engine_ = nullptr;
}

void SioConnection::close(std::string_view reason) {
  if (engine_) engine_->close(reason);
}

void SioConnection::fail(std::string_view why) {
  spdlog::debug("socket.io {}: {}", engine_ ? engine_->sid() : std::string(), why);
  close("parse error");
}

void SioConnection::on_message(EioSocket& /*socket*/, std::string data, bool binary) {
  if (binary) {
    if (!pending_binary_) return fail("unexpected binary attachment");
    pending_binary_->attachments.push_back(std::move(data));
    if (pending_binary_->is_complete()) {
      sio::Packet p = std::move(*std::exchange(pending_binary_, nullptr));
      dispatch(std::move(p));
    }
    return;
  }
  if (pending_binary_) return fail("text packet while waiting for binary attachments");
  std::string why;
  auto packet = sio::decode(data, why);
  if (!packet) return fail(why);
  if (packet->is_binary() && !packet->is_complete()) {
    pending_binary_ = std::make_unique<sio::Packet>(std::move(*packet));
    return;
  }
  dispatch(std::move(*packet));
}

void SioConnection::dispatch(sio::Packet p) {
  switch (p.type) {
    case sio::PacketType::connect: {
      const json::value auth = p.has_data ? p.data : json::value(nullptr);
      if (!engine_) return;
      // The handler lives as long as its session: a live session means a live `this`.
      app_->connect_async(*this, p.nsp, auth,
                          [this, weak = engine_->weak_from_this(), nsp = p.nsp](
                              std::shared_ptr<SioSocket> socket, std::string error) {
                            auto engine = weak.lock();
                            if (!engine || engine.get() != engine_ || !engine_->is_open()) {
                              if (socket) socket->on_disconnect("transport close");
                              return;
                            }
                            connected(nsp, std::move(socket), error);
                          });
      return;
    }
    case sio::PacketType::disconnect: {
      auto it = namespaces_.find(p.nsp);
      if (it == namespaces_.end()) return;
      auto socket = std::move(it->second);
      namespaces_.erase(it);
      socket->on_disconnect("client namespace disconnect");
      return;
    }
    case sio::PacketType::event:
    case sio::PacketType::binary_event: {
      auto it = namespaces_.find(p.nsp);
      if (it == namespaces_.end()) return;  // not connected there: dropped, as Socket.IO does
      auto socket = it->second;             // the handler may disconnect itself
      socket->on_event(std::move(p.data.as_array()), p.id, std::move(p.attachments));
      return;
    }
    case sio::PacketType::ack:
    case sio::PacketType::binary_ack:
      return;  // this server never asks the client for acknowledgements
    case sio::PacketType::connect_error:
      return fail("CONNECT_ERROR from a client");
  }
}

void SioConnection::connected(const std::string& nsp, std::shared_ptr<SioSocket> socket,
                              std::string_view error) {
  if (!socket) {
    engine_->send_message(std::make_shared<const std::string>(sio::encode_connect_error(nsp, error)));
    return;
  }
  json::object reply;
  reply.emplace("sid", random_id());
  engine_->send_message(std::make_shared<const std::string>(sio::encode_connect(nsp, reply)));
  connect_timer_.reset();  // connected: the timeout no longer applies
  auto& slot = namespaces_[nsp];
  if (slot) slot->on_disconnect("client namespace reconnect");
  slot = socket;
  socket->on_connected();
}

void SioConnection::send_packet(const sio::Packet& packet) {
  if (!engine_) return;
  engine_->send_message(std::make_shared<const std::string>(sio::encode(packet)));
  for (const auto& a : packet.attachments) {
    engine_->send_message(std::make_shared<const std::string>(a), true);
  }
}

void SioConnection::emit(std::string_view nsp, const json::array& args,
                         std::vector<std::string> attachments) {
  sio::Packet p;
  p.type = attachments.empty() ? sio::PacketType::event : sio::PacketType::binary_event;
  p.nsp.assign(nsp);
  p.has_data = true;
  p.data = args;
  p.attachments = std::move(attachments);
  send_packet(p);
}

void SioConnection::ack(std::string_view nsp, std::uint64_t id, const json::array& args,
                        std::vector<std::string> attachments) {
  sio::Packet p;
  p.type = attachments.empty() ? sio::PacketType::ack : sio::PacketType::binary_ack;
  p.nsp.assign(nsp);
  p.id = id;
  p.has_data = true;
  p.data = args;
  p.attachments = std::move(attachments);
  send_packet(p);
}

HandlerFactory socketio_handlers(std::shared_ptr<SioApp> app,
                                 std::chrono::milliseconds connect_timeout) {
  return [app = std::move(app), connect_timeout](const HandshakeInfo& info) {
    return std::make_unique<SioConnection>(app, info, connect_timeout);
  };
}

}  // namespace parley::net::engineio
