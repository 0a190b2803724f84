// Process-wide resources.
#pragma once

#include <cstddef>

namespace parley {

// Raises the soft limit on open files to the hard limit (which an unprivileged process cannot
// raise) and returns the limit now in force; 0 when it cannot be read.
std::size_t raise_fd_limit();

}  // namespace parley
