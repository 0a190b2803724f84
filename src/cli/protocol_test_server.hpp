// `parley protocol-test-server`: the reference server of the public Engine.IO and Socket.IO
// protocol compliance suites, built from the product's own transport and codec code.
#pragma once

namespace parley::cli {

// Serves /engine.io/ (echo) and /socket.io/ (the suite's reference app) on 127.0.0.1 and
// ::1 at `port` until SIGINT/SIGTERM. Returns the process exit code.
int run_protocol_test_server(int port);

}  // namespace parley::cli
