// Logging: spdlog with one line per notable event. Logs carry ids and sizes, never message
// content or tokens (seed 004: "no conversation data in application logs").
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace parley {

// Sets the global level from "trace|debug|info|warn|error|off"; false if unknown.
bool set_log_level(std::string_view level);

}  // namespace parley
