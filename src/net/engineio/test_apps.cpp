#include "net/engineio/test_apps.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>

namespace parley::net::engineio {

namespace json = boost::json;

namespace {

class EchoHandler final : public EioHandler {
 public:
  void on_open(EioSocket& /*socket*/) override {}
  void on_message(EioSocket& socket, std::string data, bool binary) override {
    socket.send_message(std::make_shared<const std::string>(std::move(data)), binary);
  }
  void on_close(EioSocket& /*socket*/, std::string_view /*reason*/) override {}
};

class ComplianceSocket final : public SioSocket,
                               public std::enable_shared_from_this<ComplianceSocket> {
 public:
  ComplianceSocket(SioConnection& connection, std::string nsp, json::value auth)
      : connection_(connection),
        nsp_(std::move(nsp)),
        auth_(std::move(auth)),
        timer_(connection.engine()->strand()) {}

  void on_connected() override {
    // The suite reads the CONNECT reply and the `auth` event with two successive awaits, so
    // they must reach it in two TCP reads: a few milliseconds apart, as Node's server sends
    // them (its write callback comes on a later loop turn).
    timer_.expires_after(std::chrono::milliseconds(5));
    timer_.async_wait(boost::asio::bind_executor(
        connection_.engine()->strand(), [self = shared_from_this()](boost::system::error_code ec) {
          if (ec || self->gone_) return;
          json::array args;
          args.emplace_back("auth");
          args.emplace_back(self->auth_.is_null() ? json::value(json::object()) : self->auth_);
          self->connection_.emit(self->nsp_, args);
        }));
  }

  void on_event(json::array args, std::optional<std::uint64_t> ack_id,
                std::vector<std::string> attachments) override {
    if (args.empty() || !args[0].is_string()) return;
    const std::string name(args[0].get_string());
    if (name == "message") {
      args[0] = "message-back";
      connection_.emit(nsp_, args, std::move(attachments));
    } else if (name == "message-with-ack" && ack_id) {
      args.erase(args.begin());
      connection_.ack(nsp_, *ack_id, args, std::move(attachments));
    }
  }

  void on_disconnect(std::string_view /*reason*/) override {
    gone_ = true;
    timer_.cancel();
  }

 private:
  SioConnection& connection_;  // owns this socket; valid until on_disconnect
  std::string nsp_;
  json::value auth_;
  boost::asio::steady_timer timer_;
  bool gone_ = false;
};

class ComplianceApp final : public SioApp {
 public:
  std::shared_ptr<SioSocket> connect(SioConnection& connection, std::string_view nsp,
                                     const json::value& auth, std::string& error) override {
    if (nsp != "/" && nsp != "/custom") {
      error = "Invalid namespace";
      return nullptr;
    }
    return std::make_shared<ComplianceSocket>(connection, std::string(nsp), auth);
  }
};

}  // namespace

HandlerFactory echo_handlers() {
  return [](const HandshakeInfo&) { return std::make_unique<EchoHandler>(); };
}

std::shared_ptr<SioApp> compliance_app() { return std::make_shared<ComplianceApp>(); }

}  // namespace parley::net::engineio
