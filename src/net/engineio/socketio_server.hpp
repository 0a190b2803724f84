// The Socket.IO v5 layer over one Engine.IO session: namespaces (CONNECT / CONNECT_ERROR /
// DISCONNECT), events and acknowledgements, and the reassembly of binary packets from their
// attachments. What a namespace does comes from a SioApp: the Parley chat (socketio_endpoint.cpp) or
// the reference behaviour of the compliance suite (test_apps.hpp).
//
// Threads: a SioConnection is the EioHandler of its session and runs on the session's
// strand; so do the SioSockets it creates. Owned by its EioSocket; SioSockets are owned by
// their SioConnection (and, for the chat, by the hub's rooms too).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/engineio/engineio_socket.hpp"
#include "protocol/socketio/socketio_packet.hpp"

namespace parley::net::engineio {

namespace sio = protocol::socketio;

// One client's connection to one namespace.
class SioSocket {
 public:
  virtual ~SioSocket() = default;
  // CONNECT was answered: the socket may emit.
  virtual void on_connected() {}
  // An EVENT (args[0] is its name). `ack_id` set: the client waits for an acknowledgement.
  // `attachments`: the binary attachments of a BINARY_EVENT (placeholders stay in args).
  virtual void on_event(boost::json::array args, std::optional<std::uint64_t> ack_id,
                        std::vector<std::string> attachments) = 0;
  // The client left the namespace, or the connection closed. Called once.
  virtual void on_disconnect(std::string_view reason) = 0;
};

class SioConnection;

// The namespaces a server offers.
class SioApp {
 public:
  virtual ~SioApp() = default;
  // Opens `nsp` for a client whose CONNECT carried `auth` (null when it carried none).
  // Returns null with `error` set to refuse it (CONNECT_ERROR {"message": error}).
  virtual std::shared_ptr<SioSocket> connect(SioConnection& connection, std::string_view nsp,
                                             const boost::json::value& auth,
                                             std::string& error) = 0;
  // The same, for an app that must look something up first (radio-istic's user, in storage):
  // `done(socket, error)` runs once, on the session's strand. The CONNECT is answered then;
  // the client sends nothing on that namespace before it is. Default: connect(), at once.
  using ConnectDone = std::function<void(std::shared_ptr<SioSocket> socket, std::string error)>;
  virtual void connect_async(SioConnection& connection, std::string_view nsp,
                             const boost::json::value& auth, ConnectDone done) {
    std::string error;
    auto socket = connect(connection, nsp, auth, error);
    done(std::move(socket), std::move(error));
  }
};

class SioConnection final : public EioHandler {
 public:
  SioConnection(std::shared_ptr<SioApp> app, HandshakeInfo info,
                std::chrono::milliseconds connect_timeout);
  ~SioConnection() override;

  void on_open(EioSocket& socket) override;
  void on_message(EioSocket& socket, std::string data, bool binary) override;
  void on_close(EioSocket& socket, std::string_view reason) override;

  // --- For SioApps and their sockets; Requires: on the session's strand ----------------
  const HandshakeInfo& handshake() const noexcept { return info_; }
  // The session; null before on_open.
  EioSocket* engine() const noexcept { return engine_; }
  // Sends EVENT [args...] (BINARY_EVENT when there are attachments) on `nsp`.
  void emit(std::string_view nsp, const boost::json::array& args,
            std::vector<std::string> attachments = {});
  // Sends ACK `id` [args...] (BINARY_ACK when there are attachments) on `nsp`.
  void ack(std::string_view nsp, std::uint64_t id, const boost::json::array& args,
           std::vector<std::string> attachments = {});
  // Closes the whole connection.
  void close(std::string_view reason);

 private:
  void send_packet(const sio::Packet& packet);
  // Answers a CONNECT to `nsp` once the app decided.
  void connected(const std::string& nsp, std::shared_ptr<SioSocket> socket, std::string_view error);
  void dispatch(sio::Packet packet);
  void fail(std::string_view why);

  std::shared_ptr<SioApp> app_;
  HandshakeInfo info_;
  std::chrono::milliseconds connect_timeout_;
  EioSocket* engine_ = nullptr;
  // Until the first namespace is joined (Socket.IO clears its connectTimeout then too); an
  // idle connection keeps neither the timer nor its pending wait (about 600 bytes).
  std::unique_ptr<StrandTimer> connect_timer_;
  std::map<std::string, std::shared_ptr<SioSocket>, std::less<>> namespaces_;
  std::unique_ptr<sio::Packet> pending_binary_;  // waiting for its attachments
};

// Engine.IO handlers running Socket.IO with `app`.
HandlerFactory socketio_handlers(std::shared_ptr<SioApp> app,
                                 std::chrono::milliseconds connect_timeout);

}  // namespace parley::net::engineio
