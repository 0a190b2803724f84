#include "net/engineio/test_apps.hpp"

#include <boost/json/object.hpp>

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

class ComplianceSocket final : public SioSocket {
 public:
  ComplianceSocket(SioConnection& connection, std::string nsp, json::value auth)
      : connection_(connection), nsp_(std::move(nsp)), auth_(std::move(auth)) {}

  void on_connected() override {
    json::array args;
    args.emplace_back("auth");
    args.emplace_back(auth_.is_null() ? json::value(json::object()) : auth_);
    connection_.emit(nsp_, args);
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

  void on_disconnect(std::string_view /*reason*/) override {}

 private:
  SioConnection& connection_;  // owns this socket
  std::string nsp_;
  json::value auth_;
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
