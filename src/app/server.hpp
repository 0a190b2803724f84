// The composition root: opens storage, builds the hub and the endpoints, listens, and runs
// until SIGINT/SIGTERM. Shutdown stops accepting, closes sessions with 1001, lets the
// writer commit what is queued, and returns 0: nothing acknowledged is lost.
#pragma once

#include "app/config.hpp"

namespace parley::app {

// Runs the server in the calling thread (plus Config::threads I/O threads). Returns the
// process exit code.
int run_server(const Config& config);

}  // namespace parley::app
