// The reference behaviours the public protocol compliance suites expect of the server they
// test (socketio/engine.io-protocol and socketio/socket.io-protocol, test-suite/), run on
// the product's own Engine.IO and Socket.IO code by `parley protocol-test-server`.
// Threads: as every EioHandler / SioApp, on the session's strand.
#pragma once

#include <memory>

#include "net/engineio/engineio_socket.hpp"
#include "net/engineio/socketio_server.hpp"

namespace parley::net::engineio {

// Engine.IO: every message packet is sent back as it came (text or binary).
HandlerFactory echo_handlers();

// Socket.IO: namespaces "/" and "/custom"; on connect emits `auth` with the CONNECT payload;
// `message` -> `message-back` with the same arguments; `message-with-ack` -> acknowledged
// with the same arguments (binary attachments included).
std::shared_ptr<SioApp> compliance_app();

}  // namespace parley::net::engineio
